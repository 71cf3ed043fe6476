// The SQLite adapter of the IdP store port (store/port.ts): NetBird's idp.db. A write transaction is
// BEGIN IMMEDIATE (the RESERVED lock keeps Dex from committing, while it can still read) with the busy
// timeout Dex itself uses, on a connection that syncs FULL.
import { resolve } from 'node:path'
import type Database from 'better-sqlite3'
import type { ConnectorRow } from '../../core/connectors.js'
import { WatchdogError } from '../../errors.js'
import type { BackupInfo, VerifyResult } from '../backup-files.js'
import type {
  BackupRequest,
  IdpStore,
  RestoreResult,
  StoreIdentity,
  StoreTransaction,
} from '../port.js'
import { isDsn, looksLikeDsn, notADsn } from '../../core/dsn.js'
import { backupSqlite, fileIdentity, restoreSqlite, verifySqliteBackup } from './backup.js'
import {
  defaultBusyTimeoutMs,
  integrityCheck,
  mapSqliteError,
  openIdpDb,
  readConnectors,
  readConnectorsFrom,
} from './idp-db.js'

export class SqliteStore implements IdpStore {
  readonly engine = 'sqlite' as const
  readonly path: string
  readonly #busyTimeoutMs: number

  constructor(dbPath: string, opts: { busyTimeoutMs?: number } = {}) {
    // A PostgreSQL DSN taken for a file name would be printed in every "not found" message and log
    // line, password included: refuse it without quoting it.
    if (isDsn(dbPath)) {
      throw new WatchdogError(
        'USAGE',
        'a PostgreSQL connection string was given where the path of the SQLite idp.db is expected (it is not shown: it may hold a password); name a PostgreSQL store with --db, idp.dsn or NETBIRD_WATCHDOG_IDP_DSN instead',
      )
    }
    if (looksLikeDsn(dbPath)) {
      throw new WatchdogError(
        'USAGE',
        `the path of the SQLite idp.db is not a valid DSN and not a file path: ${notADsn}; name a PostgreSQL store with --db, idp.dsn or NETBIRD_WATCHDOG_IDP_DSN`,
      )
    }
    this.path = resolve(dbPath)
    this.#busyTimeoutMs = opts.busyTimeoutMs ?? defaultBusyTimeoutMs
  }

  get label(): string {
    return this.path
  }

  get identity(): string {
    return this.path
  }

  /** The file's `dev:ino` and its connector ids (undefined when the file cannot be read). */
  identify(): Promise<StoreIdentity> {
    let connectors: string[] | undefined
    try {
      connectors = readConnectors(this.path, { busyTimeoutMs: this.#busyTimeoutMs }).map(
        (r) => r.id,
      )
    } catch {
      connectors = undefined
    }
    const instance = fileIdentity(this.path)
    return Promise.resolve({
      engine: this.engine,
      label: this.path,
      ...(instance !== undefined ? { instance } : {}),
      ...(connectors !== undefined ? { connectors } : {}),
    })
  }

  // Through a promise executor: whatever these throw reaches the caller as a rejection, never
  // synchronously (callers chain .catch()).
  readConnectors(): Promise<ConnectorRow[]> {
    return new Promise((done) => {
      done(readConnectors(this.path, { busyTimeoutMs: this.#busyTimeoutMs }))
    })
  }

  check(): Promise<string> {
    return new Promise((done) => {
      const db = openIdpDb(this.path, { readonly: true, busyTimeoutMs: this.#busyTimeoutMs })
      try {
        const result = checkIntegrity(db, this.path)
        if (result === 'ok') readConnectorsFrom(db, this.path) // the connector table parses
        done(result)
      } finally {
        db.close()
      }
    })
  }

  backup(request: BackupRequest): Promise<BackupInfo> {
    return backupSqlite(this.path, request, { busyTimeoutMs: this.#busyTimeoutMs })
  }

  verifyBackup(info: BackupInfo): Promise<VerifyResult> {
    return verifySqliteBackup(info)
  }

  restore(info: BackupInfo, request: BackupRequest): Promise<RestoreResult> {
    return restoreSqlite(info, this.path, request, { busyTimeoutMs: this.#busyTimeoutMs })
  }

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const db = openIdpDb(this.path, { readonly: false, busyTimeoutMs: this.#busyTimeoutMs })
    try {
      beginImmediate(db, this.path)
      let locked: ConnectorRow[] | undefined
      const tx: StoreTransaction = {
        readConnectors: () => {
          locked = readConnectorsFrom(db, this.path)
          return Promise.resolve(locked)
        },
        // We hold RESERVED: no other writer can commit, so the backup is exactly the state we change.
        backup: (request) =>
          backupSqlite(this.path, request, {
            busyTimeoutMs: this.#busyTimeoutMs,
            ...(locked !== undefined ? { expected: locked } : {}),
          }),
        check: () => Promise.resolve(checkIntegrity(db, this.path)),
        writeConfig: (row, config, resourceVersion) => {
          // Exactly these bytes, keeping the storage class: Dex writes []byte (BLOB); a TEXT row stays
          // TEXT, cast from the bytes (a string parameter would be re-encoded).
          const value =
            typeof config === 'string' ? Buffer.from(config, 'utf8') : Buffer.from(config)
          const sql =
            row.storage === 'text'
              ? 'update connector set config = cast(? as text), resource_version = ? where id = ?'
              : 'update connector set config = ?, resource_version = ? where id = ?'
          let info: Database.RunResult
          try {
            info = db.prepare(sql).run(value, resourceVersion, row.id)
          } catch (err) {
            throw mapSqliteError(err, this.path, 'write')
          }
          if (info.changes !== 1) {
            throw new WatchdogError(
              'REPAIR_FAILED',
              `update of connector ${JSON.stringify(row.id)} changed ${info.changes} rows`,
            )
          }
          return Promise.resolve()
        },
      }
      const result = await fn(tx)
      try {
        db.exec('commit')
      } catch (err) {
        throw mapSqliteError(err, this.path, 'write')
      }
      return result
    } catch (err) {
      if (db.open && db.inTransaction) {
        try {
          db.exec('rollback')
        } catch {
          // Closing the connection below rolls the transaction back; the first error is the one to report.
        }
      }
      throw err
    } finally {
      if (db.open) db.close()
    }
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

function beginImmediate(db: Database.Database, dbPath: string): void {
  try {
    db.exec('begin immediate')
  } catch (err) {
    const mapped = mapSqliteError(err, dbPath, 'write')
    if (mapped.code === 'DB_LOCKED') {
      throw new WatchdogError(
        'DB_LOCKED',
        `another process holds a write transaction on ${dbPath} and did not finish within the busy timeout; nothing was changed. Stop NetBird (or wait) and retry.`,
        { cause: err, change: 'none' },
      )
    }
    throw mapped
  }
}

/** `'ok'`, or `integrity_check: <problems>`; an error running the check is mapped like any other. */
function checkIntegrity(db: Database.Database, dbPath: string): string {
  let result: string
  try {
    result = integrityCheck(db)
  } catch (err) {
    throw mapSqliteError(err, dbPath)
  }
  return result === 'ok' ? 'ok' : `integrity_check: ${result}`
}
