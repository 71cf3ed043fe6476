// The headline self-heal, with NetBird's IdP store in PostgreSQL (NetBird v0.66.1+ `authStore.engine:
// postgres`): `netbird-watchdog run` (node dist/cli.js, the DSN from NETBIRD_WATCHDOG_IDP_DSN_FILE)
// heals the simulated NetBird (test/fixtures/fake-netbird/main.mjs --dsn) on the real Docker engine.
// The container crash-loops under `--restart unless-stopped` because its connector row in PostgreSQL
// says `http://127.0.0.1:P` while the real oidc-provider returns `http://127.0.0.1:P/`; containers run
// with `--network host` to reach the test cluster on 127.0.0.1. Asserted on what an operator sees: the
// container, the rows in PostgreSQL, the backups, the scraped /metrics, the JSON logs — and the test
// role's canary password in none of them. Run `npm run build` first.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { stringify } from 'yaml'
import { listBackups } from '../../src/store/backup-files.js'
import { cliPath } from '../helpers/cli.js'
import {
  containerLogs,
  inspectState,
  nodeImage,
  removeContainers,
  requireDocker,
  waitFor,
} from '../helpers/docker.js'
import { oidcConnectors } from '../helpers/idp-fixture.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import {
  createDexDatabase,
  rawConnectors,
  rolePassword,
  clusterForFile,
  type PgCluster,
} from '../helpers/postgres.js'
import { runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { printRecordsIfFailed, recordCollector, type LogRecord } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

const jc = 'd1c9q2ll0fgs73cunqsg'
const okta = 'okta-d1c9q4dl0fgs73cunqt0'

let cluster: PgCluster
clusterForFile(
  (c) => (cluster = c),
  () => requireDocker([nodeImage]),
)

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

interface Scenario {
  database: string
  backupDir: string
  container: string
  records: LogRecord[]
  /** The connector rows as the database held them before anything ran. */
  pristine: Array<Record<string, unknown>>
  scrape(): Promise<string>
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>
  /** SIGTERM the watchdog; resolves with its exit code. */
  stop(): Promise<number | null>
}

async function scenario(
  t: TestContext,
  opts: {
    storedIssuer: string
    extra?: Array<{ id: string; issuer: string }>
    confirmSeconds?: number
  },
): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-e2e-pg-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const { database, dsn } = await createDexDatabase(cluster, {
    connectors: oidcConnectors([{ id: jc, issuer: opts.storedIssuer }, ...(opts.extra ?? [])]),
  })
  const pristine = await rawConnectors(cluster, database)
  const container = `nbw-e2e-pg-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  defer(t, () => removeContainers([container]))
  const port = await freePort()
  const backupDir = join(dir, 'backups')
  const configPath = join(dir, 'watchdog.yml')
  writeFileSync(
    configPath,
    stringify({
      mode: 'repair',
      targets: { names: [container], autoDetect: false },
      oidc: { allowInsecure: true, timeoutMs: 3000 },
      repair: {
        confirmSeconds: opts.confirmSeconds ?? 3,
        restartBackoffSeconds: 0,
        stopTimeoutSeconds: 2,
      },
      backups: { dir: backupDir },
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: `127.0.0.1:${port}` },
      log: { level: 'debug' },
    }),
  )
  // The DSN as the sidecar gets it: a secret file.
  const secret = join(dir, 'idp-dsn')
  writeFileSync(secret, `${dsn}\n`, { mode: 0o600 })
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('NETBIRD_WATCHDOG_')),
  )
  env.NETBIRD_WATCHDOG_IDP_DSN_FILE = secret
  const records: LogRecord[] = []
  printRecordsIfFailed(t, records)
  const child = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr.on('data', recordCollector(records))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  let stopped: Promise<number | null> | undefined
  const stop = (): Promise<number | null> => (stopped ??= (child.kill('SIGTERM'), exited))
  defer(t, () => stop())
  const url = `http://127.0.0.1:${port}`
  await waitFor('the watchdog /metrics', async () => (await fetch(`${url}/metrics`)).ok, 30_000)

  // The simulated NetBird, reading its connectors from PostgreSQL on the host's 127.0.0.1.
  await runFakeNetbird({ name: container, store: { dsn }, variant: 'fatal' })
  const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`)).text()
  return {
    database,
    backupDir,
    container,
    records,
    pristine,
    scrape,
    metric: async (name, labels = {}) => valueOf(parseMetrics(await scrape()), name, labels),
    stop,
  }
}

async function issuerIn(database: string, id = jc): Promise<string | undefined> {
  const row = (await rawConnectors(cluster, database)).find((r) => r.id === id)
  assert.ok(row !== undefined && Buffer.isBuffer(row.config))
  return (JSON.parse(row.config.toString('utf8')) as { issuer?: string }).issuer
}

/** Neither the DSN's password nor a connector's client secret in the logs or the metrics. */
function assertNoSecrets(s: Scenario, metrics: string): void {
  for (const [what, text] of [
    ['the log', JSON.stringify(s.records)],
    ['/metrics', metrics],
  ] as const) {
    assert.ok(!text.includes(rolePassword), `the DSN's password is in ${what}`)
    assert.ok(!text.includes('9d2f7b1c'), `part of the DSN's password is in ${what}`)
    assert.ok(!text.includes('"secret"'), `a client secret is in ${what}`)
  }
}

test('PostgreSQL store: crash loop → detect, back up, repair in PostgreSQL, restart, stays up', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const s = await scenario(t, { storedIssuer: peer.origin })
  const labels = { container: s.container, result: 'success' }
  await waitFor(
    'repairs_total{result="success"} 1',
    async () => (await s.metric('netbird_watchdog_repairs_total', labels)) === 1,
    120_000,
  )

  const msgs = s.records.map((r) => r.msg)
  const order = [
    'issuer mismatch seen in the logs',
    'repairing: verified backup, then the exact issuer fix',
    'IdP store repaired and verified; restarting the container',
  ].map((m) => msgs.indexOf(m))
  assert.ok(
    order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
    `log order: ${order.join(',')}`,
  )
  // Its log line may reach the pipe after the metric changed (the log is written asynchronously).
  await waitFor('a "recovered" log line', () =>
    s.records.some((r) => r.msg.startsWith('recovered:')),
  )

  // Exactly the issuer changed, in PostgreSQL; NetBird runs on it.
  assert.equal(await issuerIn(s.database), `${peer.origin}/`)
  const now = await rawConnectors(cluster, s.database)
  const others = (rows: Array<Record<string, unknown>>): unknown =>
    rows.map((r) => (r.id === jc ? { ...r, config: null, resource_version: null } : r))
  assert.deepEqual(others(now), others(s.pristine))
  // With a new resource_version, so that a running Dex reopens the connector.
  assert.equal(now.find((r) => r.id === jc)!.resource_version, '1')
  assert.equal((await inspectState(s.container)).Status, 'running')

  // The verified pre-repair backup holds the rows as they were, byte for byte.
  const backups = listBackups(s.backupDir)
  assert.equal(backups.length, 1)
  assert.equal(backups[0]!.manifest.engine, 'postgres')
  assert.equal(backups[0]!.manifest.reason, 'pre-repair')
  assert.equal(backups[0]!.manifest.source, `127.0.0.1:${cluster.port}/${s.database}`)
  const saved = JSON.parse(readFileSync(backups[0]!.path, 'utf8')) as {
    rows: Array<{ id: string; config: string | null }>
  }
  assert.deepEqual(
    saved.rows.map((r) => [r.id, r.config]),
    s.pristine.map((r) => [r.id, Buffer.isBuffer(r.config) ? r.config.toString('base64') : null]),
  )

  assert.equal(await s.metric('netbird_watchdog_idp_store_info', { engine: 'postgres' }), 1)
  assert.equal(await s.metric('netbird_watchdog_idp_store_up'), 1)
  assert.equal(await s.metric('netbird_watchdog_backups_total'), 1)
  assert.equal(await s.metric('netbird_watchdog_breaker_open', { container: s.container }), 0)
  const metrics = await s.scrape()
  assert.equal(await s.stop(), 0)
  assertNoSecrets(s, metrics)
})

test('PostgreSQL store: a repair whose restart still fails is rolled back, the rows as they were', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const down = await startIssuerPeer(t, { trailingSlash: false })
  await down.close() // a second connector whose provider is down: NetBird still cannot start
  const s = await scenario(t, {
    storedIssuer: peer.origin,
    extra: [{ id: okta, issuer: down.origin }],
    // The fresh run's crash is the evidence; on a busy machine it may come seconds after the start,
    // and a run still up at the end of the window would count as recovered.
    confirmSeconds: 20,
  })
  await waitFor(
    'a rollback',
    async () =>
      (await s.metric('netbird_watchdog_rollbacks_total', { container: s.container })) === 1,
    120_000,
  )
  assert.equal(
    await s.metric('netbird_watchdog_repairs_total', {
      container: s.container,
      result: 'rolled_back',
    }),
    1,
  )
  assert.equal(await s.metric('netbird_watchdog_breaker_open', { container: s.container }), 1)
  // Every connector row as it was; the rolled-back one with yet another resource_version (the repair
  // wrote "1", the rollback "2"), so that a running Dex reopens it.
  assert.deepEqual(
    await rawConnectors(cluster, s.database),
    s.pristine.map((r) => (r.id === jc ? { ...r, resource_version: '2' } : r)),
    'every connector row is as it was',
  )
  await waitFor('the ROLLED BACK log line', () =>
    s.records.some((r) => r.level === 'error' && r.msg.startsWith('ROLLED BACK:')),
  )
  const reasons = listBackups(s.backupDir).map((b) => b.manifest.reason)
  assert.deepEqual(reasons.sort(), ['pre-repair', 'pre-rollback'])
  const metrics = await s.scrape()
  assert.equal(await s.stop(), 0)
  assertNoSecrets(s, metrics)
})

// Stops the cluster: the last test of the file.
test('PostgreSQL store: a server gone at the end of the confirm window is no evidence — no rollback', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const s = await scenario(t, { storedIssuer: peer.origin, confirmSeconds: 15 })
  // NetBird up on the repaired store, in the run that follows the watchdog's restart decision (its
  // own restart, or Docker's restart policy): a run Docker started between the commit and that
  // decision reads the repaired store too, and stopping the server under it would leave the next run
  // to fail on the missing server inside the confirm window.
  const restarting = (): LogRecord | undefined =>
    s.records.find(
      (r) =>
        r.msg === 'restarting the container' ||
        r.msg === "container is in Docker's restart loop; its restart policy will start it",
    )
  await waitFor('the watchdog to restart NetBird', () => restarting() !== undefined, 120_000)
  const restartedAt = Date.parse(String(restarting()!.time))
  await waitFor(
    'NetBird to start on the repaired store',
    async () => {
      const st = await inspectState(s.container)
      if (!st.Running || Date.parse(st.StartedAt) < restartedAt) return false
      const run = await containerLogs(s.container, undefined, st.StartedAt)
      return run.includes('embedded Dex IDP initialized')
    },
    120_000,
    100,
  )
  await cluster.stop('fast')
  await waitFor(
    'repairs_total{result="unconfirmed"} 1',
    async () =>
      (await s.metric('netbird_watchdog_repairs_total', {
        container: s.container,
        result: 'unconfirmed',
      })) === 1,
    60_000,
  )
  assert.equal(await s.metric('netbird_watchdog_rollbacks_total', { container: s.container }), 0)
  assert.equal(await s.metric('netbird_watchdog_idp_store_up'), 0)
  assert.equal((await inspectState(s.container)).Status, 'running')
  await cluster.start()
  assert.equal(await issuerIn(s.database), `${peer.origin}/`, 'the repair stands')
  const metrics = await s.scrape()
  assert.equal(await s.stop(), 0)
  assertNoSecrets(s, metrics)
})
