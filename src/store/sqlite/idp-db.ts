// Opening NetBird's embedded-Dex SQLite database (idp.db) safely next to a live Dex, and reading its
// `connector` table. Every SQLite failure becomes a typed WatchdogError here, at the adapter boundary.
// - Reads leave no trace: a read-only connection to a WAL database leaves -wal/-shm files behind that
//   only a writer removes, so a read opens the file read-write with query_only on — unless a journal
//   or WAL file is already there (a writer at work, or one that died: then read-only, which also
//   reports a hot journal instead of rolling it back) or the file cannot be opened for writing.
// - The database file is never opened with a plain file descriptor while this process may hold a
//   SQLite lock on it: closing any descriptor of a file drops every POSIX lock the process holds on it
//   (sqlite.org/howtocorrupt.html §2.2). Existence checks use stat only.
// - Writes are durable: a write connection runs with synchronous=FULL (better-sqlite3 builds SQLite
//   with NORMAL for WAL databases, where a committed transaction can vanish on power loss).
import { existsSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { toConnectorRow, type ConnectorRow, type RawConnector } from '../../core/connectors.js'
import { WatchdogError, errorMessage } from '../../errors.js'

/**
 * Dex's mattn/go-sqlite3 connection waits 5000 ms on a lock; we wait as long before giving up
 * (docs/reference/netbird.md, "Where the IdP store lives").
 */
export const defaultBusyTimeoutMs = 5000

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
  const timeout = opts.busyTimeoutMs ?? defaultBusyTimeoutMs
  let db: Database.Database
  try {
    db = readonly
      ? openForReading(dbPath, timeout)
      : new Database(dbPath, { fileMustExist: true, timeout })
  } catch (err) {
    throw mapSqliteError(err, dbPath, readonly ? 'read' : 'write')
  }
  try {
    // Reading the schema forces SQLite to look at the header: a non-database fails here, not later.
    db.prepare('select count(*) from sqlite_master').get()
    if (!readonly) db.pragma('synchronous = FULL')
  } catch (err) {
    db.close()
    throw mapSqliteError(err, dbPath, readonly ? 'read' : 'write')
  }
  return db
}

function openForReading(dbPath: string, timeout: number): Database.Database {
  if (!existsSync(`${dbPath}-journal`) && !existsSync(`${dbPath}-wal`)) {
    try {
      const db = new Database(dbPath, { fileMustExist: true, timeout })
      db.pragma('query_only = 1')
      return db
    } catch (err) {
      // Not writable here (a read-only mount, file mode): read-only is all there is.
      const code = (err as { code?: unknown }).code
      if (typeof code !== 'string' || !/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(code)) throw err
    }
  }
  return new Database(dbPath, { readonly: true, fileMustExist: true, timeout })
}

/** Translate a better-sqlite3 error into a WatchdogError with a message an operator can act on. */
export function mapSqliteError(
  err: unknown,
  dbPath: string,
  intent: 'read' | 'write' = 'read',
): WatchdogError {
  if (err instanceof WatchdogError) return err
  const code = sqliteCode(err)
  const msg = errorMessage(err)
  if (code === 'SQLITE_NOTADB') {
    return new WatchdogError('DB_NOT_SQLITE', `not an SQLite database: ${dbPath}`, { cause: err })
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_CORRUPT_VTAB') {
    return new WatchdogError('DB_CORRUPT', `database is corrupt: ${dbPath}: ${msg}`, { cause: err })
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
      `${dbPath} is not writable: SQLite needs the file and its directory (for the rollback journal) writable; nothing was changed`,
      { cause: err, change: 'none' },
    )
  }
  if (code?.startsWith('SQLITE_CANTOPEN') === true || code?.startsWith('SQLITE_IOERR') === true) {
    return intent === 'write'
      ? new WatchdogError('DB_READ_ONLY', `cannot open ${dbPath} for writing: ${msg}`, {
          cause: err,
        })
      : new WatchdogError('DB_UNREADABLE', `cannot read ${dbPath}: ${msg}`, { cause: err })
  }
  // Anything else (a full disk, out of memory, an unexpected library error) says nothing about the
  // file's health: never DB_CORRUPT, which would let a restore treat a healthy database as unreadable.
  return intent === 'write'
    ? new WatchdogError('REPAIR_FAILED', `cannot write ${dbPath}: ${msg}`, { cause: err })
    : new WatchdogError('DB_UNREADABLE', `cannot read ${dbPath}: ${msg}`, { cause: err })
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
    // A TEXT config's exact bytes too: better-sqlite3 decodes TEXT, replacing what is not UTF-8.
    raw = db
      .prepare(
        "select id, type, name, resource_version, config, case when typeof(config) = 'text' then cast(config as blob) end as config_bytes from connector order by rowid",
      )
      .all() as RawConnector[]
  } catch (err) {
    throw mapSqliteError(err, dbPath)
  }
  return raw.map(toConnectorRow)
}

/** Read the connector table, opening idp.db for reading with a busy timeout. */
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

export function integrityCheck(db: Database.Database): string {
  const rows = db.prepare('pragma integrity_check').all() as { integrity_check: string }[]
  return rows.map((r) => r.integrity_check).join('; ')
}

/**
 * Roll back a hot journal left by a writer that died mid-transaction (what SQLite does on any read-write
 * open, and what Dex would do on its next start). Changes nothing else.
 */
export function rollBackHotJournal(dbPath: string, opts: { busyTimeoutMs?: number } = {}): void {
  const db = openIdpDb(dbPath, { readonly: false, ...opts })
  db.close()
}
