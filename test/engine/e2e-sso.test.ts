// The SSO login probe and the live repair, end to end: the real daemon (in-process), the real Docker
// engine, the simulated NetBird serving Dex's login endpoint as NetBird's Dex does
// (test/fixtures/fake-netbird, docs/reference/netbird.md "Dex at login"), a real OpenID provider on
// 127.0.0.1, and a real idp.db — or a real PostgreSQL store.
// - NetBird v0.65.2+ (it stays up, SSO broken): the probe alone (no log followed) finds the connector,
//   the repair is loaded live — StartedAt and RestartCount unchanged — and the probe proves it, on
//   SQLite and on PostgreSQL;
// - a connector Dex already holds, open with a config gone stale, is picked up through the new
//   resource_version (no restart);
// - NetBird v0.62–v0.65.1's crash loop is still restarted, and confirmed by staying up and the probe;
// - a lock held by another process through the confirm check leaves the repair in place, and makes a
//   probe say nothing rather than count as evidence.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { configSchema } from '../../src/config/schema.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { DockerEngine } from '../../src/docker/engine.js'
import { WatchdogEvents } from '../../src/docker/events.js'
import { SsoMonitor } from '../../src/heal/sso-monitor.js'
import { createLogger } from '../../src/log.js'
import { listBackups } from '../../src/store/backup-files.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import {
  docker,
  engineSocket,
  inspectState,
  nodeImage,
  requireDocker,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { createIdpDb, holdLock, oidcConnectors } from '../helpers/idp-fixture.js'
import { freePort } from '../helpers/net.js'
import {
  createDexDatabase,
  clusterForFile,
  rawConnectors,
  type PgCluster,
} from '../helpers/postgres.js'
import {
  fakeNetbirdDexUrl,
  removeTestContainers,
  runFakeNetbird,
  startIssuerPeer,
  type IssuerPeer,
} from '../helpers/selfheal.js'
import { startWatchdog, type TestWatchdog } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

const jc = 'd1c9q2ll0fgs73cunqsg'
/** NetBird's public issuer as the fixture's connectors spell their redirect URI (…/oauth2/callback). */
const issuer = 'https://netbird.example.com/oauth2'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))
before(() => requireDocker([nodeImage]))

interface Scenario {
  readonly dir: string
  readonly dbPath: string
  readonly container: string
  readonly dexUrl: string
  readonly wd: TestWatchdog
  success(): Promise<number | undefined>
  messages(): string[]
}

/** Docker's view of a container's run: a restart changes both. */
async function runOf(container: string): Promise<{ startedAt: string; restartCount: number }> {
  const out = await docker([
    'inspect',
    '--format',
    '{{.State.StartedAt}} {{.RestartCount}}',
    container,
  ])
  const [startedAt, count] = out.trim().split(' ')
  return { startedAt: startedAt!, restartCount: Number(count) }
}

async function scenario(
  t: TestContext,
  opts: {
    peer: IssuerPeer
    storedIssuer: string
    variant: 'erro' | 'fatal'
    version?: string
    followLogs?: boolean
    probeSeconds?: number
    pg?: boolean
    /** The watchdog's wait for a lock on the store (idp.busyTimeoutMs). */
    busyTimeoutMs?: number
    config?: Record<string, unknown>
  },
): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-e2e-sso-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  const connectors = oidcConnectors([{ id: jc, issuer: opts.storedIssuer }])
  let store: { dataDir: string } | { dsn: string } = { dataDir: dir }
  let idp: Record<string, unknown> = {
    dbPath,
    ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
  }
  if (opts.pg === true) {
    const { dsn } = await createDexDatabase(cluster, { connectors })
    store = { dsn }
    idp = { dsn }
  } else {
    createIdpDb(dbPath, { connectors })
  }
  const container = uniqueName('sso')
  defer(t, () => removeTestContainers([container]))
  const port = await freePort()
  const dexUrl = fakeNetbirdDexUrl(port, issuer)
  await runFakeNetbird({
    name: container,
    store,
    variant: opts.variant,
    listen: { port },
    issuer,
    ...(opts.version !== undefined ? { version: opts.version } : {}),
  })
  if (opts.variant === 'erro') {
    await waitFor(
      "the stand-in's Dex",
      async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
      60_000,
    )
  }
  const wd = await startWatchdog({
    mode: 'repair',
    targets: { names: [container], autoDetect: false },
    idp,
    oidc: { allowInsecure: true, timeoutMs: 3000 },
    sso: { url: dexUrl, probeSeconds: opts.probeSeconds ?? 1, timeoutMs: 10_000 },
    detection: { followLogs: opts.followLogs ?? true },
    repair: { confirmSeconds: 5, restartBackoffSeconds: 0, stopTimeoutSeconds: 2 },
    backups: { dir: join(dir, 'backups') },
    schedules: { doctor: '', backup: '', integrity: '' },
    ...opts.config,
  })
  defer(t, () => wd.stop())
  return {
    dir,
    dbPath,
    container,
    dexUrl,
    wd,
    success: () => wd.metric('netbird_watchdog_repairs_total', { container, result: 'success' }),
    messages: () => wd.records.map((r) => r.msg),
  }
}

function issuerOf(dbPath: string): string | undefined {
  const row = readConnectors(dbPath).find((r) => r.id === jc)
  return row && connectorIssuer(row)
}

test('v0.65.2+: a connector found broken by the login probe alone is repaired live and proven, with no restart', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  // followLogs off: Dex's one startup line is never read; only the probe can find the connector.
  const s = await scenario(t, {
    peer,
    storedIssuer: peer.origin,
    variant: 'erro',
    followLogs: false,
  })
  const before = await runOf(s.container)
  await waitFor('a successful repair', async () => (await s.success()) === 1, 90_000)

  assert.deepEqual(await runOf(s.container), before, 'StartedAt and RestartCount unchanged')
  assert.equal(
    await s.wd.metric('netbird_watchdog_sso_probe_success', {
      container: s.container,
      connector: jc,
    }),
    1,
  )
  assert.ok(
    ((await s.wd.metric('netbird_watchdog_sso_probe_failures_total', {
      container: s.container,
      connector: jc,
      reason: 'connector_failed',
    })) ?? 0) >= 1,
    'the probe saw Dex refuse the connector first',
  )
  const msgs = s.messages()
  assert.ok(msgs.includes('SSO login probe failed: diagnosing'))
  assert.ok(!msgs.includes('issuer mismatch seen in the logs'), 'no log line was read')
  assert.ok(!msgs.some((m) => m.includes('restarting')), `no restart: ${msgs.join(' | ')}`)
  assert.ok(msgs.some((m) => m.startsWith('recovered without a restart')))
  const recovered = s.wd.records.find((r) => r.msg.startsWith('recovered without a restart'))
  assert.equal(recovered?.activation, 'live')

  // The store: the issuer fixed, with a version Dex had not seen; the backup holds the original row.
  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`)
  assert.equal(readConnectors(s.dbPath).find((r) => r.id === jc)?.resourceVersion, '1')
  const backups = listBackups(join(s.dir, 'backups'))
  assert.equal(backups.length, 1)
  const original = readConnectors(backups[0]!.path).find((r) => r.id === jc)!
  assert.equal(connectorIssuer(original), peer.origin)
  assert.equal(original.resourceVersion, '')
  // Dex stored one auth_request row per accepted probe (NetBird's own store, read as Dex wrote it).
  const db = new Database(s.dbPath, { readonly: true })
  defer(t, () => db.close())
  const rows = db.prepare('select count(*) n from auth_request where connector_id = ?').get(jc) as {
    n: number
  }
  assert.ok(rows.n >= 1, 'the passing probe left its auth_request row')
})

test('v0.65.2+ on PostgreSQL: the same, live, with no restart', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const s = await scenario(t, {
    peer,
    storedIssuer: peer.origin,
    variant: 'erro',
    followLogs: false,
    pg: true,
  })
  const before = await runOf(s.container)
  await waitFor('a successful repair', async () => (await s.success()) === 1, 90_000)
  assert.deepEqual(await runOf(s.container), before, 'StartedAt and RestartCount unchanged')
  assert.ok(!s.messages().some((m) => m.includes('restarting')))
  const dsn = (s.wd.daemon.store.label.match(/\/([^/?]+)$/) ?? [])[1]
  assert.ok(dsn !== undefined, 'the database name')
  const row = (await rawConnectors(cluster, dsn)).find((r) => r.id === jc)!
  assert.equal(row.resource_version, '1')
  assert.match((row.config as Buffer).toString('utf8'), new RegExp(`"issuer":"${peer.origin}/"`))
})

test('a connector Dex holds open with a stale config is picked up through the new resource_version, with no restart', async (t) => {
  // The provider first matches the stored issuer: Dex opens the connector at startup and keeps it.
  const peer = await startIssuerPeer(t, { trailingSlash: false, movedAuthorization: true })
  const s = await scenario(t, { peer, storedIssuer: peer.origin, variant: 'erro' })
  await waitFor(
    'a first passing probe',
    async () =>
      (await s.wd.metric('netbird_watchdog_sso_probe_success', {
        container: s.container,
        connector: jc,
      })) === 1,
    60_000,
  )
  const before = await runOf(s.container)
  // Then it moves: issuer with a trailing slash, authorization endpoint at /authorize. Dex still sends
  // the browser to the old /auth it opened the connector with.
  peer.setTrailingSlash(true)
  await waitFor('a successful repair', async () => (await s.success()) === 1, 90_000)
  assert.ok(
    ((await s.wd.metric('netbird_watchdog_sso_probe_failures_total', {
      container: s.container,
      connector: jc,
      reason: 'redirect_mismatch',
    })) ?? 0) >= 1,
    'the probe saw Dex redirect to the old endpoint',
  )
  assert.deepEqual(await runOf(s.container), before, 'no restart')
  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`)
  // Dex reopened it: a login now goes to the provider's new endpoint.
  const res = await fetch(
    `${s.dexUrl}/auth/${jc}?client_id=netbird-cli&redirect_uri=${encodeURIComponent('http://localhost:53000/')}&response_type=code&scope=openid`,
    { redirect: 'manual' },
  )
  assert.equal(res.status, 302)
  assert.ok(res.headers.get('location')!.startsWith(`${peer.origin}/authorize?`))
})

test('v0.62–v0.65.1 crash loop: still restarted, and confirmed by staying up and by the probe', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const s = await scenario(t, {
    peer,
    storedIssuer: peer.origin,
    variant: 'fatal',
    version: '0.65.1',
  })
  await waitFor('a successful repair', async () => (await s.success()) === 1, 120_000)
  const msgs = s.messages()
  assert.ok(msgs.includes('IdP store repaired and verified; restarting the container'))
  const recovered = s.wd.records.find((r) => r.msg.startsWith('recovered:'))
  assert.ok(recovered !== undefined)
  assert.equal(recovered.activation, 'restart')
  assert.match(recovered.msg, /login probe/)
  assert.equal((await inspectState(s.container)).Status, 'running')
  assert.equal(
    await s.wd.metric('netbird_watchdog_sso_probe_success', {
      container: s.container,
      connector: jc,
    }),
    1,
  )
})

test('a lock another process holds on idp.db through the confirm check leaves the repair in place', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  // The crash loop, no probe: the store's check after the container stayed up is the only judge.
  const s = await scenario(t, {
    peer,
    storedIssuer: peer.origin,
    variant: 'fatal',
    probeSeconds: 0,
    busyTimeoutMs: 200,
    // A window long enough that the lock is surely taken before the check, even on a machine busy
    // with other test files.
    config: { repair: { confirmSeconds: 20, restartBackoffSeconds: 0, stopTimeoutSeconds: 2 } },
  })
  // The run started after the watchdog's restart (or after it left the start to Docker's restart
  // policy) has read its connectors and is up: now the hostile lock. (Docker's policy can start a
  // run between the commit and the watchdog's restart, which the restart then ends: not that one.)
  const restart = await waitFor(
    "the watchdog's restart of the repaired container",
    () =>
      s.wd.records.find(
        (r) =>
          r.msg === 'restarting the container' ||
          r.msg === "container is in Docker's restart loop; its restart policy will start it",
      ),
    120_000,
    100,
  )
  const restartAt = Number(restart.time)
  // A run that has been up a few seconds: Docker does not replace it any more (its restart policy
  // can still start another right after the watchdog's restart, which ends the first).
  const settledMs = 4000
  let lock: Awaited<ReturnType<typeof holdLock>> | undefined
  while (lock === undefined) {
    const run = await waitFor(
      'a settled run after that restart',
      async () => {
        const state = await inspectState(s.container)
        const started = Date.parse(state.StartedAt)
        if (!state.Running || started < restartAt || Date.now() - started < settledMs) return false
        // The stand-in logs to stderr, which `docker logs` relays on its own stderr.
        const logs = spawnSync('docker', ['logs', '--since', state.StartedAt, s.container], {
          encoding: 'utf8',
        })
        return /embedded Dex IDP initialized/.test(logs.stderr) ? state.StartedAt : false
      },
      120_000,
      100,
    )
    const held = await holdLock(s.dbPath, 'exclusive')
    const now = await inspectState(s.container)
    if (now.Running && now.StartedAt === run) lock = held
    else await held.release() // another run started meanwhile: not locked under it
  }
  const held = lock
  defer(t, () => held.release())
  const ended = await waitFor(
    'the confirmation to end',
    async () => {
      for (const result of ['unconfirmed', 'success'] as const) {
        const n = await s.wd.metric('netbird_watchdog_repairs_total', {
          container: s.container,
          result,
        })
        if (n === 1) return result
      }
      return undefined
    },
    90_000,
  ).catch((err: unknown) => {
    throw new Error(`the daemon said:\n${s.messages().join('\n')}`, { cause: err })
  })
  // `success` would mean the window ended before the lock was taken: not what this test tests.
  assert.equal(ended, 'unconfirmed')
  assert.equal(await s.wd.metric('netbird_watchdog_rollbacks_total', { container: s.container }), 0)
  assert.ok(!s.messages().some((m) => m.startsWith('REPAIR DID NOT HOLD')))
  await held.release()
  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`, 'the repair stays')
})

test("a probe while another process holds idp.db locked says nothing (store_unavailable), not 'connector failed'", async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: false })
  const dir = mkdtempSync(join(tmpdir(), 'nbw-e2e-sso-lock-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, { connectors: oidcConnectors([{ id: jc, issuer: peer.origin }]) })
  const container = uniqueName('sso-lock')
  defer(t, () => removeTestContainers([container]))
  const port = await freePort()
  const dexUrl = fakeNetbirdDexUrl(port, issuer)
  await runFakeNetbird({
    name: container,
    store: { dataDir: dir },
    variant: 'erro',
    listen: { port },
    issuer,
  })
  await waitFor(
    "the stand-in's Dex",
    async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
    60_000,
  )
  const config = configSchema().parse({
    targets: { names: [container], autoDetect: false },
    idp: { dbPath, busyTimeoutMs: 200 },
    oidc: { allowInsecure: true },
    sso: { url: dexUrl, timeoutMs: 15_000 },
  })
  const monitor = new SsoMonitor({
    config,
    store: new SqliteStore(dbPath, { busyTimeoutMs: 200 }),
    docker: new DockerEngine({ socketPath: engineSocket() }),
    events: new WatchdogEvents(),
    logger: createLogger({ level: 'silent' }),
  })
  defer(t, () => monitor.stop())
  const healthy = await monitor.probe(container)
  assert.deepEqual(
    healthy?.map((r) => [r.connectorId, r.ok]),
    [[jc, true]],
  )
  // Another process locks the store: Dex reads the connector's row at every login, waits out its
  // busy timeout and answers "Connector failed to initialize" — about the lock, not the connector.
  const lock = await holdLock(dbPath, 'exclusive')
  defer(t, () => lock.release())
  const locked = await monitor.probe(container)
  assert.equal(locked?.length, 1)
  const r = locked[0]!
  assert.equal(r.ok, false)
  assert.equal(!r.ok && r.reason, 'store_unavailable')
  assert.match(!r.ok ? r.detail : '', /cannot be read either/)
  await lock.release()
  const again = await monitor.probe(container)
  assert.deepEqual(
    again?.map((x) => [x.connectorId, x.ok]),
    [[jc, true]],
  )
})
