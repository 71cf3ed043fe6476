// Verified idp.db backups: a consistent snapshot SQLite writes itself, `VACUUM INTO` (never a file copy
// of a live database, sqlite.org/howtocorrupt.html §1.2), checked before anyone relies on them (opens,
// integrity_check ok, connector rows equal the source's), then described by a manifest
// (store/backup-files.ts). Also the whole-file restore, which an operator asks for or a database that
// fails integrity_check needs (that one copies with the online backup API, into the live file).
import { renameSync, statSync, truncateSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { sameConnectors, type ConnectorRow } from '../../core/connectors.js'
import {
  WatchdogError,
  damagedStoreCodes,
  errorMessage,
  hasErrorCode,
  type ErrorCode,
} from '../../errors.js'
import {
  checkAgainstManifest,
  keepEvidenceCopy,
  uniqueBackupId,
  writeManifest,
  type BackupInfo,
  type BackupManifest,
  type VerifyResult,
} from '../backup-files.js'
import {
  checkFreeSpace,
  createPrivateFile,
  fileSize,
  fsyncFile,
  hashFile,
  preparePrivateDir,
  unlinkIfExists,
} from '../../files.js'
import { sweepStalePartials } from '../retention.js'
import type { BackupRequest, RestoreResult } from '../port.js'
import {
  defaultBusyTimeoutMs,
  integrityCheck,
  mapSqliteError,
  openIdpDb,
  readConnectorsFrom,
  rollBackHotJournal,
} from './idp-db.js'

/** Pages copied per backup step: large, so a backup needs few event-loop turns (SQLite's default is 100). */
const pagesPerStep = 1 << 14

/** `dev:ino` of a file: the same database under another mount path has the same one. */
export function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path)
    return `${st.dev}:${st.ino}`
  } catch {
    return undefined
  }
}

/**
 * Back up `dbPath` into `request.dir` and verify the copy before returning. The copy is written into
 * a `.partial` file created 0600 (a self-contained rollback-journal database), fsynced, verified,
 * then renamed; the manifest is written last. `expected`: the source's connector rows when
 * the caller holds the write lock (repair holds BEGIN IMMEDIATE, so the source cannot change).
 */
export async function backupSqlite(
  dbPath: string,
  request: BackupRequest,
  opts: { busyTimeoutMs?: number; now?: Date; expected?: readonly ConnectorRow[] } = {},
): Promise<BackupInfo> {
  const source = resolve(dbPath)
  const busyTimeoutMs = opts.busyTimeoutMs ?? defaultBusyTimeoutMs
  // The database first: no directory is created for a database that does not exist.
  openIdpDb(source, { readonly: true, busyTimeoutMs }).close()
  const dir = resolve(request.dir)
  preparePrivateDir(dir)
  sweepStalePartials(dir)
  checkFreeSpace(dir, fileSize(source) + fileSize(source + '-journal') + fileSize(source + '-wal'))
  const now = opts.now ?? new Date()
  const id = uniqueBackupId(dir, now, request.reason)
  const file = join(dir, `${id}.db`)
  // The pid keeps two processes that picked the same id in the same millisecond apart.
  const partial = `${file}.${process.pid}.partial`
  let renamed = false
  try {
    let rows: ConnectorRow[] = []
    // Without a caller-held lock another connection may change connectors between the snapshot and
    // our read of the source; a retry settles it.
    for (let attempt = 1; ; attempt++) {
      const src = openIdpDb(source, { readonly: true, busyTimeoutMs })
      try {
        // Created private before SQLite writes a byte into it (and its journal takes its mode).
        createPrivateFile(partial)
        // VACUUM INTO writes a rollback-journal database even from a WAL one: no reader of the
        // copy leaves -wal/-shm files in the backup directory. One statement: a signal that arrives
        // during it is seen by the next check (the hash below).
        stopIfAborted(request.signal)
        copySnapshot(src, partial, source)
        rows = opts.expected !== undefined ? [...opts.expected] : readConnectorsFrom(src, source)
      } finally {
        src.close()
      }
      const problem = checkCopy(partial, rows)
      if (problem === undefined) break
      if (opts.expected !== undefined || attempt >= 3) {
        const text = `backup of ${source} failed verification: ${problem.text}`
        // A copy that does not open or fails integrity_check is a copy of a damaged database: the
        // cause says so by its code (a restore keeps such a file as evidence and overwrites it).
        const cause = problem.damaged ? new WatchdogError('DB_CORRUPT', text) : undefined
        throw new WatchdogError('BACKUP_VERIFY_FAILED', text, { cause })
      }
      unlinkIfExists(partial)
    }
    fsyncFile(partial)
    const { sha256, size } = await hashFile(partial, request.signal)
    stopIfAborted(request.signal)
    renameSync(partial, file)
    renamed = true
    const identity = fileIdentity(source)
    const manifest: BackupManifest = {
      format: 1,
      id,
      file: `${id}.db`,
      sha256,
      size,
      source,
      engine: 'sqlite',
      ...(identity !== undefined ? { sourceFile: identity, instance: identity } : {}),
      reason: request.reason,
      version: request.version,
      createdAt: now.toISOString(),
      sqliteVersion: sqliteVersion(),
      connectors: rows.map((r) => r.id),
    }
    const manifestPath = writeManifest(dir, manifest)
    return { id, path: file, manifestPath, manifest }
  } catch (err) {
    unlinkIfExists(partial)
    unlinkIfExists(`${partial}-journal`)
    // A copy without its manifest would never be listed, verified or pruned: it goes too.
    if (renamed) unlinkIfExists(file)
    // Typed already (missing file, not a database, locked, verify failed, disk space): keep the code.
    if (err instanceof WatchdogError) throw err
    throw new WatchdogError('BACKUP_FAILED', `backup of ${source} failed: ${errorMessage(err)}`, {
      cause: err,
    })
  }
}

const sourceProblems: ReadonlySet<string> = new Set([
  'DB_NOT_SQLITE',
  'DB_CORRUPT',
  'DB_LOCKED',
  'DB_HOT_JOURNAL',
])

/** Ends a backup that was asked to stop (INTERRUPTED); the caller removes what it wrote. */
function stopIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new WatchdogError('INTERRUPTED', 'stopped by a signal: the backup was not completed')
  }
}

/**
 * Write a consistent snapshot of an open database into `dest` (an empty file): `VACUUM INTO`, which
 * SQLite documents as a way to back up a live database (sqlite.org/lang_vacuum.html#vacuuminto). It
 * reads in one read transaction and writes the copy through the source connection's own pager,
 * compacted, as a rollback-journal database. The online backup API (better-sqlite3 backup()) costs
 * 1.2-1.7x the CPU of `sqlite3 .backup`: better-sqlite3 opens its destination with a 16 MB page cache
 * that cannot be set, so a 10 MB copy is first held in freshly allocated pages and written at the
 * end (BENCHMARKS.md, "Backup"). One statement: it cannot be stopped half way, and takes about
 * 0.3 s per 100 MB.
 */
export function copySnapshot(src: Database.Database, dest: string, source: string): void {
  // openIdpDb guards its read connections with query_only, which refuses VACUUM INTO too, though
  // that writes only `dest`: lifted for this one statement.
  const queryOnly = Number(src.pragma('query_only', { simple: true })) === 1
  try {
    // A one-pass copy gains nothing from a page cache; the copy's pager takes the source's size.
    src.pragma('cache_size = 0')
    if (queryOnly) src.pragma('query_only = 0')
    src.prepare('VACUUM INTO ?').run(dest)
  } catch (err) {
    throw copyError(err, source, dest)
  } finally {
    if (queryOnly) src.pragma('query_only = 1')
  }
}

/** A damaged or busy source keeps its code; any other failure is a failed copy. */
function copyError(err: unknown, source: string, dest: string): WatchdogError {
  // Not evidence that the source is unreadable: a full disk, an I/O error on either side.
  const mapped = mapSqliteError(err, source)
  if (sourceProblems.has(mapped.code)) return mapped
  return new WatchdogError(
    'BACKUP_FAILED',
    `copying ${source} to ${dest} failed: ${errorMessage(err)}`,
    { cause: err },
  )
}

/**
 * Copy an open database into `dest` with the online backup API (many pages per step), for a restore. `signal`
 * ends the copy between two steps (the backup API's progress callback throws, which closes the backup).
 */
async function copyPages(
  src: Database.Database,
  dest: string,
  source: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    // A one-pass copy gains nothing from the source's page cache; filling better-sqlite3's 16 MB default
    // cost ~15% at 200 MB in bench/backup.ts. SQLite keeps its own minimum of 10 pages.
    src.pragma('cache_size = 0')
    stopIfAborted(signal)
    await src.backup(dest, {
      progress: () => {
        stopIfAborted(signal)
        return pagesPerStep
      },
    })
  } catch (err) {
    if (err instanceof WatchdogError && err.code === 'INTERRUPTED') throw err
    throw copyError(err, source, dest)
  }
}

/** What is wrong with a copy: `damaged` when it does not open or fails integrity_check. */
interface CopyProblem {
  text: string
  damaged: boolean
}

/** Open a copy, run integrity_check and compare its connector rows; the problem, or undefined. */
function checkCopy(file: string, expected: readonly ConnectorRow[]): CopyProblem | undefined {
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    return { text: `cannot open it: ${errorMessage(err)}`, damaged: true }
  }
  try {
    const integrity = integrityCheck(db)
    if (integrity !== 'ok') return { text: `integrity_check: ${integrity}`, damaged: true }
    const rows = readConnectorsFrom(db, file)
    return sameConnectors(rows, expected)
      ? undefined
      : { text: 'its connector rows differ from the source', damaged: false }
  } catch (err) {
    return { text: errorMessage(err), damaged: false }
  } finally {
    db.close()
  }
}

function sqliteVersion(): string {
  const db = new Database(':memory:')
  try {
    return (db.prepare('select sqlite_version() as v').get() as { v: string }).v
  } finally {
    db.close()
  }
}

/** Check a backup against its manifest: size and sha256, opens, integrity_check ok, same connector ids. */
export async function verifySqliteBackup(info: BackupInfo): Promise<VerifyResult> {
  const problems = await checkAgainstManifest(info)
  if (problems.length > 0) return { ok: false, problems }
  let db: Database.Database | undefined
  try {
    db = new Database(info.path, { readonly: true, fileMustExist: true })
    const integrity = integrityCheck(db)
    if (integrity !== 'ok') problems.push(`integrity_check: ${integrity}`)
    const ids = readConnectorsFrom(db, info.path).map((r) => r.id)
    if (JSON.stringify(ids) !== JSON.stringify(info.manifest.connectors)) {
      problems.push('connector ids differ from the manifest')
    }
  } catch (err) {
    problems.push(errorMessage(err))
  } finally {
    db?.close()
  }
  return { ok: problems.length === 0, problems }
}

/**
 * Restore `dbPath` from a backup: verify the backup against its manifest, back up the current database
 * (a private byte copy, kept as evidence, when it is no longer a readable SQLite database), then copy
 * the backup into place with the backup API, which takes SQLite's locks, so a process holding the
 * file open sees the restored content. The write runs with synchronous=FULL. Finally check the result.
 */
export async function restoreSqlite(
  info: BackupInfo,
  dbPath: string,
  request: BackupRequest,
  opts: { busyTimeoutMs?: number } = {},
): Promise<RestoreResult> {
  const target = resolve(dbPath)
  const dir = resolve(request.dir)
  const check = await verifySqliteBackup(info)
  if (!check.ok) {
    throw new WatchdogError(
      'BACKUP_VERIFY_FAILED',
      `backup ${info.id} failed verification, not restoring: ${check.problems.join('; ')}`,
    )
  }
  const busy = opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}
  let preRestoreBackup: string | null = null
  let truncateFirst = false
  if (fileSize(target) > 0 || fileIdentity(target) !== undefined) {
    const preBackup = (): Promise<BackupInfo> =>
      backupSqlite(target, { ...request, reason: 'pre-restore' }, busy)
    try {
      try {
        preRestoreBackup = (await preBackup()).path
      } catch (err) {
        // A writer died mid-transaction: roll its journal back (as any writer would), then back up.
        if (!(err instanceof WatchdogError && err.code === 'DB_HOT_JOURNAL')) throw err
        rollBackHotJournal(target, busy)
        preRestoreBackup = (await preBackup()).path
      }
    } catch (err) {
      if (!isUnreadableDb(err)) throw err
      // Not a usable database any more: keep its bytes (privately) as evidence, then overwrite it.
      preparePrivateDir(dir)
      const now = new Date()
      preRestoreBackup = await keepEvidenceCopy(target, dir, now)
      // Its journal or WAL too: overwriting the file makes SQLite discard them.
      for (const side of [`${target}-wal`, `${target}-journal`]) {
        if (fileIdentity(side) !== undefined) await keepEvidenceCopy(side, dir, now)
      }
      truncateFirst = true
    }
  }
  const backupDb = new Database(info.path, { readonly: true, fileMustExist: true })
  try {
    const expected = readConnectorsFrom(backupDb, info.path)
    if (truncateFirst) truncateSync(target, 0)
    else if (fileIdentity(target) === undefined) createPrivateFile(target)
    await copyInto(backupDb, target)
    const problem = checkCopy(target, expected)
    if (problem !== undefined) {
      throw new WatchdogError(
        'REPAIR_FAILED',
        `restored ${target} failed verification: ${problem.text}`,
      )
    }
  } catch (err) {
    if (err instanceof WatchdogError && err.code === 'REPAIR_FAILED') throw err
    throw new WatchdogError(
      'REPAIR_FAILED',
      `restore of ${target} from ${info.id} failed: ${errorMessage(err)}${preRestoreBackup !== null ? ` (the previous state is kept in ${preRestoreBackup})` : ''}`,
      { cause: err },
    )
  } finally {
    backupDb.close()
  }
  return { restored: info, preRestoreBackup }
}

/**
 * The backup API into the live database, then durable. better-sqlite3 opens the destination with
 * default settings: a rollback-journal database commits with synchronous=FULL (synced), but a WAL
 * database commits with NORMAL (the WAL is not synced). So a WAL destination is then checkpointed by
 * a connection with synchronous=FULL, which syncs the WAL and then the database file. (Never an fsync
 * through a plain descriptor: closing it would drop this process's SQLite locks on the file.)
 */
async function copyInto(src: Database.Database, target: string): Promise<void> {
  await copyPages(src, target, target)
  const dest = new Database(target, { fileMustExist: true, timeout: defaultBusyTimeoutMs })
  try {
    dest.pragma('synchronous = FULL')
    if (String(dest.pragma('journal_mode', { simple: true })) === 'wal') {
      dest.pragma('wal_checkpoint(TRUNCATE)')
    }
  } finally {
    dest.close()
  }
}

/**
 * A file that is no longer a usable database (damaged, not SQLite, not Dex's, unreadable connector
 * rows), by its code or the code of what it wraps: a restore keeps its bytes and overwrites it.
 */
function isUnreadableDb(err: unknown): boolean {
  return hasErrorCode(err, unusableDbCodes)
}
const unusableDbCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ...damagedStoreCodes,
  'CONNECTOR_CONFIG_INVALID',
])
