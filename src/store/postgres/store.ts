// The PostgreSQL adapter of the IdP store port (store/port.ts): Dex's storage in a PostgreSQL database
// (NetBird ≥ v0.66.1, `authStore.engine: postgres`). Dex writes through the same database, so:
// - a write transaction locks every connector row `FOR UPDATE` before the caller sees them (Dex's
//   UpdateConnector waits; a lock held elsewhere is waited for lock_timeout, then DB_LOCKED with
//   nothing changed). From then on it sees exactly those rows — which nobody else can change until it
//   ends — and not the ones Dex creates meanwhile (not locked, never touched). It commits with
//   synchronous_commit on, and is rolled back when the caller throws, or by the server when the
//   connection dies first;
// - a restore locks the whole table (EXCLUSIVE: Dex still reads, nobody writes) and puts every row of
//   the backup back in one transaction, after a verified backup of what it replaces;
// - reads take no row locks. Every wait is bounded (store/postgres/connection.ts).
// Why ~650 lines: the transaction, the restore and the error mapping share one connection discipline
// (no commit on a failed connection, the server asked whether a commit landed); split, each part
// would have to restate it.
import type { ConnectionOptions } from 'node:tls'
import type { Pool, PoolClient, QueryResult } from 'pg'
import type { ConnectorRow } from '../../core/connectors.js'
import { WatchdogError, errorMessage, type ErrorCode } from '../../errors.js'
import type { BackupInfo, VerifyResult } from '../backup-files.js'
import type {
  BackupRequest,
  IdpStore,
  RestoreResult,
  StoreIdentity,
  StoreTransaction,
} from '../port.js'
import { readPostgresBackup, verifyPostgresBackup, writePostgresBackup } from './backup.js'
import {
  defaultTimeouts,
  isTlsFallbackError,
  mapPgError,
  poolConfig,
  sqlState,
  tlsChoice,
  type ErrorContext,
  type PgTimeouts,
  type TlsChoice,
} from './connection.js'
import {
  dsnIdentity,
  dsnLabel,
  parseDsn,
  type ParseOptions,
  type PgSettings,
} from '../../core/dsn.js'
import {
  describeSql,
  dexSchemaOf,
  sameRecords,
  selectSql,
  sortRecords,
  toRecord,
  toRow,
  type DexSchema,
  type PgConnectorRecord,
} from './schema.js'

export type PostgresStoreOptions = Partial<PgTimeouts>

type Rows = Record<string, unknown>[]

/** One pooled connection, checked out: its errors are caught (an unheard 'error' would end the process). */
class Session {
  readonly #client: PoolClient
  #broken = false
  #released = false
  readonly #onError = (): void => {
    this.#broken = true
  }

  constructor(client: PoolClient) {
    this.#client = client
    client.on('error', this.#onError)
  }

  async query(text: string, values?: unknown[]): Promise<Rows> {
    return (await this.#run(text, values)).rows
  }

  /** Rows a data-changing statement touched. */
  async change(text: string, values: unknown[]): Promise<number> {
    return (await this.#run(text, values)).rowCount ?? 0
  }

  async #run(text: string, values?: unknown[]): Promise<QueryResult<Record<string, unknown>>> {
    try {
      return await this.#client.query<Record<string, unknown>>(text, values)
    } catch (err) {
      if (sqlState(err) === undefined) this.#broken = true
      throw err
    }
  }

  /** The connection failed (or a statement on it timed out client-side): never commit on it. */
  get broken(): boolean {
    return this.#broken
  }

  /** ROLLBACK; false when it failed (the connection is gone: the server rolls back on its own). */
  async rollback(): Promise<boolean> {
    try {
      await this.#client.query('rollback')
      return true
    } catch {
      this.#broken = true
      return false
    }
  }

  /** Back to the pool, or closed when broken or when the transaction's state is unknown. Idempotent. */
  release(destroy = false): void {
    if (this.#released) return
    this.#released = true
    this.#client.removeListener('error', this.#onError)
    this.#client.release(destroy || this.#broken)
  }
}

/** node-postgres, once something first connects (see #getPool). */
let nodePostgres: Promise<typeof import('pg')> | undefined

export class PostgresStore implements IdpStore {
  readonly engine = 'postgres' as const
  readonly label: string
  readonly identity: string
  readonly #settings: PgSettings
  readonly #timeouts: PgTimeouts
  #tls: TlsChoice | undefined
  #ssl: false | ConnectionOptions | undefined
  #pool: Pool | undefined
  /** How many times close() ran: a pool is never made after a close that came during its making. */
  #closes = 0

  constructor(settings: PgSettings, opts: PostgresStoreOptions = {}) {
    this.#settings = settings
    // An option given as undefined (an unset config key) keeps the default.
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined))
    this.#timeouts = { ...defaultTimeouts, ...given }
    this.label = dsnLabel(settings)
    this.identity = dsnIdentity(settings)
  }

  /** A store for a DSN (core/dsn.ts); a malformed one throws CONFIG_INVALID or USAGE. */
  static fromDsn(dsn: string, opts: PostgresStoreOptions & ParseOptions = {}): PostgresStore {
    const { code, source, ...timeouts } = opts
    return new PostgresStore(
      parseDsn(dsn, {
        ...(code !== undefined ? { code } : {}),
        ...(source !== undefined ? { source } : {}),
      }),
      timeouts,
    )
  }

  /**
   * The cluster's system identifier and the database's OID, and the connector ids. A store that cannot
   * be asked says so by leaving them out (undefined): it is not an error here.
   */
  async identify(): Promise<StoreIdentity> {
    try {
      return await this.#withSession('cannot identify', 'DB_UNREADABLE', async (s) => {
        const instance = await this.#instance(s)
        const schema = await this.#schema(s)
        const connectors = (await this.#select(s, schema, false)).map((r) => r.id)
        return { engine: this.engine, label: this.label, instance, connectors }
      })
    } catch {
      return { engine: this.engine, label: this.label }
    }
  }

  readConnectors(): Promise<ConnectorRow[]> {
    return this.#withSession('cannot read the connectors of', 'DB_UNREADABLE', async (s) => {
      const schema = await this.#schema(s)
      return (await this.#select(s, schema, false)).map(toRow)
    })
  }

  check(): Promise<string> {
    return this.#withSession('cannot check', 'DB_UNREADABLE', async (s) => {
      const schema = await this.#schema(s)
      await this.#select(s, schema, false)
      const [row] = await s.query('select pg_is_in_recovery() as standby')
      if (row?.standby === true) {
        return `${this.label} is a read-only standby (in recovery): a repair cannot write there; point the DSN at the primary`
      }
      return 'ok'
    })
  }

  async backup(request: BackupRequest): Promise<BackupInfo> {
    // One consistent snapshot of the table; no locks beyond what any reader takes.
    const snapshot = await this.#withSession('cannot back up', 'DB_UNREADABLE', async (s) => {
      await s.query('begin isolation level repeatable read read only')
      const schema = await this.#schema(s)
      const records = await this.#select(s, schema, false)
      const serverVersion = await this.#version(s)
      const instance = await this.#instance(s)
      await s.query('commit')
      return { schema, records, serverVersion, instance }
    })
    return await this.#writeBackup(snapshot, request)
  }

  verifyBackup(info: BackupInfo): Promise<VerifyResult> {
    return verifyPostgresBackup(info)
  }

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const s = await this.#connect('cannot lock the connectors of')
    try {
      const { schema, ids } = await this.#lockAll(s)
      const writeCtx = this.#ctx('cannot change a connector in', 'REPAIR_FAILED')
      let xid: string | undefined
      const tx: StoreTransaction = {
        readConnectors: async () =>
          (
            await this.#guard(this.#ctx('cannot read the connectors of', 'DB_UNREADABLE'), () =>
              this.#select(s, schema, false, ids),
            )
          ).map(toRow),
        check: () =>
          this.#guard(this.#ctx('cannot check', 'DB_UNREADABLE'), async () => {
            await this.#select(s, await this.#schema(s), false, ids)
            return 'ok'
          }),
        backup: async (request) => {
          const snapshot = await this.#guard(
            this.#ctx('cannot back up', 'DB_UNREADABLE'),
            async () => ({
              schema,
              records: await this.#select(s, schema, false, ids),
              serverVersion: await this.#version(s),
              instance: await this.#instance(s),
            }),
          )
          return await this.#writeBackup(snapshot, request)
        },
        writeConfig: (row, config, resourceVersion) =>
          this.#guard(writeCtx, async () => {
            xid ??= await this.#xid(s)
            // bytea holds exactly these bytes (a string: its UTF-8), as Dex's []byte does.
            const n = await s.change(
              'update connector set config = $1, resource_version = $2 where id = $3',
              [
                typeof config === 'string' ? Buffer.from(config, 'utf8') : Buffer.from(config),
                resourceVersion,
                row.id,
              ],
            )
            if (n !== 1) {
              throw new WatchdogError(
                'REPAIR_FAILED',
                `update of connector ${JSON.stringify(row.id)} in ${this.label} changed ${n} rows`,
              )
            }
          }),
      }
      let result: T
      try {
        result = await fn(tx)
      } catch (err) {
        await s.rollback()
        throw err
      }
      await this.#commit(s, xid)
      return result
    } finally {
      s.release()
    }
  }

  async restore(info: BackupInfo, request: BackupRequest): Promise<RestoreResult> {
    if (info.manifest.engine !== 'postgres') {
      throw new WatchdogError(
        'RESTORE_REFUSED',
        `backup ${info.id} is not of a PostgreSQL store: not restoring it into ${this.label}`,
      )
    }
    const content = readPostgresBackup(info)
    const wanted = sortRecords(content.records)
    let preRestore: BackupInfo | undefined
    const s = await this.#connect('cannot restore')
    try {
      let xid: string | undefined
      try {
        await s.query('begin isolation level read committed')
        // EXCLUSIVE: Dex can still read, nobody can write (insert included) until the commit.
        await s.query('lock table connector in exclusive mode')
        await s.query('set local synchronous_commit = on')
        const schema = await this.#schema(s)
        refuseLostGrantTypes(schema, content.grantTypes, wanted, info.id, this.label)
        const current = await this.#select(s, schema, false)
        preRestore = await this.#writeBackup(
          {
            schema,
            records: current,
            serverVersion: await this.#version(s),
            instance: await this.#instance(s),
          },
          { ...request, reason: 'pre-restore' },
        )
        xid = await this.#xid(s)
        await s.change('delete from connector where not (id = any($1::text[]))', [
          wanted.map((r) => r.id),
        ])
        // grant_types is put back only where the table and the backup both have it.
        const withGrants = schema.grantTypes && content.grantTypes
        for (const rec of wanted) {
          const now = current.find((c) => c.id === rec.id)
          // Rows that already hold the backup's values are left alone.
          if (now !== undefined && sameRecords([now], [rec], { grantTypes: withGrants })) continue
          await s.change(...writeRecordSql(rec, now !== undefined, withGrants))
        }
        const after = await this.#select(s, schema, false)
        const problem = restoredProblem(after, wanted, withGrants)
        if (problem !== undefined) {
          throw new WatchdogError('REPAIR_FAILED', `verification before commit failed: ${problem}`)
        }
      } catch (err) {
        await s.rollback()
        throw this.#restoreError(err, info, preRestore)
      }
      await this.#commit(s, xid)
    } finally {
      s.release()
    }
    // What a fresh connection (Dex's) sees now.
    const grantTypes = content.grantTypes
    let check: string | undefined
    try {
      check = await this.#withSession('cannot read back', 'DB_UNREADABLE', async (r) => {
        const schema = await this.#schema(r)
        return restoredProblem(
          await this.#select(r, schema, false),
          wanted,
          schema.grantTypes && grantTypes,
        )
      })
    } catch (err) {
      const mapped = mapPgError(err, this.#ctx('cannot read back', 'DB_UNREADABLE'))
      throw new WatchdogError(
        mapped.code,
        `${this.label} was restored from ${info.id} (committed), but reading it back failed: ${mapped.message}`,
        { cause: mapped },
      )
    }
    if (check !== undefined) {
      throw new WatchdogError(
        'REPAIR_FAILED',
        `${this.label} was restored from ${info.id} but reads back differently (${check}); the state before is kept in ${preRestore?.path ?? 'no backup'}`,
      )
    }
    return { restored: info, preRestoreBackup: preRestore?.path ?? null }
  }

  async close(): Promise<void> {
    this.#closes++
    const pool = this.#pool
    this.#pool = undefined
    if (pool !== undefined) await pool.end()
  }

  #ctx(action: string, fallback: ErrorCode): ErrorContext {
    return {
      label: this.label,
      secret: this.#settings.password,
      timeouts: this.#timeouts,
      action,
      fallback,
    }
  }

  async #getPool(): Promise<Pool> {
    // node-postgres is loaded on first use, so a daemon on a SQLite store never loads it (about
    // 1.5 MB of resident memory, BENCHMARKS.md). Nothing awaits between the check and the set below.
    const closes = this.#closes
    const pg = (await (nodePostgres ??= import('pg'))).default
    if (this.#closes !== closes) throw new Error('the store was closed while connecting')
    if (this.#pool !== undefined) return this.#pool
    this.#tls ??= tlsChoice(this.#settings)
    this.#ssl ??= this.#tls.first
    const pool = new pg.Pool(poolConfig(this.#settings, this.#timeouts, this.#ssl))
    // An idle connection the server dropped (restart, idle timeout): the pool discards it and the
    // next use connects afresh; the failure that matters surfaces there, typed.
    pool.on('error', () => undefined)
    this.#pool = pool
    return pool
  }

  async #connect(action: string): Promise<Session> {
    const ctx = this.#ctx(action, 'DB_UNREADABLE')
    try {
      return new Session(await (await this.#getPool()).connect())
    } catch (err) {
      const tls = this.#tls
      if (
        tls?.fallback === undefined ||
        this.#ssl !== tls.first ||
        !isTlsFallbackError(err, tls.first)
      ) {
        throw mapPgError(err, ctx)
      }
      // sslmode prefer/allow: the other way, from now on.
      await this.close()
      this.#ssl = tls.fallback
      try {
        return new Session(await (await this.#getPool()).connect())
      } catch (again) {
        throw mapPgError(again, ctx)
      }
    }
  }

  async #withSession<T>(
    action: string,
    fallback: ErrorCode,
    fn: (s: Session) => Promise<T>,
  ): Promise<T> {
    const s = await this.#connect(action)
    try {
      return await this.#guard(this.#ctx(action, fallback), () => fn(s))
    } catch (err) {
      await s.rollback()
      throw err
    } finally {
      s.release()
    }
  }

  /** Run `fn`, mapping what it throws (a WatchdogError stays as it is). */
  async #guard<T>(ctx: ErrorContext, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw mapPgError(err, ctx)
    }
  }

  async #schema(s: Session): Promise<DexSchema> {
    return dexSchemaOf(await s.query(describeSql), this.label)
  }

  /** Every connector row, or only those with `ids` (the rows a transaction locked). */
  async #select(
    s: Session,
    schema: DexSchema,
    forUpdate: boolean,
    ids?: readonly string[],
  ): Promise<PgConnectorRecord[]> {
    const rows =
      ids === undefined
        ? await s.query(selectSql(schema, { forUpdate }))
        : await s.query(selectSql(schema, { forUpdate, onlyIds: true }), [ids])
    return rows.map((r) => toRecord(r, schema))
  }

  /** The server's version, for the manifest (asked each time: a server can be upgraded under a daemon). */
  async #version(s: Session): Promise<string> {
    const [row] = await s.query("select current_setting('server_version') as v")
    return typeof row?.v === 'string' ? row.v : 'unknown'
  }

  /** The transaction's id, to learn its fate if the connection dies during COMMIT. */
  async #xid(s: Session): Promise<string> {
    const [row] = await s.query('select txid_current()::text as xid')
    return String(row?.xid)
  }

  /**
   * BEGIN (READ COMMITTED) and lock every connector row as it is now: a row another writer holds is
   * waited for (lock_timeout), then read as that writer committed it. Returns the locked ids: the
   * transaction works on those rows only.
   */
  async #lockAll(s: Session): Promise<{ schema: DexSchema; ids: string[] }> {
    try {
      await s.query('begin isolation level read committed')
      await s.query('set local synchronous_commit = on')
      const schema = await this.#schema(s)
      const locked = await this.#select(s, schema, true)
      return { schema, ids: locked.map((r) => r.id) }
    } catch (err) {
      await s.rollback()
      throw mapPgError(err, this.#ctx('cannot lock the connectors of', 'DB_UNREADABLE'))
    }
  }

  /**
   * COMMIT. When the connection dies before the answer arrives, the outcome is unknown to us: the
   * connection is dropped (so the server ends the transaction if it had not committed) and the
   * server is asked what became of the transaction id (txid_status).
   */
  async #commit(s: Session, xid: string | undefined): Promise<void> {
    const ctx = this.#ctx('cannot commit the change to', 'REPAIR_FAILED')
    if (s.broken) {
      // Dropping the connection without COMMIT is a rollback.
      s.release(true)
      throw new WatchdogError(
        'STORE_UNREACHABLE',
        `the connection to ${this.label} failed during the transaction, so it was not committed: the server rolls it back, nothing was changed`,
        { change: 'none' },
      )
    }
    try {
      await s.query('commit')
      return
    } catch (err) {
      if (sqlState(err) !== undefined || xid === undefined) {
        // The server answered with an error: it did not commit.
        const mapped = mapPgError(err, ctx)
        throw new WatchdogError(
          mapped.code,
          `${mapped.message} The transaction was not committed: nothing was changed.`,
          { cause: mapped, change: 'none' },
        )
      }
      s.release(true)
      const status = await this.#xidStatus(xid)
      if (status === 'committed') return
      if (status === 'aborted') {
        throw new WatchdogError(
          'STORE_UNREACHABLE',
          `the connection to ${this.label} was lost while committing; the server rolled the change back, nothing was changed`,
          { cause: mapPgError(err, ctx), change: 'none' },
        )
      }
      throw new WatchdogError(
        'STORE_UNREACHABLE',
        `the connection to ${this.label} was lost while committing, and the server cannot say (now) whether it committed: the change was applied whole or not at all`,
        { cause: mapPgError(err, ctx), change: 'unknown' },
      )
    }
  }

  /** txid_status of a transaction, asked on a new connection until it is no longer running. */
  async #xidStatus(xid: string): Promise<string | undefined> {
    const deadline = Date.now() + this.#timeouts.connectTimeoutMs
    for (;;) {
      let status: string | undefined
      try {
        status = await this.#withSession('cannot ask', 'DB_UNREADABLE', async (s) => {
          const [row] = await s.query('select txid_status($1::bigint) as status', [xid])
          return typeof row?.status === 'string' ? row.status : undefined
        })
      } catch {
        return undefined // the server is gone too: the outcome stays unknown
      }
      if (status !== 'in progress' || Date.now() >= deadline) return status
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  async #writeBackup(
    snapshot: {
      schema: DexSchema
      records: readonly PgConnectorRecord[]
      serverVersion: string
      instance: string
    },
    request: BackupRequest,
  ): Promise<BackupInfo> {
    return await writePostgresBackup(
      {
        source: this.identity,
        serverVersion: snapshot.serverVersion,
        grantTypes: snapshot.schema.grantTypes,
        records: snapshot.records,
      },
      request,
      { label: this.label, instance: snapshot.instance },
    )
  }

  /**
   * `<system identifier>/<database OID>`: the cluster (pg_control_system(), which PUBLIC may call by
   * default; asked only when this role may, so a transaction is never aborted by a refusal) and the
   * database in it. Neither is a secret.
   */
  async #instance(s: Session): Promise<string> {
    const [may] = await s.query(
      "select has_function_privilege('pg_control_system()', 'execute') as may, (select oid::text from pg_database where datname = current_database()) as oid",
    )
    let system = ''
    if (may?.may === true) {
      const [row] = await s.query('select system_identifier::text as id from pg_control_system()')
      if (typeof row?.id === 'string') system = row.id
    }
    return `${system}/${typeof may?.oid === 'string' ? may.oid : ''}`
  }

  #restoreError(err: unknown, info: BackupInfo, pre: BackupInfo | undefined): WatchdogError {
    const mapped = mapPgError(err, this.#ctx('cannot restore', 'REPAIR_FAILED'))
    if (mapped.code !== 'REPAIR_FAILED') return mapped
    return new WatchdogError(
      'REPAIR_FAILED',
      `restore of ${this.label} from ${info.id} failed and was rolled back, nothing was changed: ${errorMessage(mapped)}${pre !== undefined ? ` (a backup of the state before is in ${pre.path})` : ''}`,
      { cause: mapped, change: 'none' },
    )
  }
}

/**
 * A backup taken with Dex's newer schema (grant_types) restored into a table without that column
 * would lose per-connector grant types: refused, unless every row has none (NULL or JSON null).
 */
function refuseLostGrantTypes(
  schema: DexSchema,
  backupHasThem: boolean,
  records: readonly PgConnectorRecord[],
  id: string,
  label: string,
): void {
  if (schema.grantTypes || !backupHasThem) return
  const jsonNull = Buffer.from('null')
  const lost = records.filter((r) => r.grantTypes != null && !r.grantTypes.equals(jsonNull))
  if (lost.length > 0) {
    throw new WatchdogError(
      'RESTORE_REFUSED',
      `backup ${id} has grant types on connector(s) ${lost.map((r) => JSON.stringify(r.id)).join(', ')}, but ${label}'s connector table has no grant_types column (an older Dex): not restoring`,
    )
  }
}

/** UPDATE (the row exists) or INSERT one record; grant_types only `withGrants`. */
function writeRecordSql(
  rec: PgConnectorRecord,
  exists: boolean,
  withGrants: boolean,
): [string, unknown[]] {
  const values: unknown[] = [rec.type, rec.name, rec.resourceVersion, rec.config]
  if (withGrants) values.push(rec.grantTypes ?? null)
  values.push(rec.id)
  const n = values.length
  if (exists) {
    const grants = withGrants ? ', grant_types = $5' : ''
    return [
      `update connector set type = $1, name = $2, resource_version = $3, config = $4${grants} where id = $${n}`,
      values,
    ]
  }
  return [
    `insert into connector (type, name, resource_version, config${withGrants ? ', grant_types' : ''}, id) values (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
    values,
  ]
}

function restoredProblem(
  now: readonly PgConnectorRecord[],
  wanted: readonly PgConnectorRecord[],
  grantTypes: boolean,
): string | undefined {
  return sameRecords(now, wanted, { grantTypes })
    ? undefined
    : 'the connector rows differ from the backup'
}
