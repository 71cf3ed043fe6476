// The golden exposition (node_exporter's e2e fixture, in-process): the daemon runs a scripted scenario
// and its /metrics text must equal test/fixtures/metrics-golden.prom, which pins every
// netbird_watchdog_* family's `# HELP` and `# TYPE` line and every series' name, label set and value.
// A metric renamed, re-worded, relabelled or added fails here until the golden file is regenerated
// (NBW_UPDATE_GOLDEN=1, CONTRIBUTING.md) and the diff reviewed with the change.
//
// The scenario, all on 127.0.0.1 and without a Docker engine (DOCKER_HOST names a socket nothing
// listens on): a named target never found; an idp.db built by Dex's migrations holding one OIDC
// connector stored without the trailing slash its real provider (oidc-provider) returns; the SSO login
// probe pointed at a port nothing listens on; then the backup, integrity and doctor jobs run once each.
// Only last_finding_timestamp_seconds has no series here (a line read from the engine makes its first;
// docs-metrics.test.ts pins its labels, test/engine/docker-watch.test.ts its values).
//
// Normalised before the comparison: prom-client's default process_* and nodejs_* families are left out
// (their set depends on the platform and the Node version; docs-metrics.test.ts covers them); the
// values of the families in `varying` read <varies>; series are sorted within their family and labels
// within their series (prom-client's order is insertion order, which says nothing).
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { configSchema } from '../../src/config/schema.js'
import { startDaemon } from '../../src/daemon.js'
import { createLogger } from '../../src/log.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import { closedPort, startOidcPeer } from '../helpers/oidc-peers.js'
import { waitFor } from '../helpers/wait.js'
import { defer } from '../helpers/cleanup.js'

const goldenPath = fileURLToPath(new URL('../fixtures/metrics-golden.prom', import.meta.url))
const regenerate = 'NBW_UPDATE_GOLDEN=1 node --import tsx --test test/unit/metrics-golden.test.ts'
const prefix = 'netbird_watchdog_'
const container = 'netbird-management'
const connector = 'jumpcloud'

/** Families whose values depend on the clock or the machine, and why: their series stay pinned. */
const varying = new Map<string, string>([
  [`${prefix}check_duration_seconds`, 'how long each check took'],
  [`${prefix}sso_probe_duration_seconds`, 'how long the probe took'],
  [`${prefix}last_backup_timestamp_seconds`, 'when the backup was taken'],
  [`${prefix}last_backup_size_bytes`, "the copy's SQLite page layout"],
])

const header = [
  '# The /metrics text of the scripted scenario in test/unit/metrics-golden.test.ts.',
  `# Regenerate: ${regenerate}`,
  '# Values that depend on the clock or the machine read <varies>.',
]

const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const labelRe = /[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g

/** The exposition as the golden file holds it (see the header of this file). */
function normalise(text: string): string {
  const out = [...header]
  let keep = false
  let family = ''
  let series: string[] = []
  const flush = (): void => {
    out.push(...series.sort())
    series = []
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+)/.exec(line)
    if (meta !== null) {
      if (meta[1] === 'HELP') {
        flush()
        family = meta[2]!
        keep = family.startsWith(prefix)
      }
      if (keep) out.push(line)
      continue
    }
    const m = sampleRe.exec(line)
    assert.ok(m !== null, `an exposition line: ${line}`)
    if (!keep) continue
    const labels = [...(m[2] ?? '').matchAll(labelRe)].map((l) => l[0]).sort()
    const value = varying.has(family) ? '<varies>' : m[3]!
    series.push(`${m[1]!}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${value}`)
  }
  flush()
  return `${out.join('\n')}\n`
}

test('the /metrics text of a scripted scenario equals test/fixtures/metrics-golden.prom', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-golden-'))
  // Released last first (node:test runs `after` hooks in the order they were added).
  const release: Array<() => unknown> = [() => rmSync(dir, { recursive: true, force: true })]
  defer(t, async () => {
    for (const r of release.reverse()) await r()
  })
  // The JumpCloud case: stored without the trailing slash the provider's discovery returns.
  const provider = await startOidcPeer({ path: '/' })
  release.push(() => provider.close())
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, { connectors: oidcConnectors([{ id: connector, issuer: provider.origin }]) })
  const noDex = await closedPort()
  const daemon = await startDaemon({
    config: configSchema().parse({
      mode: 'repair',
      targets: { autoDetect: false, names: [container] },
      idp: { dbPath },
      backups: { dir: join(dir, 'backups') },
      oidc: { allowInsecure: true, timeoutMs: 5000 },
      // The jobs run below, once each, through the scheduler's own guard; no cron tick fires.
      schedules: { doctor: '', backup: '', integrity: '' },
      // One round, at start; the next would come an hour later.
      sso: { url: `${noDex}/oauth2`, probeSeconds: 3600, timeoutMs: 5000 },
      metrics: { address: '127.0.0.1:0' },
    }),
    secrets: {},
    env: { DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}` },
    logger: createLogger({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
    version: 'test',
  })
  release.push(() => daemon.stop())
  const scrape = async (): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${daemon.address.port}/metrics`)
    assert.equal(res.status, 200)
    return res.text()
  }

  // The probe's round at start: Dex does not answer.
  await waitFor('the SSO login probe round at start', async () => {
    const failures = valueOf(parseMetrics(await scrape()), `${prefix}sso_probe_failures_total`, {
      container,
      connector,
      reason: 'netbird_unreachable',
    })
    return failures === 1
  })
  const { scheduler, storeWatch } = daemon.selfHealing
  assert.equal(await scheduler.runNow('backup'), true)
  assert.equal(await scheduler.runNow('integrity'), true)
  // The doctor finds the issuer mismatch; the drift check has no target to repair (no engine).
  assert.equal(await scheduler.runNow('doctor'), true)
  // The start-up comparison with the last kept backup, if it is still under way.
  await storeWatch.idle()

  const actual = normalise(await scrape())
  if (process.env.NBW_UPDATE_GOLDEN === '1') {
    writeFileSync(goldenPath, actual)
    t.diagnostic(`wrote ${goldenPath}`)
    return
  }
  let golden: string
  try {
    golden = readFileSync(goldenPath, 'utf8')
  } catch (err) {
    throw new Error(`the golden file is missing; create it with ${regenerate}`, { cause: err })
  }
  if (actual === golden) return
  assert.fail(
    `the exposition differs from test/fixtures/metrics-golden.prom (- golden, + now):\n${lineDiff(golden, actual)}\nIf the change is meant, regenerate it (${regenerate}) and review the diff.`,
  )
})

/** The lines only one side has (the order of the others aside). */
function lineDiff(golden: string, actual: string): string {
  const was = golden.split('\n')
  const now = actual.split('\n')
  const lines = [
    ...was.filter((l) => !now.includes(l)).map((l) => `- ${l}`),
    ...now.filter((l) => !was.includes(l)).map((l) => `+ ${l}`),
  ]
  return lines.length > 0 ? lines.join('\n') : '(the same lines, in another order)'
}
