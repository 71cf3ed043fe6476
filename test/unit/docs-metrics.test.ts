// docs/metrics.md describes exactly the metrics `netbird-watchdog run` exports: every metric the daemon
// registers (the watcher's and the self-healing ones, as src/daemon.ts starts them) is in a table row
// with its type and its labels, every label value the code pre-initialises is named, every
// netbird_watchdog_* name the page mentions exists, and prom-client's default process metrics are
// covered by one line. A metric added without docs fails here. The daemon itself is started once
// (engine unreachable, nothing scheduled) to prove it registers nothing beyond those.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Writable } from 'node:stream'
import { Registry } from 'prom-client'
import { configSchema } from '../../src/config/schema.js'
import { modes } from '../../src/core/mode.js'
import { skipReasons } from '../../src/core/heal-decision.js'
import { probeFailureReasons } from '../../src/core/sso-probe.js'
import { evidenceKinds } from '../../src/core/recovery.js'
import { startDaemon } from '../../src/daemon.js'
import { checkNames, createHealMetrics, jobNames, repairResults } from '../../src/heal/metrics.js'
import { createSsoMetrics } from '../../src/heal/sso-metrics.js'
import { createStoreWatchMetrics } from '../../src/heal/store-watch.js'
import { createLogger } from '../../src/log.js'
import { createWatchMetrics, healthStatuses } from '../../src/metrics.js'

const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8')
const prefix = 'netbird_watchdog_'

interface Family {
  readonly name: string
  readonly type: string
  readonly labels: readonly string[]
}

function families(registry: Registry): Family[] {
  return registry.getMetricsAsArray().map((m) => ({
    name: m.name,
    type: String(m.type),
    labels: [...((m as unknown as { labelNames?: readonly string[] }).labelNames ?? [])].sort(),
  }))
}

/** The registries as src/daemon.ts builds them. */
function daemonRegistries(): Family[] {
  const registry = new Registry()
  createWatchMetrics(registry, { version: 'test' })
  createHealMetrics(registry, 'repair')
  createSsoMetrics(registry, () => [])
  createStoreWatchMetrics(registry, () => undefined)
  return families(registry)
}

/** Rows of the metric tables: name, type cell, the label names in the labels cell. */
function documentedRows(): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>()
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`(netbird_watchdog_[a-z0-9_]+)`\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|/.exec(
      line,
    )
    if (m === null) continue
    assert.ok(!rows.has(m[1]!), `${m[1]} has one row`)
    const labels = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!).sort()
    rows.set(m[1]!, { type: m[2]!, labels })
  }
  return rows
}

test('every netbird_watchdog_* metric is documented with its type and labels', () => {
  const rows = documentedRows()
  const ours = daemonRegistries().filter((f) => f.name.startsWith(prefix))
  assert.ok(ours.length > 25, `only ${ours.length} metrics registered`)
  const missing = ours.filter((f) => !rows.has(f.name)).map((f) => f.name)
  assert.deepEqual(missing, [], 'metrics missing from docs/metrics.md')
  for (const f of ours) {
    const row = rows.get(f.name)!
    assert.equal(row.type, f.type, `${f.name}: type`)
    assert.deepEqual(row.labels, f.labels, `${f.name}: labels`)
  }
})

test('every netbird_watchdog_* name in the doc exists', () => {
  const names = new Set(daemonRegistries().map((f) => f.name))
  const mentioned = new Set([...doc.matchAll(/netbird_watchdog_[a-z0-9_]+/g)].map((m) => m[0]))
  assert.deepEqual(
    [...mentioned].filter((n) => !names.has(n)),
    [],
    'names in docs/metrics.md that no registry has',
  )
})

test("prom-client's default metrics are process_* and nodejs_*, covered by one line", () => {
  const others = daemonRegistries().filter((f) => !f.name.startsWith(prefix))
  assert.ok(others.length > 0, 'the default metrics are collected')
  assert.deepEqual(
    others.filter((f) => !/^(process|nodejs)_/.test(f.name)).map((f) => f.name),
    [],
  )
  assert.match(doc, /`process_\*` and `nodejs_\*`/)
})

test('every label value the code pre-initialises is named in the doc', () => {
  const values = [
    ...repairResults,
    ...skipReasons,
    ...checkNames,
    ...jobNames,
    ...healthStatuses,
    ...modes,
    ...probeFailureReasons,
    ...evidenceKinds,
  ]
  assert.deepEqual(
    values.filter((v) => !doc.includes(`\`${v}\``)),
    [],
    'label values missing from docs/metrics.md',
  )
})

test('the daemon registers exactly these metrics (nothing else on its registry)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-docs-metrics-'))
  const sink = new Writable({ write: (_chunk, _enc, cb) => cb() })
  const daemon = await startDaemon({
    config: configSchema().parse({
      mode: 'observe',
      targets: { autoDetect: false, names: ['netbird-management'] },
      idp: { dbPath: join(dir, 'idp.db') },
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: '127.0.0.1:0' },
    }),
    secrets: {},
    // An engine address where nothing listens: the daemon starts and waits for it.
    env: { DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}` },
    logger: createLogger({ level: 'silent' }, sink),
    version: 'test',
  })
  try {
    const byName = (a: Family, b: Family): number => a.name.localeCompare(b.name)
    assert.deepEqual(families(daemon.registry).sort(byName), daemonRegistries().sort(byName))
  } finally {
    await daemon.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})
