// The daemon (src/daemon.ts, in-process, config through the real loader) on a PostgreSQL IdP store of a
// real PostgreSQL server (test/helpers/postgres.ts): where it finds the store (the DSN secret file,
// NetBird's config.yaml), what it says about it at start (dsnNotes, the default backup directory), the
// store metrics (idp_store_info{engine}, idp_store_up), and the server going away while it watches —
// no crash, idp_store_up 0, the integrity check failing — and coming back. The Docker engine is a
// socket where nothing listens: the store is what is watched here. The test role's canary password
// is in no log line and no metric.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { startDaemon } from '../../src/daemon.js'
import { isWatchdogError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { defaultPostgresBackupDir } from '../../src/store/open.js'
import { waitFor } from '../helpers/wait.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import { recordSink, type LogRecord } from '../helpers/watchdog.js'
import {
  createDexDatabase,
  rolePassword,
  clusterForFile,
  type PgCluster,
} from '../helpers/postgres.js'
import { defer } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))

interface Running {
  readonly records: LogRecord[]
  /** The /metrics text as scraped. */
  scrape(): Promise<string>
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>
  healthz(): Promise<number>
  stop(): Promise<void>
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-pg-daemon-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

/** `run` as cli.ts starts it: the config file and the environment through loadConfig, then startDaemon. */
async function startRun(
  t: TestContext,
  dir: string,
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Running> {
  const file = join(dir, 'watchdog.yml')
  await writeFile(
    file,
    stringify({
      mode: 'observe',
      docker: { host: `unix://${join(dir, 'no-docker.sock')}` },
      targets: { names: ['netbird-server'], autoDetect: false },
      metrics: { address: '127.0.0.1:0' },
      ...config,
    }),
  )
  const loaded = loadConfig(file, env)
  const records: LogRecord[] = []
  const sink = recordSink(records)
  const daemon = await startDaemon({
    config: loaded.config,
    secrets: loaded.secrets,
    env,
    logger: createLogger({ level: 'debug' }, sink),
    version: 'test',
    watcherTuning: { reconnectInitialMs: 100 },
  })
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => (stopped ??= daemon.stop())
  defer(t, stop)
  const url = `http://127.0.0.1:${daemon.address.port}`
  const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`)).text()
  return {
    records,
    scrape,
    metric: async (name, labels = {}) => valueOf(parseMetrics(await scrape()), name, labels),
    healthz: async () => (await fetch(`${url}/healthz`)).status,
    stop,
  }
}

function assertNoPassword(text: string, where: string): void {
  assert.ok(!text.includes(rolePassword), `the DSN's password is in ${where}`)
  assert.ok(!text.includes('9d2f7b1c'), `part of the DSN's password is in ${where}`)
}

test('the PostgreSQL server goes away while the daemon watches, and comes back', async (t) => {
  const dir = await tempDir(t)
  const { database } = await createDexDatabase(cluster)
  // The DSN as a secret file, with a key the watchdog does not use (a dsnNotes line at start).
  const secret = join(dir, 'idp-dsn')
  await writeFile(secret, `${cluster.dsn({ database }, 'kv')} application_name=netbird\n`, {
    mode: 0o600,
  })
  const wd = await startRun(
    t,
    dir,
    {
      backups: { dir: join(dir, 'backups') },
      schedules: { doctor: '', backup: '', integrity: '* * * * * *' },
    },
    { NETBIRD_WATCHDOG_IDP_DSN_FILE: secret },
  )
  const label = `postgres://watchdog@127.0.0.1:${cluster.port}/${database}`
  const store = wd.records.find((r) => r.msg === 'IdP store')
  assert.ok(store, 'the store is named at start')
  assert.equal(store.engine, 'postgres')
  assert.equal(store.store, label)
  assert.equal(store.from, 'NETBIRD_WATCHDOG_IDP_DSN_FILE')
  assert.ok(
    wd.records.some((r) => /application_name are not used/.test(r.msg)),
    'how the DSN was read is logged',
  )

  assert.equal(await wd.metric('netbird_watchdog_idp_store_info', { engine: 'postgres' }), 1)
  await waitFor(
    'idp_store_up 1',
    async () => (await wd.metric('netbird_watchdog_idp_store_up')) === 1,
  )
  await waitFor(
    'a passing integrity check',
    async () => (await wd.metric('netbird_watchdog_check_success', { check: 'integrity' })) === 1,
  )

  await cluster.stop('fast')
  await waitFor(
    'idp_store_up 0 and a failing integrity check',
    async () =>
      (await wd.metric('netbird_watchdog_idp_store_up')) === 0 &&
      (await wd.metric('netbird_watchdog_check_success', { check: 'integrity' })) === 0,
  )
  assert.equal(await wd.healthz(), 200, 'still serving')
  assert.ok(
    wd.records.some(
      (r) => r.level === 'error' && r.msg === 'check failed' && r.check === 'integrity',
    ),
    'the failed check is logged',
  )

  await cluster.start()
  await waitFor(
    'idp_store_up 1 and a passing integrity check again',
    async () =>
      (await wd.metric('netbird_watchdog_idp_store_up')) === 1 &&
      (await wd.metric('netbird_watchdog_check_success', { check: 'integrity' })) === 1,
  )
  assertNoPassword(await wd.scrape(), '/metrics')
  await wd.stop()
  assertNoPassword(JSON.stringify(wd.records), 'the log')
})

test("the daemon finds the store NetBird's config.yaml names; backups default to the state volume", async (t) => {
  const dir = await tempDir(t)
  const { database, dsn } = await createDexDatabase(cluster)
  const yaml = join(dir, 'config.yaml')
  await writeFile(
    yaml,
    stringify({ server: { dataDir: '/var/lib/netbird', authStore: { engine: 'postgres', dsn } } }),
  )
  const wd = await startRun(t, dir, {
    idp: { configYaml: yaml },
    schedules: { doctor: '', backup: '', integrity: '' },
  })
  const store = wd.records.find((r) => r.msg === 'IdP store')
  assert.ok(store)
  assert.equal(store.engine, 'postgres')
  assert.equal(store.store, `postgres://watchdog@127.0.0.1:${cluster.port}/${database}`)
  assert.equal(store.from, `server.authStore.dsn in ${yaml}`)
  assert.equal(store.backupDir, defaultPostgresBackupDir)
  await waitFor(
    'idp_store_up 1',
    async () => (await wd.metric('netbird_watchdog_idp_store_up')) === 1,
  )
  assert.equal(await wd.metric('netbird_watchdog_idp_store_info', { engine: 'postgres' }), 1)
  assert.equal(await wd.metric('netbird_watchdog_idp_store_info', { engine: 'sqlite' }), undefined)
  await wd.stop()
  assertNoPassword(JSON.stringify(wd.records), 'the log')
})

test('an idp.db store: engine sqlite, and idp_store_up 0 while the file is not there', async (t) => {
  const dir = await tempDir(t)
  const wd = await startRun(t, dir, {
    idp: { dbPath: join(dir, 'idp.db') },
    schedules: { doctor: '', backup: '', integrity: '' },
  })
  assert.equal(await wd.metric('netbird_watchdog_idp_store_info', { engine: 'sqlite' }), 1)
  await waitFor('the start-up check to fail', () =>
    wd.records.some((r) => r.msg === 'the IdP store cannot be used now'),
  )
  assert.equal(await wd.metric('netbird_watchdog_idp_store_up'), 0)
})

test('a malformed DSN is a configuration error that never shows the DSN', async (t) => {
  const dir = await tempDir(t)
  const secret = join(dir, 'idp-dsn')
  const broken = `postgres://watchdog:${encodeURIComponent(rolePassword)}@127.0.0.1:5432`
  await writeFile(secret, broken)
  /** The CONFIG_INVALID message loadConfig gives for this config file and environment. */
  const problems = async (
    config: Record<string, unknown>,
    env: Record<string, string>,
  ): Promise<string> => {
    const file = join(dir, 'w.yml')
    await writeFile(file, stringify(config))
    try {
      loadConfig(file, env)
    } catch (err) {
      assert.ok(isWatchdogError(err, 'CONFIG_INVALID'), String(err))
      return err.message
    }
    return assert.fail('the config loaded')
  }
  const fromFile = await problems({}, { NETBIRD_WATCHDOG_IDP_DSN_FILE: secret })
  assert.match(
    fromFile,
    /NETBIRD_WATCHDOG_IDP_DSN_FILE: the DSN is not a usable PostgreSQL DSN: it names no database/,
  )
  const fromEnv = await problems({}, { NETBIRD_WATCHDOG_IDP_DSN: `${broken}/db?sslmode=often` })
  assert.match(fromEnv, /NETBIRD_WATCHDOG_IDP_DSN: the DSN is not a usable PostgreSQL DSN: sslmode/)
  const inConfig = await problems({ idp: { dsn: `/var/lib/netbird/${rolePassword}` } }, {})
  assert.match(inConfig, /idp\.dsn: not a PostgreSQL DSN/)
  for (const text of [fromFile, fromEnv, inConfig]) assertNoPassword(text, text)
})
