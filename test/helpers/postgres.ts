// A throw-away PostgreSQL server for tests, and Dex's schema in it.
//
// Cluster: Debian's server binaries (/usr/lib/postgresql/<major>/bin, installed by
// `bash scripts/test-env.sh`): `initdb` into a fresh temporary directory, run as the `postgres` user
// when the tests run as root (initdb and pg_ctl refuse root); the bootstrap superuser's password comes
// from a file that user can read (never a command line); the server listens on 127.0.0.1 only, on a
// random free port, and on a socket directory of its own; scram-sha-256 everywhere, and one role
// (`nbw_blocked`) that pg_hba.conf rejects. A test role `watchdog` gets a canary password full of
// quoting trouble (it must never appear in any output). fsync is off: a test's "crash" is
// `pg_ctl stop -m immediate`, a killed server, whose WAL the OS still holds. Missing binaries fail the
// test loudly (never a skip). `owner.pid` lets `scripts/test-env.sh` clean up after a killed run.
//
// Schema: Dex's migrations (test/helpers/idp-fixture.ts has their SQL as Dex writes it; PostgreSQL is
// Dex's default flavour, so it runs unrewritten), one migration per SERIALIZABLE transaction with a
// `migrations` row each, as dexidp/dex storage/sql/migrate.go `(*conn).migrate` and sql.go
// `flavorPostgres.executeTx` do. The one statement that differs by flavour after v0.244 is the
// `password.groups` default, which Dex's PostgreSQL migration writes as convert_to('[]', 'UTF8')
// (dexidp/dex 3bf25fd6 storage/sql/migrate.go). Rows as NetBird's Dex writes them: config is the
// bytea of Go's json.Marshal, grant_types json.Marshal(nil) = `null` (crud.go CreateConnector).
import { execFile, execFileSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import assert from 'node:assert/strict'
import { after, before } from 'node:test'
import { inspect, promisify } from 'node:util'
import pg from 'pg'
import { isWatchdogError, type ErrorCode } from '../../src/errors.js'
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/store.js'
import {
  defaultConnectors,
  goJsonMarshal,
  migrationsFor,
  type FixtureConnector,
  type FixtureSchema,
} from './idp-fixture.js'
import { freePort } from './net.js'
import { defer, type CleanupScope } from './cleanup.js'

const exec = promisify(execFile)

/** The test role's password: a canary (never in any message, log or file) with every quoting hazard. */
export const rolePassword = `pg-Canary#'q' \\ "x" @:/?&=%+ 9d2f7b1c`
export const roleName = 'watchdog'
/** A role pg_hba.conf rejects outright (SQLSTATE 28000). */
export const blockedRole = 'nbw_blocked'
const adminRole = 'nbw_admin'

export interface DsnParts {
  database: string
  user?: string
  password?: string
  host?: string
  port?: number
  sslmode?: string
}

export interface PgCluster {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly socketDir: string
  /** A superuser client (connected; the caller ends it). */
  admin(database?: string): Promise<pg.Client>
  /** A client as `user` (default the test role) on `database`. */
  connect(database: string, user?: string, password?: string): Promise<pg.Client>
  /** A new empty database owned by the test role. */
  createDatabase(): Promise<string>
  /** A URI (`uri`) or libpq key=value (`kv`) DSN, password quoted or percent-encoded as needed. */
  dsn(parts: DsnParts, form?: 'uri' | 'kv'): string
  /** `pg_ctl stop` (`immediate`: a crash, no checkpoint; the next start recovers from the WAL). */
  stop(mode: 'fast' | 'immediate'): Promise<void>
  start(): Promise<void>
  /** Stop the server and remove its directory. */
  destroy(): Promise<void>
}

/** Debian's PostgreSQL server binaries, newest major first; a loud failure when there are none. */
export function postgresBin(): string {
  const base = '/usr/lib/postgresql'
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (majors.length === 0) {
    throw new Error(
      'NO POSTGRESQL SERVER: these tests start a real PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql/<major>/bin). Install it with `bash scripts/test-env.sh` (as root).',
    )
  }
  return join(base, majors[0]!, 'bin')
}

/** Run a server binary as the `postgres` user (when root) with no secret on its command line. */
async function runPg(
  bin: string,
  args: readonly string[],
  cwd: string,
  timeoutMs = 120_000,
): Promise<string> {
  const asRoot = process.getuid?.() === 0
  const file = asRoot ? 'runuser' : bin
  const argv = asRoot ? ['-u', 'postgres', '--', bin, ...args] : [...args]
  try {
    const { stdout } = await exec(file, argv, { cwd, timeout: timeoutMs, encoding: 'utf8' })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string }
    throw new Error(
      `${bin} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || (e.stdout ?? '').trim() || e.message}`,
      { cause: err },
    )
  }
}

function pgOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const passwd = execFileSyncText('getent', ['passwd', 'postgres'])
  const fields = passwd.trim().split(':')
  if (fields.length < 4) {
    throw new Error(
      "NO postgres USER: install Debian's postgresql with `bash scripts/test-env.sh` (as root).",
    )
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) }
}

function execFileSyncText(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8' })
  } catch {
    return '' // no such user: reported by the caller
  }
}

function quoteKv(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/**
 * One cluster for a whole test file: started before its first test (after `first`, e.g. an engine
 * check), handed to `use`, stopped and removed after its last test.
 */
export function clusterForFile(use: (c: PgCluster) => void, first?: () => Promise<void>): void {
  // The file's scope: defer() registers its one hook here, which runs at the file's end.
  const hooks: Array<() => unknown> = []
  before(async () => {
    await first?.()
    use(await startCluster({ after: (fn) => hooks.push(fn) }))
  })
  after(async () => {
    for (const fn of hooks) await fn()
  })
}

/** The role's password must not show in any rendering of `value` (message, stack, JSON, inspect with causes). */
export function assertNoDsnPassword(value: unknown): void {
  const text = [
    String(value),
    JSON.stringify(value) ?? '',
    inspect(value, { depth: 10, showHidden: true }),
    value instanceof Error ? (value.stack ?? '') : '',
  ].join('\n')
  assert.ok(!text.includes(rolePassword), `the DSN password leaked: ${text}`)
  assert.ok(!text.includes('9d2f7b1c'), `part of the DSN password leaked: ${text}`)
}

/** `p` rejects with a WatchdogError of `code` (its message matching `why`) that carries no password. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: ErrorCode,
  why?: RegExp,
): Promise<Error> {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  assert.ok(isWatchdogError(caught, code), `expected ${code}, got ${inspect(caught)}`)
  if (why !== undefined) assert.match(caught.message, why)
  assertNoDsnPassword(caught)
  return caught
}

/**
 * Start a cluster (see the header); its cleanup (defer) stops and removes it. Retries on another
 * port when the one picked was taken meanwhile.
 */
export async function startCluster(t: CleanupScope): Promise<PgCluster> {
  const bin = postgresBin()
  const owner = pgOwner()
  const root = mkdtempSync(join(tmpdir(), 'netbird-watchdog-pg-'))
  writeFileSync(join(root, 'owner.pid'), `${process.pid}\n`)
  const dataDir = join(root, 'data')
  const socketDir = join(root, 'sock')
  const pwfile = join(root, 'pwfile')
  const adminPassword = randomBytes(18).toString('base64url')
  mkdirSync(socketDir, { mode: 0o700 })
  writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 })
  if (owner !== undefined) {
    for (const p of [root, socketDir, pwfile]) chownSync(p, owner.uid, owner.gid)
  }
  let port = 0
  let running = false
  const destroy = async (): Promise<void> => {
    if (running) {
      running = false
      try {
        await runPg(
          join(bin, 'pg_ctl'),
          ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '60', '-s'],
          root,
        )
      } catch {
        // Already down (a test killed it): the directory goes either way.
      }
    }
    rmSync(root, { recursive: true, force: true })
  }
  defer(t, destroy)

  await runPg(
    join(bin, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      adminRole,
      `--pwfile=${pwfile}`,
      '-A',
      'scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ],
    root,
  )
  rmSync(pwfile)
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${socketDir}'`,
    'fsync = off',
    'full_page_writes = off',
    'max_connections = 50',
    "shared_buffers = '16MB'",
    "password_encryption = 'scram-sha-256'",
  ].join('\n')
  writeFileSync(join(dataDir, 'postgresql.conf'), `\n${conf}\n`, { flag: 'a' })
  writeFileSync(
    join(dataDir, 'pg_hba.conf'),
    [
      'local all all scram-sha-256',
      `host all ${blockedRole} 127.0.0.1/32 reject`,
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  )
  const pgCtl = join(bin, 'pg_ctl')
  const start = async (): Promise<void> => {
    await runPg(
      pgCtl,
      [
        'start',
        '-D',
        dataDir,
        '-l',
        join(root, 'server.log'),
        '-w',
        '-t',
        '60',
        '-s',
        '-o',
        `-p ${port}`,
      ],
      root,
    )
    running = true
  }
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await start()
      break
    } catch (err) {
      if (attempt >= 3) throw err
    }
  }

  const clientFor = async (
    database: string,
    user: string,
    password: string,
  ): Promise<pg.Client> => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port,
      database,
      user,
      password,
      connectionTimeoutMillis: 10_000,
    })
    // A client whose server is killed under it emits 'error': heard here, the test sees its queries fail.
    c.on('error', () => undefined)
    await c.connect()
    return c
  }

  const admin = (database = 'postgres'): Promise<pg.Client> =>
    clientFor(database, adminRole, adminPassword)
  {
    const a = await admin()
    try {
      await a.query(`create role ${roleName} login password ${a.escapeLiteral(rolePassword)}`)
      await a.query(`create role ${blockedRole} login password ${a.escapeLiteral(rolePassword)}`)
    } finally {
      await a.end()
    }
  }
  let databases = 0
  return {
    host: '127.0.0.1',
    get port() {
      return port
    },
    socketDir,
    admin,
    connect: (database, user = roleName, password = rolePassword) =>
      clientFor(database, user, password),
    createDatabase: async () => {
      const name = `nbw_${++databases}`
      const a = await admin()
      try {
        await a.query(`create database ${name} owner ${roleName}`)
      } finally {
        await a.end()
      }
      return name
    },
    dsn: (parts, form = 'uri') => {
      const host = parts.host ?? '127.0.0.1'
      const p = parts.port ?? port
      const user = parts.user ?? roleName
      const password = parts.password ?? rolePassword
      const sslmode = parts.sslmode ?? 'disable'
      if (form === 'kv') {
        return `host=${quoteKv(host)} port=${p} dbname=${quoteKv(parts.database)} user=${quoteKv(user)} password=${quoteKv(password)} sslmode=${sslmode}`
      }
      const h = host.startsWith('/')
        ? encodeURIComponent(host)
        : host.includes(':')
          ? `[${host}]`
          : host
      return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${p}/${encodeURIComponent(parts.database)}?sslmode=${sslmode}`
    },
    stop: async (mode) => {
      await runPg(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60', '-s'], root)
      running = false
    },
    start,
    destroy,
  }
}

/** Dex's migrations for PostgreSQL (see the header). */
export function postgresMigrationsFor(schema: FixtureSchema): string[][] {
  const sqliteOnly = /add column groups bytea not null default '\[\]';/
  let replaced = 0
  const steps = migrationsFor(schema).map((step) =>
    step.map((stmt) => {
      if (!sqliteOnly.test(stmt)) return stmt
      replaced++
      return stmt.replace(
        sqliteOnly,
        "add column groups bytea not null default convert_to('[]', 'UTF8');",
      )
    }),
  )
  if (replaced !== (schema === 'v0.244' ? 0 : 1)) {
    throw new Error(`idp-fixture migrations changed: ${replaced} password.groups statements`)
  }
  return steps
}

/** Create Dex's schema in the database `client` is connected to, as Dex's migrate() does. */
export async function createDexSchema(client: pg.Client, schema: FixtureSchema): Promise<void> {
  await client.query(`
		create table if not exists migrations (
			num integer not null,
			at timestamptz not null
		);
	`)
  const steps = postgresMigrationsFor(schema)
  for (let i = 0; i < steps.length; i++) {
    await client.query('begin')
    try {
      await client.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;')
      for (const stmt of steps[i]!) await client.query(stmt)
      await client.query('insert into migrations (num, at) values ($1, now());', [i + 1])
      await client.query('commit')
    } catch (err) {
      await client.query('rollback')
      throw err
    }
  }
}

/** Insert connectors (and NetBird's two clients) as Dex stores them. */
export async function seedDex(
  client: pg.Client,
  schema: FixtureSchema,
  connectors: readonly FixtureConnector[] = defaultConnectors(),
): Promise<void> {
  const grantTypes = schema === 'grant-types'
  await client.query('begin')
  try {
    for (const c of connectors) {
      await insertConnector(client, grantTypes, c)
    }
    for (const [id, name, uris] of [
      ['netbird-dashboard', 'NetBird Dashboard', ['https://netbird.example.com/nb-auth']],
      ['netbird-cli', 'NetBird CLI', ['http://localhost:53000/']],
    ] as const) {
      await client.query(
        'insert into client (id, secret, redirect_uris, trusted_peers, public, name, logo_url) values ($1, $2, $3, $4, $5, $6, $7)',
        [id, '', Buffer.from(goJsonMarshal(uris)), Buffer.from('null'), true, name, ''],
      )
    }
    await client.query('commit')
  } catch (err) {
    await client.query('rollback')
    throw err
  }
}

/** Dex's CreateConnector: config as the []byte it was given, grant_types json.Marshal(nil). */
export async function insertConnector(
  client: pg.Client,
  grantTypes: boolean,
  c: FixtureConnector,
): Promise<void> {
  const config = c.config === null ? null : Buffer.from(c.config, 'utf8')
  const values: unknown[] = [c.id, c.type, c.name, c.resourceVersion ?? '', config]
  if (grantTypes) values.push(Buffer.from('null'))
  await client.query(
    grantTypes
      ? 'insert into connector (id, type, name, resource_version, config, grant_types) values ($1, $2, $3, $4, $5, $6)'
      : 'insert into connector (id, type, name, resource_version, config) values ($1, $2, $3, $4, $5)',
    values,
  )
}

/** A new database with Dex's schema and NetBird's rows; its DSN and name. */
export async function createDexDatabase(
  cluster: PgCluster,
  opts: { schema?: FixtureSchema; connectors?: readonly FixtureConnector[] } = {},
): Promise<{ database: string; dsn: string }> {
  const schema = opts.schema ?? 'v0.244'
  const database = await cluster.createDatabase()
  const c = await cluster.connect(database)
  try {
    await createDexSchema(c, schema)
    await seedDex(c, schema, opts.connectors)
  } finally {
    await c.end()
  }
  return { database, dsn: cluster.dsn({ database }) }
}

/** The raw connector rows (every column) as the server holds them, ordered by id. */
export async function rawConnectors(
  cluster: PgCluster,
  database: string,
): Promise<Array<Record<string, unknown>>> {
  const c = await cluster.connect(database)
  try {
    return (await c.query('select * from connector order by id collate "C"')).rows as Array<
      Record<string, unknown>
    >
  } finally {
    await c.end()
  }
}

/** A PostgresStore for `dsn`, closed when the test ends. */
export function openPgStore(
  t: CleanupScope,
  dsn: string,
  opts: PostgresStoreOptions = {},
): PostgresStore {
  const store = PostgresStore.fromDsn(dsn, opts)
  defer(t, () => store.close())
  return store
}
