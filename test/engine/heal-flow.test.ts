// The healer against real peers: the real Docker engine running the simulated NetBird management
// (test/fixtures/fake-netbird) under `--restart unless-stopped`, a real oidc-provider on 127.0.0.1, a real
// idp.db. Drives the scheduled drift check (the path that needs no log watcher); the finding path is
// covered end to end by test/engine/e2e-selfheal.test.ts through `netbird-watchdog run`.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import type { Config } from '../../src/config/schema.js'
import type { SelfHealing } from '../../src/heal/self-heal.js'
import { createLogger } from '../../src/log.js'
import { listBackups } from '../../src/store/backup-files.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { startDexWriter } from '../helpers/store.js'
import Database from 'better-sqlite3'
import { containerLogs, docker, nodeImage, requireDocker, waitFor } from '../helpers/docker.js'
import {
  metricValue,
  removeTestContainers,
  runFakeNetbird,
  startIssuerPeer,
  startTestSelfHealing,
} from '../helpers/selfheal.js'
import { printRecordsIfFailed, recordSink, type LogRecord } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

const until = (pred: () => boolean | Promise<boolean>, what: string, ms = 60_000) =>
  waitFor(what, pred, ms)

const jc = 'd1c9q2ll0fgs73cunqsg'

interface Rig {
  dir: string
  dbPath: string
  container: string
  heal: SelfHealing
  registry: Registry
  originalSha: string
}

async function rig(
  t: import('node:test').TestContext,
  opts: {
    variant: 'fatal' | 'erro'
    mode?: Config['mode']
    confirmSeconds?: number
    storedIssuer: string
    extraConnectors?: Array<{ id: string; issuer: string }>
    now?: () => number
  },
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-heal-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: oidcConnectors([
      { id: jc, issuer: opts.storedIssuer },
      ...(opts.extraConnectors ?? []),
    ]),
  })
  const container = `nbw-heal-${opts.variant}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  defer(t, () => removeTestContainers([container]))
  const registry = new Registry()
  const heal = startTestSelfHealing(t, {
    dbPath,
    dir,
    registry,
    logger: testLogger(t),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    config: {
      mode: opts.mode ?? 'repair',
      targets: { names: [container], autoDetect: false },
      repair: {
        confirmSeconds: opts.confirmSeconds ?? 2,
        restartBackoffSeconds: 0,
        stopTimeoutSeconds: 2,
      },
    },
  })
  await runFakeNetbird({ name: container, store: { dataDir: dir }, variant: opts.variant })
  return { dir, dbPath, container, heal, registry, originalSha: sha(dbPath) }
}

/** The healer's records are kept, and printed if the test fails: what it decided, and when. */
function testLogger(t: import('node:test').TestContext): ReturnType<typeof createLogger> {
  const records: LogRecord[] = []
  printRecordsIfFailed(t, records)
  return createLogger({ level: 'debug' }, recordSink(records))
}

function countRows(db: string): number {
  const h = new Database(db, { readonly: true })
  try {
    return (h.prepare('select count(*) n from refresh_token').get() as { n: number }).n
  } finally {
    h.close()
  }
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function issuerOf(dbPath: string, id = jc): string | undefined {
  const row = readConnectors(dbPath).find((r) => r.id === id)
  return row && connectorIssuer(row)
}

async function state(container: string): Promise<string> {
  return (await docker(['inspect', '-f', '{{.State.Status}}', container])).trim()
}

test('heal flow on the real engine', async (t) => {
  await requireDocker([nodeImage])

  await t.test(
    'crash loop (≤ v0.65.1): drift check repairs, Docker restarts it, it stays up',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      const r = await rig(t, { variant: 'fatal', storedIssuer: peer.origin })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('FATL'),
        'first crash',
      )
      assert.equal(await r.heal.scheduler.runNow('doctor'), true)
      await r.heal.healer.idle()
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_total', {
          container: r.container,
          result: 'success',
        }),
        1,
      )
      assert.equal(issuerOf(r.dbPath), `${peer.origin}/`)
      assert.equal(await state(r.container), 'running')
      const [backup] = listBackups(join(r.dir, 'backups'))
      assert.ok(backup)
      assert.equal(issuerOf(backup.path), peer.origin, 'the backup holds the original issuer')
      assert.equal(await metricValue(r.registry, 'netbird_watchdog_backups_total'), 1)
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_check_success', { check: 'issuer-drift' }),
        0,
      )
    },
  )

  await t.test('dry-run changes nothing and says what it would do', async (t) => {
    const peer = await startIssuerPeer(t, { trailingSlash: true })
    const r = await rig(t, { variant: 'erro', mode: 'dry-run', storedIssuer: peer.origin })
    await until(
      async () => (await containerLogs(r.container)).toString('utf8').includes('ERRO'),
      'ERRO line',
    )
    const started = (await docker(['inspect', '-f', '{{.State.StartedAt}}', r.container])).trim()
    await r.heal.scheduler.runNow('doctor')
    await r.heal.healer.idle()
    assert.equal(sha(r.dbPath), r.originalSha, 'idp.db byte-identical')
    assert.deepEqual(listBackups(join(r.dir, 'backups')), [])
    assert.equal(
      (await docker(['inspect', '-f', '{{.State.StartedAt}}', r.container])).trim(),
      started,
      'not restarted',
    )
    assert.equal(
      await metricValue(r.registry, 'netbird_watchdog_repairs_skipped_total', {
        container: r.container,
        reason: 'dry_run',
      }),
      1,
    )
  })

  await t.test(
    'a provider that changes its issuer twice trips the breaker; POST /reset re-arms it',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      const r = await rig(t, { variant: 'erro', storedIssuer: peer.origin })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('ERRO'),
        'ERRO line',
      )
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      assert.equal(issuerOf(r.dbPath), `${peer.origin}/`)
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_total', {
          container: r.container,
          result: 'success',
        }),
        1,
      )
      peer.setTrailingSlash(false) // the provider changes its issuer again
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      assert.equal(issuerOf(r.dbPath), `${peer.origin}/`, 'not repaired a second time')
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_breaker_open', { container: r.container }),
        1,
      )
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_skipped_total', {
          container: r.container,
          reason: 'breaker_open',
        }),
        1,
      )
      assert.deepEqual(r.heal.healer.reset(), [r.container])
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_breaker_open', { container: r.container }),
        0,
      )
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      assert.equal(issuerOf(r.dbPath), peer.origin)
    },
  )

  await t.test(
    'an open breaker closes by itself when its cooldown ends: breaker_open reads 0 with no event',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      let ahead = 0 // how far the healer's clock runs ahead of the wall clock
      const r = await rig(t, {
        variant: 'erro',
        storedIssuer: peer.origin,
        now: () => Date.now() + ahead,
      })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('ERRO'),
        'ERRO line',
      )
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      peer.setTrailingSlash(false)
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      const open = (): Promise<number | undefined> =>
        metricValue(r.registry, 'netbird_watchdog_breaker_open', { container: r.container })
      assert.equal(await open(), 1)
      // The default cooldown is 24 h; a minute past it, nothing else has happened to the target.
      ahead = (24 * 3600 + 60) * 1000
      assert.equal(await open(), 0, 'the scrape reads the breaker as of now')
      assert.deepEqual(
        r.heal.healer.status().map((s) => s.breakerOpen),
        [false],
      )
    },
  )

  await t.test(
    'a repair whose restart still fails is rolled back and the breaker opens',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      const dead = await startIssuerPeer(t, { trailingSlash: false })
      await dead.close() // a second connector whose provider is down: NetBird still cannot start
      const r = await rig(t, {
        variant: 'fatal',
        storedIssuer: peer.origin,
        extraConnectors: [{ id: 'okta-d1c9q4dl0fgs73cunqt0', issuer: dead.origin }],
        // The fresh run's crash is the evidence; on a busy machine it may come seconds after the
        // start, and a run still up at the end of the window would count as recovered.
        confirmSeconds: 20,
      })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('FATL'),
        'first crash',
      )
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_rollbacks_total', {
          container: r.container,
        }),
        1,
      )
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_total', {
          container: r.container,
          result: 'rolled_back',
        }),
        1,
      )
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_breaker_open', { container: r.container }),
        1,
      )
      assert.equal(issuerOf(r.dbPath), peer.origin, 'the original issuer is back')
      assert.match(
        (await containerLogs(r.container)).toString('utf8'),
        /Failed to open connector okta-/,
      )
    },
  )

  await t.test(
    'a rollback undoes only the repaired value: rows a Dex writer committed meanwhile survive',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      const dead = await startIssuerPeer(t, { trailingSlash: false })
      await dead.close() // NetBird still cannot start after the fix: the repair is rolled back
      const r = await rig(t, {
        variant: 'fatal',
        storedIssuer: peer.origin,
        extraConnectors: [{ id: 'okta-d1c9q4dl0fgs73cunqt0', issuer: dead.origin }],
        confirmSeconds: 20, // as above: the fresh run's crash must land inside the window
      })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('FATL'),
        'first crash',
      )
      // Dex keeps writing (logins, token refreshes) before, during and after the repair.
      const writer = await startDexWriter(r.dbPath, t)
      await r.heal.scheduler.runNow('doctor')
      await r.heal.healer.idle()
      const committed = await writer.stop()
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_total', {
          container: r.container,
          result: 'rolled_back',
        }),
        1,
      )
      assert.equal(issuerOf(r.dbPath), peer.origin, 'the original issuer is back')
      assert.equal(writer.rows(), committed, 'every row the writer committed is still there')
      const backups = listBackups(join(r.dir, 'backups'))
      const preRepair = backups.find((b) => b.manifest.reason === 'pre-repair')
      assert.ok(preRepair)
      assert.ok(
        countRows(preRepair.path) < committed,
        'rows were committed after the pre-repair backup (else this proves nothing)',
      )
      // Undoing took its own verified backup first.
      assert.ok(backups.some((b) => b.manifest.reason === 'pre-rollback'))
    },
  )

  await t.test(
    'SIGTERM during the confirm window: stop() finishes the repair, never half done',
    async (t) => {
      const peer = await startIssuerPeer(t, { trailingSlash: true })
      const r = await rig(t, { variant: 'erro', storedIssuer: peer.origin, confirmSeconds: 3600 })
      await until(
        async () => (await containerLogs(r.container)).toString('utf8').includes('ERRO'),
        'ERRO line',
      )
      const before = (await docker(['inspect', '-f', '{{.State.StartedAt}}', r.container])).trim()
      const run = r.heal.scheduler.runNow('doctor')
      await until(
        async () =>
          (await docker(['inspect', '-f', '{{.State.StartedAt}}', r.container])).trim() !== before,
        'the restart after the fix',
      )
      await r.heal.stop()
      assert.equal(await run, true)
      assert.equal(issuerOf(r.dbPath), `${peer.origin}/`, 'the fix stays in place')
      assert.equal(await state(r.container), 'running')
      assert.equal(
        await metricValue(r.registry, 'netbird_watchdog_repairs_total', {
          container: r.container,
          result: 'unconfirmed',
        }),
        1,
      )
    },
  )
})
