// Which IdP store a command or the daemon works on (src/store/open.ts `resolveStore`), from real files in
// a temporary directory: --db (path or DSN) first, then the watchdog's own DSN, then a PostgreSQL store
// NetBird's config.yaml or management.json names, then idp.dbPath, then the idp.db those files name
// when it exists here; where its backups go; and no DSN, or part of one, in any error.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { stringify } from 'yaml'
import { isWatchdogError } from '../../src/errors.js'
import {
  backupDirFor,
  defaultPostgresBackupDir,
  locationLabel,
  type StoreLocation,
} from '../../src/store/open.js'
import { resolveStore } from '../../src/locate/resolve-store.js'
import { managementSqliteFile, readManagementJson } from '../../src/netbird/config-files.js'
import { Secret } from '../../src/core/dsn.js'
import { editIssuers } from '../../src/store/issuer-edits.js'
import { createIdpDb, jumpcloudId, jumpcloudIssuerDiscovered } from '../helpers/idp-fixture.js'
import { startWatchdog } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

const password = `s3cret-'q' \\ 7e1d`
const uri = `postgres://netbird:${encodeURIComponent(password)}@db.internal:5433/idp?sslmode=disable`
const kv = `host=pg.internal dbname=netbird user=nb password='${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-store-location-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function configYaml(dir: string, authStore: Record<string, string> | undefined): string {
  const path = join(dir, 'config.yaml')
  writeFileSync(
    path,
    stringify({ server: { dataDir: dir, ...(authStore !== undefined ? { authStore } : {}) } }),
  )
  return path
}

function managementJson(dir: string, storage: Record<string, unknown>): string {
  const path = join(dir, 'management.json')
  writeFileSync(
    path,
    JSON.stringify({ Datadir: dir, EmbeddedIdP: { Enabled: true, Storage: storage } }),
  )
  return path
}

/** engine, what it names (path or label) and which setting named it. */
function summary(location: StoreLocation | undefined): [string, string, string] | undefined {
  return location && [location.engine, locationLabel(location), location.source]
}

test('--db: a path is idp.db, a URI or key=value DSN is PostgreSQL, and it wins over everything', (t) => {
  const dir = tmp(t)
  const yaml = configYaml(dir, { engine: 'postgres', dsn: kv })
  assert.deepEqual(summary(resolveStore({ db: './idp.db', configYaml: yaml })), [
    'sqlite',
    './idp.db',
    '--db',
  ])
  assert.deepEqual(summary(resolveStore({ db: uri })), [
    'postgres',
    'postgres://netbird@db.internal:5433/idp',
    '--db',
  ])
  const dsn = { value: new Secret(uri), source: 'NETBIRD_WATCHDOG_IDP_DSN_FILE' }
  assert.deepEqual(summary(resolveStore({ db: kv, dsn, configYaml: yaml })), [
    'postgres',
    'postgres://nb@pg.internal:5432/netbird',
    '--db',
  ])
})

test("the watchdog's DSN wins over NetBird's files, which win over idp.dbPath", (t) => {
  const dir = tmp(t)
  const dbPath = join(dir, 'idp.db')
  writeFileSync(dbPath, '') // exists: still not used while a PostgreSQL store is named
  const yaml = configYaml(dir, { engine: 'postgres', dsn: kv })
  const dsn = { value: new Secret(uri), source: 'idp.dsn' }
  const always = { path: dbPath, onlyIfExists: false }
  assert.deepEqual(summary(resolveStore({ dsn, configYaml: yaml, dbPath: always })), [
    'postgres',
    'postgres://netbird@db.internal:5433/idp',
    'idp.dsn',
  ])
  assert.deepEqual(summary(resolveStore({ configYaml: yaml, dbPath: always })), [
    'postgres',
    'postgres://nb@pg.internal:5432/netbird',
    `server.authStore.dsn in ${yaml}`,
  ])
  const mj = managementJson(dir, { Type: 'postgres', Config: { DSN: '{{ .IDP_DSN }}' } })
  assert.deepEqual(
    summary(resolveStore({ managementJson: mj, env: { IDP_DSN: uri }, dbPath: always })),
    [
      'postgres',
      'postgres://netbird@db.internal:5433/idp',
      `EmbeddedIdP.Storage.Config.DSN in ${mj}`,
    ],
  )
  // Neither names PostgreSQL: idp.dbPath (the daemon uses it whether or not it exists).
  const sqliteYaml = configYaml(dir, undefined)
  const missing = join(dir, 'elsewhere.db')
  assert.deepEqual(
    summary(
      resolveStore({ configYaml: sqliteYaml, dbPath: { path: missing, onlyIfExists: false } }),
    ),
    ['sqlite', missing, 'idp.dbPath'],
  )
})

test("NetBird's idp.db path is used only when it exists here (doctor's and the CLI's rule)", (t) => {
  const dir = tmp(t)
  const yaml = configYaml(dir, { file: 'auth/idp.db' })
  const missingDefault = { path: join(dir, 'nope.db'), onlyIfExists: true }
  assert.equal(resolveStore({ configYaml: yaml, dbPath: missingDefault }), undefined)
  const mj = managementJson(dir, { Type: 'sqlite3', Config: { File: join(dir, 'idp.db') } })
  assert.equal(resolveStore({ managementJson: mj }), undefined)
  writeFileSync(join(dir, 'idp.db'), '')
  assert.deepEqual(summary(resolveStore({ managementJson: mj })), [
    'sqlite',
    join(dir, 'idp.db'),
    `EmbeddedIdP.Storage in ${mj}`,
  ])
  // Without a File, management opens idp.db in its --datadir (/var/lib/netbird/ by default), which
  // replaces management.json's Datadir: an idp.db in Datadir is not the one NetBird uses.
  const byDatadir = managementJson(dir, { Type: 'sqlite3' })
  assert.notEqual(summary(resolveStore({ managementJson: byDatadir }))?.[1], join(dir, 'idp.db'))
  // An existing idp.dbPath comes before the files' own path.
  const dbPath = join(dir, 'mine.db')
  writeFileSync(dbPath, '')
  assert.deepEqual(
    summary(resolveStore({ managementJson: mj, dbPath: { path: dbPath, onlyIfExists: true } })),
    ['sqlite', dbPath, 'idp.dbPath'],
  )
})

test("management's idp.db: Storage.Config.File, else idp.db in --datadir, never management.json's Datadir", (t) => {
  const dir = tmp(t)
  const read = (storage: Record<string, unknown>): string =>
    managementSqliteFile(readManagementJson(managementJson(dir, storage), {}))
  assert.equal(read({ Type: 'sqlite3' }), '/var/lib/netbird/idp.db')
  assert.equal(read({ Config: { File: '/data/auth.db' } }), '/data/auth.db')
  assert.equal(read({ Config: { File: 'auth/idp.db' } }), '/var/lib/netbird/auth/idp.db')
})

test('errors: a malformed DSN (USAGE from --db, CONFIG_INVALID from a file), postgres without a DSN', (t) => {
  const dir = tmp(t)
  const fails = (fn: () => unknown, code: 'USAGE' | 'CONFIG_INVALID', why: RegExp): void => {
    assert.throws(fn, (err: unknown) => {
      assert.ok(isWatchdogError(err, code), String(err))
      assert.match(err.message, why)
      assert.ok(!err.message.includes(password) && !err.message.includes('7e1d'), err.message)
      return true
    })
  }
  fails(
    () => resolveStore({ db: `postgres://u:${encodeURIComponent(password)}@h:70000/x` }),
    'USAGE',
    /--db is not a usable PostgreSQL DSN: the port/,
  )
  // Nearly a DSN: never taken for a file path (whose "not found" would quote it).
  for (const db of [
    `postgress://u:${encodeURIComponent(password)}@h/x`,
    `pasword=${password} hots=db`,
  ]) {
    fails(() => resolveStore({ db }), 'USAGE', /--db is not a valid DSN/)
  }
  fails(
    () =>
      resolveStore({
        configYaml: configYaml(dir, { engine: 'postgres', dsn: `password=${password}` }),
      }),
    'CONFIG_INVALID',
    /server\.authStore\.dsn in .* is not a usable PostgreSQL DSN/,
  )
  fails(
    () => resolveStore({ configYaml: configYaml(dir, { engine: 'postgres' }) }),
    'CONFIG_INVALID',
    /authStore\.dsn is required when authStore\.engine is postgres/,
  )
  fails(
    () => resolveStore({ managementJson: managementJson(dir, { Type: 'postgres' }) }),
    'CONFIG_INVALID',
    /EmbeddedIdP\.Storage\.Type is postgres but EmbeddedIdP\.Storage\.Config\.DSN is not set/,
  )
  fails(
    () =>
      resolveStore({
        managementJson: managementJson(dir, {
          Type: 'postgres',
          Config: { DSN: `host=x password=${password} dbname={{ .NB_IDP_DB }}` },
        }),
      }),
    'CONFIG_INVALID',
    /uses a \{\{ \.NAME \}\} variable that is not set in this environment \(NB_IDP_DB\)/,
  )
})

test('backups: next to idp.db, else the given directory; a PostgreSQL store needs one (CLI) or the state volume (daemon)', () => {
  const sqlite = resolveStore({ db: '/data/idp.db' })!
  const pg = resolveStore({ db: uri })!
  assert.equal(backupDirFor(sqlite, undefined), '/data/netbird-watchdog-backups')
  assert.equal(backupDirFor(pg, '/b'), '/b')
  assert.equal(
    backupDirFor(pg, undefined, { postgresDefault: defaultPostgresBackupDir }),
    defaultPostgresBackupDir,
  )
  assert.equal(defaultPostgresBackupDir, '/var/lib/netbird-watchdog/backups')
  assert.throws(
    () => backupDirFor(pg, undefined),
    (err: unknown) =>
      isWatchdogError(err, 'USAGE') &&
      /postgres:\/\/netbird@db\.internal:5433\/idp is a PostgreSQL store: .*--backup-dir DIR/.test(
        err.message,
      ),
  )
})

test("the daemon's choice: a NetBird file it cannot use is reported and left out, its own DSN never", (t) => {
  const dir = tmp(t)
  const db = { path: join(dir, 'idp.db'), onlyIfExists: false }
  const brokenYaml = join(dir, 'broken.yaml')
  writeFileSync(
    brokenYaml,
    `server:\n  auth:\n    issuer: !x!${password} https://nb.example/oauth2\n`,
  )
  const noDsnYaml = configYaml(dir, { engine: 'postgres' })
  const brokenJson = join(dir, 'broken.json')
  writeFileSync(brokenJson, `{"EmbeddedIdP": {"Storage": ${password}`)
  for (const sources of [
    { configYaml: brokenYaml },
    { configYaml: noDsnYaml },
    { managementJson: brokenJson },
    { configYaml: brokenYaml, managementJson: brokenJson },
  ]) {
    const reported: string[] = []
    const location = resolveStore({
      ...sources,
      dbPath: db,
      onUnusableNetbirdFile: (err) => reported.push(`${err.code}: ${err.message}`),
    })
    assert.deepEqual(summary(location), ['sqlite', db.path, 'idp.dbPath'], JSON.stringify(sources))
    assert.equal(reported.length, Object.keys(sources).length, reported.join('\n'))
    for (const r of reported) assert.ok(!r.includes(password) && !r.includes('7e1d'), r)
    // Without the callback (the one-shot commands) the same files are errors.
    assert.throws(
      () => resolveStore({ ...sources, dbPath: db }),
      (err) => isWatchdogError(err),
    )
  }
  // A config.yaml it cannot read does not hide a PostgreSQL store management.json names.
  const pg = managementJson(dir, { Type: 'postgres', Config: { DSN: uri } })
  const reported: string[] = []
  const location = resolveStore({
    configYaml: brokenYaml,
    managementJson: pg,
    dbPath: db,
    onUnusableNetbirdFile: (err) => reported.push(err.message),
  })
  assert.equal(location?.engine, 'postgres')
  assert.equal(reported.length, 1)
  // The watchdog's own DSN is its own configuration: malformed, it still throws.
  assert.throws(
    () =>
      resolveStore({
        dsn: { value: new Secret(`password=${password}`), source: 'idp.dsn' },
        dbPath: db,
        onUnusableNetbirdFile: () => undefined,
      }),
    (err) => isWatchdogError(err, 'CONFIG_INVALID'),
  )
})

test("the daemon with NetBird's config file broken: the store is unknown and nothing is written; fixed, it is found again", async (t) => {
  const dir = tmp(t)
  // The idp.db the daemon would fall back to: NetBird moved to PostgreSQL, this file is stale.
  const stale = join(dir, 'idp.db')
  createIdpDb(stale)
  const before = readFileSync(stale)
  const yaml = join(dir, 'config.yaml')
  writeFileSync(yaml, `server:\n  authStore: [engine: postgres\n`) // not valid YAML
  const wd = await startWatchdog({
    mode: 'repair',
    docker: { host: `unix://${join(dir, 'no-docker.sock')}` },
    targets: { names: ['netbird-server'], autoDetect: false },
    idp: { dbPath: stale, configYaml: yaml, busyTimeoutMs: 200 },
    backups: { dir: join(dir, 'backups') },
    schedules: { doctor: '', backup: '', integrity: '' },
    sso: { probeSeconds: 0 },
  })
  defer(t, () => wd.stop())
  const store = wd.daemon.store
  await assert.rejects(store.readConnectors(), (e) => isWatchdogError(e, 'STORE_UNKNOWN'))
  await assert.rejects(
    editIssuers(store, [{ connectorId: jumpcloudId, to: jumpcloudIssuerDiscovered }], {
      backup: { dir: join(dir, 'backups'), reason: 'pre-repair', version: 'test' },
    }),
    (e) => isWatchdogError(e, 'STORE_UNKNOWN'),
  )
  assert.ok(readFileSync(stale).equals(before), 'the stale idp.db is untouched')
  assert.ok(
    wd.records.some((r) =>
      r.msg.startsWith('a NetBird config file cannot tell where the IdP store'),
    ),
  )
  // Fixed (PostgreSQL, as NetBird now runs): found again at the next use, without a restart.
  writeFileSync(yaml, stringify({ server: { authStore: { engine: 'postgres', dsn: uri } } }))
  assert.equal(store.engine, 'postgres')
  assert.equal(store.label, 'postgres://netbird@db.internal:5433/idp')
  assert.ok(
    wd.records.some((r) => r.msg === 'IdP store found again after a NetBird config file changed'),
  )
  // Broken again: unknown again.
  writeFileSync(yaml, `server: [\n`)
  await assert.rejects(store.check(), (e) => isWatchdogError(e, 'STORE_UNKNOWN'))
  for (const r of wd.records) assert.ok(!JSON.stringify(r).includes(password.slice(0, 6)))
})
