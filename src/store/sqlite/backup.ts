// Verified idp.db backups: a consistent snapshot (`VACUUM INTO`, or for a large rollback-journal
// database its file copied under its read lock; never a copy of a file someone may be writing,
// sqlite.org/howtocorrupt.html §1.2), checked before anyone relies on them (opens,
// integrity_check ok, connector rows equal the source's), then described by a manifest
// (store/backup-files.ts). Also the whole-file restore, which an operator asks for or a database that
// fails integrity_check needs (that one copies with the online backup API, into the live file).
import { spawn } from 'node:child_process'
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
  opts: {
    busyTimeoutMs?: number
    now?: Date
    expected?: readonly ConnectorRow[]
    fileCopyFromBytes?: number
  } = {},
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
        // Always a rollback-journal copy: no reader of it leaves -wal/-shm files in the backup
        // directory. A signal during VACUUM INTO is seen by the next check (the hash below); the
        // file copy's child is ended by it.
        stopIfAborted(request.signal)
        await copySnapshot(src, partial, source, {
          ...(request.signal !== undefined ? { signal: request.signal } : {}),
          ...(opts.fileCopyFromBytes !== undefined
            ? { fileCopyFromBytes: opts.fileCopyFromBytes }
            : {}),
        })
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
  if (signal?.aborted === true) throw interrupted()
}

function interrupted(): WatchdogError {
  return new WatchdogError('INTERRUPTED', 'stopped by a signal: the backup was not completed')
}

/** From this size on, a rollback-journal database is copied as a file under its read lock. */
export const fileCopyFromBytes = 32 * 2 ** 20

export interface CopyOptions {
  /** Ends a file copy's child; VACUUM INTO runs to its end. */
  signal?: AbortSignal
  /** Overrides `fileCopyFromBytes` (tests take the file copy on a small database). */
  fileCopyFromBytes?: number
}

/**
 * Write a consistent snapshot of an open database into `dest` (an empty file created 0600), in one
 * of the two ways SQLite documents for a live database; the caller fsyncs and verifies the copy.
 *
 * - A rollback-journal database of `fileCopyFromBytes` or more: its file, copied while this
 *   connection holds a read transaction (sqlite.org/backup.html: a shared lock, then a copy of the
 *   file). The shared lock keeps every writer from the file until the copy ends: a writer may reserve
 *   it, but writes the file only under the exclusive lock the shared one blocks. The copy runs in a
 *   child process: a POSIX lock belongs to the process, and closing any descriptor of the file in
 *   this one would drop every lock this process's SQLite connections hold on it. About half the time
 *   of `sqlite3 .backup` at 200 MB, fsync included, and the event loop stays free meanwhile
 *   (BENCHMARKS.md, run G). The bytes copied must equal page_count x page_size read under the same
 *   lock, and the path must still name the file the connection opened.
 * - Otherwise `VACUUM INTO` (sqlite.org/lang_vacuum.html#vacuuminto): one read transaction, written
 *   through the source connection's own pager, compacted, always a rollback-journal database (also
 *   from a WAL one, whose file alone is not the database). Below 32 MB it is faster than starting a
 *   child; one statement that cannot be stopped half way (about 0.2 s per 100 MB).
 */
export async function copySnapshot(
  src: Database.Database,
  dest: string,
  source: string,
  opts: CopyOptions = {},
): Promise<void> {
  const wal = String(src.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal'
  if (!wal && fileSize(source) >= (opts.fileCopyFromBytes ?? fileCopyFromBytes)) {
    await copyFileUnderReadLock(src, dest, source, opts.signal)
    return
  }
  // openIdpDb guards its read connections with query_only, which refuses VACUUM INTO too, though
  // that writes only `dest`: lifted for this one statement.
  const queryOnly = Number(src.pragma('query_only', { simple: true })) === 1
  const synchronous = Number(src.pragma('synchronous', { simple: true }))
  try {
    // A one-pass copy gains nothing from a page cache; the copy's pager takes the source's size.
    src.pragma('cache_size = 0')
    // The copy's pager also takes the source's sync level: the caller fsyncs the finished copy once
    // (with FULL, VACUUM INTO synced it besides: 10 % of a 200 MB copy).
    src.pragma('synchronous = OFF')
    if (queryOnly) src.pragma('query_only = 0')
    src.prepare('VACUUM INTO ?').run(dest)
  } catch (err) {
    throw copyError(err, source, dest)
  } finally {
    if (queryOnly) src.pragma('query_only = 1')
    src.pragma(`synchronous = ${synchronous}`)
  }
}

/**
 * The child that copies: reads `from` and writes `to` (created 0600 if absent; an existing file keeps
 * its mode: no copyFile, which gives the copy the source's mode) through one 1 MiB buffer; prints
 * the bytes.
 */
const copyChild = `
const fs = require('node:fs')
const from = fs.openSync(process.env.NBW_COPY_FROM, 'r')
const to = fs.openSync(process.env.NBW_COPY_TO, 'w', 0o600)
const buf = Buffer.allocUnsafe(1 << 20)
let at = 0
for (;;) {
  const n = fs.readSync(from, buf, 0, buf.length, at)
  if (n === 0) break
  for (let w = 0; w < n; ) w += fs.writeSync(to, buf, w, n - w, at + w)
  at += n
}
fs.ftruncateSync(to, at)
process.stdout.write(String(at))
`

async function copyFileUnderReadLock(
  src: Database.Database,
  dest: string,
  source: string,
  signal?: AbortSignal,
): Promise<void> {
  const opened = fileIdentity(source)
  let expected: number
  try {
    src.prepare('BEGIN').run()
    // The first read takes the shared lock; the transaction keeps it until COMMIT.
    const pages = Number(src.pragma('page_count', { simple: true }))
    expected = pages * Number(src.pragma('page_size', { simple: true }))
  } catch (err) {
    if (src.inTransaction) src.prepare('ROLLBACK').run()
    throw copyError(err, source, dest)
  }
  try {
    stopIfAborted(signal)
    const copied = await runCopyChild(source, dest, signal)
    const same = fileIdentity(source) === opened
    if (copied !== expected || !same) {
      throw new WatchdogError(
        'BACKUP_FAILED',
        `copying ${source} to ${dest} failed: ${copied} bytes copied, ${expected} expected ` +
          `(${same ? 'the file changed size' : 'the path now names another file'})`,
      )
    }
  } finally {
    src.prepare('COMMIT').run()
  }
}

function runCopyChild(from: string, to: string, signal?: AbortSignal): Promise<number> {
  return new Promise((resolveCopy, reject) => {
    const child = spawn(process.execPath, ['-e', copyChild], {
      env: { NBW_COPY_FROM: from, NBW_COPY_TO: to },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal !== undefined ? { signal } : {}),
    })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)))
    child.on('error', (e) => {
      if (signal?.aborted === true) {
        reject(interrupted())
      } else {
        reject(new WatchdogError('BACKUP_FAILED', `copying ${from} to ${to} failed: ${e.message}`))
      }
    })
    child.on('close', (code, sig) => {
      if (code === 0) {
        resolveCopy(Number(out))
        return
      }
      if (signal?.aborted === true) return // the 'error' handler has answered
      // The child's last line names the failing call and path (ENOSPC, EIO): nothing secret.
      const why =
        err
          .trim()
          .split('\n')
          .filter((l) => /^\w*Error/.test(l))
          .at(-1) ?? `exit ${code ?? sig}`
      reject(new WatchdogError('BACKUP_FAILED', `copying ${from} to ${to} failed: ${why}`))
    })
  })
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
