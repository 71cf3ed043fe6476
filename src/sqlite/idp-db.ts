// Reads NetBird's embedded-Dex database (idp.db): opening it safely next to a live Dex, and the
// `connector` table. Every SQLite failure becomes a typed WatchdogError here, at the adapter boundary.
import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { WatchdogError, errorMessage } from '../errors.js'

export interface ConnectorRow {
  id: string
  type: string
  name: string
  resourceVersion: string
  /**
   * Parsed JSON object, or null when the column is NULL (the `local` connector) or when the stored
   * config cannot be used (then `configError` says why).
   */
  config: Record<string, unknown> | null
  /** The stored JSON text exactly as it is in the column (UTF-8 decoded). */
  rawConfig: string | null
  /**
   * SQLite storage class of `config`: Dex writes a BLOB; a manual sqlite3 `replace()` leaves TEXT;
   * `other` is an INTEGER or REAL (never valid, always with `configError`).
   */
  storage: 'blob' | 'text' | 'null' | 'other'
  /**
   * Set when the stored config is not a JSON object (e.g. after a botched manual `sqlite3` edit); Dex
   * logs `failed to parse connector` and skips such a connector. Never quotes the config text (it may
   * hold a client secret).
   */
  configError?: string
}

/**
 * Dex's mattn/go-sqlite3 connection waits 5000 ms on a lock; we wait as long before giving up
 * (shared/netbird-facts.md §1.2).
 */
export const defaultBusyTimeoutMs = 5000

/** Connector types whose config carries an `issuer` (NetBird stores every OIDC flavour as Dex `oidc`). */
const oidcTypes: ReadonlySet<string> = new Set(['oidc'])

export interface OpenOptions {
  readonly?: boolean
  busyTimeoutMs?: number
}

/** Open idp.db; maps "missing", "not a database", "read-only" to typed errors. Caller closes. */
export function openIdpDb(dbPath: string, opts: OpenOptions = {}): Database.Database {
  const readonly = opts.readonly ?? true
  let isFile: boolean
  try {
    isFile = statSync(dbPath).isFile()
  } catch (err) {
    throw new WatchdogError('DB_NOT_FOUND', `database not found: ${dbPath}`, { cause: err })
  }
  if (!isFile) throw new WatchdogError('DB_NOT_FOUND', `not a regular file: ${dbPath}`)
  let db: Database.Database
  try {
    db = new Database(dbPath, {
      readonly,
      fileMustExist: true,
      timeout: opts.busyTimeoutMs ?? defaultBusyTimeoutMs,
    })
  } catch (err) {
    throw mapSqliteError(err, dbPath)
  }
  try {
    // Reading the schema forces SQLite to look at the header: a non-database fails here, not later.
    db.prepare('select count(*) from sqlite_master').get()
  } catch (err) {
    db.close()
    throw mapSqliteError(err, dbPath)
  }
  return db
}

/** Translate a better-sqlite3 error into a WatchdogError with a message an operator can act on. */
export function mapSqliteError(err: unknown, dbPath: string): WatchdogError {
  if (err instanceof WatchdogError) return err
  const code = sqliteCode(err)
  const msg = errorMessage(err)
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CORRUPT_VTAB') {
    return code === 'SQLITE_NOTADB'
      ? new WatchdogError('DB_NOT_SQLITE', `not an SQLite database: ${dbPath}`, { cause: err })
      : new WatchdogError('DB_CORRUPT', `database is corrupt: ${dbPath}: ${msg}`, { cause: err })
  }
  if (code?.startsWith('SQLITE_BUSY') === true || code?.startsWith('SQLITE_LOCKED') === true) {
    return new WatchdogError(
      'DB_LOCKED',
      `database is locked by another process (waited for the busy timeout): ${dbPath}`,
      { cause: err },
    )
  }
  if (code === 'SQLITE_READONLY_ROLLBACK') {
    return new WatchdogError(
      'DB_HOT_JOURNAL',
      `${dbPath} has a hot journal from an interrupted write; it is rolled back the next time a writer opens it (e.g. \`repair\` or NetBird's start)`,
      { cause: err },
    )
  }
  if (code?.startsWith('SQLITE_READONLY') === true || code === 'SQLITE_PERM') {
    return new WatchdogError(
      'DB_READ_ONLY',
      `database (or its directory) is read-only: ${dbPath}`,
      {
        cause: err,
      },
    )
  }
  if (code?.startsWith('SQLITE_CANTOPEN') === true) {
    return new WatchdogError('DB_READ_ONLY', `cannot open ${dbPath} for writing: ${msg}`, {
      cause: err,
    })
  }
  return new WatchdogError('DB_CORRUPT', `cannot read ${dbPath}: ${msg}`, { cause: err })
}

function sqliteCode(err: unknown): string | undefined {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

export function hasConnectorTable(db: Database.Database): boolean {
  return (
    db.prepare("select 1 from sqlite_master where type = 'table' and name = 'connector'").get() !==
    undefined
  )
}

interface RawConnector {
  id: unknown
  type: unknown
  name: unknown
  resource_version: unknown
  config: unknown
}

/** Read every connector row through an open handle (inside the caller's transaction, if any). */
export function readConnectorsFrom(db: Database.Database, dbPath: string): ConnectorRow[] {
  let raw: RawConnector[]
  try {
    if (!hasConnectorTable(db)) {
      throw new WatchdogError(
        'DB_NO_CONNECTOR_TABLE',
        `${dbPath} has no connector table: not a Dex/NetBird idp.db (or Dex never started on it)`,
      )
    }
    raw = db
      .prepare('select id, type, name, resource_version, config from connector order by rowid')
      .all() as RawConnector[]
  } catch (err) {
    throw mapSqliteError(err, dbPath)
  }
  return raw.map((r) => toConnectorRow(r))
}

function toConnectorRow(r: RawConnector): ConnectorRow {
  const id = String(r.id)
  const base = {
    id,
    type: String(r.type),
    name: String(r.name),
    resourceVersion: String(r.resource_version),
  }
  let rawConfig: string | null
  let storage: ConnectorRow['storage']
  if (r.config === null || r.config === undefined) {
    rawConfig = null
    storage = 'null'
  } else if (Buffer.isBuffer(r.config)) {
    rawConfig = r.config.toString('utf8')
    storage = 'blob'
  } else if (typeof r.config === 'string') {
    rawConfig = r.config
    storage = 'text'
  } else {
    // An INTEGER or REAL column value: not JSON text at all. Reported per row, like Dex does.
    return {
      ...base,
      config: null,
      rawConfig:
        typeof r.config === 'number' || typeof r.config === 'bigint' ? String(r.config) : null,
      storage: 'other',
      configError: `connector ${JSON.stringify(id)}: config is a ${typeof r.config}, not JSON text`,
    }
  }
  if (rawConfig === null) return { ...base, config: null, rawConfig, storage }
  const parsed = parseConfig(id, rawConfig)
  return 'error' in parsed
    ? { ...base, config: null, rawConfig, storage, configError: parsed.error }
    : { ...base, config: parsed.value, rawConfig, storage }
}

/** Parse a stored config; the error never quotes the text (it can contain a client secret). */
function parseConfig(
  id: string,
  text: string,
): { value: Record<string, unknown> } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // The parser's message quotes the offending text: leave it out.
    return { error: `connector ${JSON.stringify(id)}: config is not valid JSON` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `connector ${JSON.stringify(id)}: config is not a JSON object` }
  }
  return { value: value as Record<string, unknown> }
}

/** Read the connector table, opening idp.db read-only with a busy timeout. */
export function readConnectors(
  dbPath: string,
  opts: { busyTimeoutMs?: number } = {},
): ConnectorRow[] {
  const db = openIdpDb(dbPath, { readonly: true, ...opts })
  try {
    return readConnectorsFrom(db, dbPath)
  } finally {
    db.close()
  }
}

/** The stored issuer of an OIDC-type connector; undefined for local/google/microsoft and others. */
export function connectorIssuer(row: ConnectorRow): string | undefined {
  if (
    !oidcTypes.has(row.type.toLowerCase()) ||
    row.config === null ||
    row.configError !== undefined
  )
    return undefined
  const issuer = row.config.issuer
  return typeof issuer === 'string' ? issuer : undefined
}

/**
 * Roll back a hot journal left by a writer that died mid-transaction (what SQLite does on any read-write
 * open, and what Dex would do on its next start). Changes nothing else.
 */
export function rollBackHotJournal(dbPath: string, opts: { busyTimeoutMs?: number } = {}): void {
  const db = openIdpDb(dbPath, { readonly: false, ...opts })
  db.close()
}
