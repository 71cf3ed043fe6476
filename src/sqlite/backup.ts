// Verified idp.db backups: taken with SQLite's online backup API (never a file copy of a live database,
// sqlite.org howtocorrupt §1.2), checked before anyone relies on them, described by a manifest sidecar,
// listed, verified, restored and pruned. shared/anchors.md §7 is the rule book.
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  copyFileSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  statfsSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { WatchdogError, errorMessage } from '../errors.js'
import {
  defaultBusyTimeoutMs,
  mapSqliteError,
  openIdpDb,
  readConnectorsFrom,
  rollBackHotJournal,
  type ConnectorRow,
} from './idp-db.js'

export const backupDirName = 'netbird-watchdog-backups'

export interface BackupManifest {
  format: 1
  id: string
  /** The backup file's name, in the same directory as the manifest. */
  file: string
  sha256: string
  size: number
  /** Absolute path of the database that was backed up. */
  source: string
  reason: string
  version: string
  createdAt: string
  sqliteVersion: string
  /** Connector ids in the backup, for a quick look without opening it. Never any config values. */
  connectors: string[]
}

// Hand-checked rather than zod: the crash test starts this module hundreds of times, and zod's import
// cost dominates a process start.
function parseManifest(value: unknown): BackupManifest | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const m = value as Record<string, unknown>
  const nonEmpty = ['id', 'file', 'source', 'reason', 'createdAt', 'sqliteVersion']
  if (m.format !== 1 || typeof m.version !== 'string') return undefined
  if (!nonEmpty.every((k) => typeof m[k] === 'string' && m[k] !== '')) return undefined
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return undefined
  if (typeof m.size !== 'number' || !Number.isInteger(m.size) || m.size < 0) return undefined
  if (!Array.isArray(m.connectors) || !m.connectors.every((c) => typeof c === 'string')) {
    return undefined
  }
  if (typeof m.file !== 'string' || m.file.includes('/') || m.file.includes('\\')) return undefined
  return value as BackupManifest
}

export interface BackupInfo {
  id: string
  /** The backup database file. */
  path: string
  manifestPath: string
  manifest: BackupManifest
}

export interface BackupOptions {
  /** Default: `netbird-watchdog-backups/` next to the database. */
  backupDir?: string
  /** Why the backup is taken (`pre-repair`, `pre-restore`, `scheduled`, `manual`); part of its name. */
  reason: string
  /** The watchdog's version, recorded in the manifest. */
  version: string
  busyTimeoutMs?: number
  now?: Date
}

export interface VerifyResult {
  ok: boolean
  problems: string[]
}

export function defaultBackupDir(dbPath: string): string {
  return join(dirname(resolve(dbPath)), backupDirName)
}

/** Pages copied per backup step: large, so a backup needs few event-loop turns (SQLite's default is 100). */
const pagesPerStep = 1 << 14

/**
 * Back up `dbPath` and verify the copy before returning. The copy is written under a `.partial` name,
 * fsynced, verified (opens, integrity_check ok, connector rows equal the source's), then renamed; the
 * manifest is written last, so a backup with a manifest is always complete.
 */
export async function createBackup(dbPath: string, opts: BackupOptions): Promise<BackupInfo> {
  return takeBackup(dbPath, opts)
}

/**
 * As createBackup; `expected` are the source's connector rows when the caller already holds a write lock
 * (repair holds BEGIN IMMEDIATE, so the source cannot change under the backup).
 */
export async function takeBackup(
  dbPath: string,
  opts: BackupOptions,
  expected?: readonly ConnectorRow[],
): Promise<BackupInfo> {
  const source = resolve(dbPath)
  const dir = resolve(opts.backupDir ?? defaultBackupDir(source))
  const sourceSize = fileSize(source) + fileSize(source + '-journal') + fileSize(source + '-wal')
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new WatchdogError('BACKUP_FAILED', `cannot create ${dir}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  sweepStalePartials(dir)
  checkFreeSpace(dir, sourceSize)
  const now = opts.now ?? new Date()
  const id = uniqueId(dir, now, opts.reason)
  const file = join(dir, `${id}.db`)
  // The pid keeps two processes that picked the same id in the same millisecond apart.
  const partial = `${file}.${process.pid}.partial`
  const busyTimeoutMs = opts.busyTimeoutMs ?? defaultBusyTimeoutMs
  try {
    let rows: ConnectorRow[] = []
    // Without a caller-held lock another connection may change connectors between our backup and our
    // read of the source; SQLite restarts a backup that sees such a write, so a retry settles it.
    for (let attempt = 1; ; attempt++) {
      const src = openIdpDb(source, { readonly: true, busyTimeoutMs })
      try {
        await copyDatabase(src, partial, source)
        // better-sqlite3 creates the file with the process umask; a backup holds client secrets.
        chmodSync(partial, 0o600)
        rows = expected !== undefined ? [...expected] : readConnectorsFrom(src, source)
      } finally {
        src.close()
      }
      const problem = checkCopy(partial, rows)
      if (problem === undefined) break
      if (expected !== undefined || attempt >= 3) {
        throw new WatchdogError(
          'BACKUP_VERIFY_FAILED',
          `backup of ${source} failed verification: ${problem}`,
        )
      }
      unlinkIfExists(partial)
    }
    fsyncFile(partial)
    const { sha256, size } = await hashFile(partial)
    renameSync(partial, file)
    const manifest: BackupManifest = {
      format: 1,
      id,
      file: basename(file),
      sha256,
      size,
      source,
      reason: opts.reason,
      version: opts.version,
      createdAt: now.toISOString(),
      sqliteVersion: sqliteVersion(),
      connectors: rows.map((r) => r.id),
    }
    const manifestPath = join(dir, `${id}.json`)
    writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest, null, 2) + '\n', {
      mode: 0o600,
    })
    fsyncFile(`${manifestPath}.partial`)
    renameSync(`${manifestPath}.partial`, manifestPath)
    fsyncDir(dir)
    return { id, path: file, manifestPath, manifest }
  } catch (err) {
    unlinkIfExists(partial)
    unlinkIfExists(`${join(dir, id)}.json.partial`)
    // Typed already (missing file, not a database, locked, verify failed, disk space): keep the code.
    if (err instanceof WatchdogError) throw err
    throw new WatchdogError('BACKUP_FAILED', `backup of ${source} failed: ${errorMessage(err)}`, {
      cause: err,
    })
  }
}

/** Copy an open database into `dest` with the online backup API (many pages per step). */
async function copyDatabase(src: Database.Database, dest: string, source: string): Promise<void> {
  try {
    // A one-pass copy gains nothing from the source's page cache; filling better-sqlite3's 16 MB default
    // cost ~15% at 200 MB in bench/backup.ts. SQLite keeps its own minimum of 10 pages.
    src.pragma('cache_size = 0')
    await src.backup(dest, { progress: () => pagesPerStep })
  } catch (err) {
    throw mapSqliteError(err, source)
  }
}

/** Open a copy, run integrity_check and compare its connector rows; a problem description or undefined. */
function checkCopy(file: string, expected: readonly ConnectorRow[]): string | undefined {
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    return `cannot open it: ${errorMessage(err)}`
  }
  try {
    const integrity = integrityCheck(db)
    if (integrity !== 'ok') return `integrity_check: ${integrity}`
    const rows = readConnectorsFrom(db, file)
    return sameConnectors(rows, expected) ? undefined : 'its connector rows differ from the source'
  } catch (err) {
    return errorMessage(err)
  } finally {
    db.close()
  }
}

export function integrityCheck(db: Database.Database): string {
  const rows = db.prepare('pragma integrity_check').all() as { integrity_check: string }[]
  return rows.map((r) => r.integrity_check).join('; ')
}

/** Row-for-row equality of the connector table: ids, types, names, versions, raw config and storage class. */
export function sameConnectors(a: readonly ConnectorRow[], b: readonly ConnectorRow[]): boolean {
  if (a.length !== b.length) return false
  return a.every((r, i) => {
    const o = b[i]!
    return (
      r.id === o.id &&
      r.type === o.type &&
      r.name === o.name &&
      r.resourceVersion === o.resourceVersion &&
      r.rawConfig === o.rawConfig &&
      r.storage === o.storage
    )
  })
}

function checkFreeSpace(dir: string, sourceSize: number): void {
  let free: number
  try {
    const st = statfsSync(dir)
    free = Number(st.bavail) * Number(st.bsize)
  } catch (err) {
    throw new WatchdogError(
      'BACKUP_FAILED',
      `cannot check free space in ${dir}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    )
  }
  if (free < 2 * sourceSize) {
    throw new WatchdogError(
      'DISK_SPACE_LOW',
      `refusing to back up: ${dir} has ${free} bytes free, need at least twice the database (${2 * sourceSize} bytes)`,
    )
  }
}

function uniqueId(dir: string, now: Date, reason: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '')
  const safeReason =
    reason
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'backup'
  const base = `idp-${stamp}-${safeReason}`
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`
    if (!existsSync(join(dir, `${id}.db`)) && !existsSync(join(dir, `${id}.json`))) return id
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
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

export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer
    size += b.length
    hash.update(b)
  }
  return { sha256: hash.digest('hex'), size }
}

/** Every backup in `dir` that has a readable manifest, newest first. */
export function listBackups(dir: string): BackupInfo[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new WatchdogError('INPUT_UNREADABLE', `cannot read ${dir}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  const out: BackupInfo[] = []
  for (const name of names) {
    if (!name.endsWith('.json')) continue
    const manifestPath = join(dir, name)
    let manifest: BackupManifest | undefined
    try {
      manifest = parseManifest(JSON.parse(readFileSync(manifestPath, 'utf8')))
    } catch {
      manifest = undefined
    }
    // Not one of ours (or damaged): `verify` reports backups, not stray files.
    if (manifest === undefined) continue
    out.push({ id: manifest.id, path: join(dir, manifest.file), manifestPath, manifest })
  }
  return out.sort((a, b) =>
    a.manifest.createdAt === b.manifest.createdAt
      ? b.id.localeCompare(a.id)
      : b.manifest.createdAt.localeCompare(a.manifest.createdAt),
  )
}

/** The backup with this id (or whose file or manifest path this is). */
export function findBackup(dir: string, idOrPath: string): BackupInfo {
  const all = listBackups(dir)
  const wanted = resolve(idOrPath)
  const hit = all.find((b) => b.id === idOrPath || b.path === wanted || b.manifestPath === wanted)
  if (hit === undefined) {
    throw new WatchdogError('BACKUP_NOT_FOUND', `no backup ${JSON.stringify(idOrPath)} in ${dir}`)
  }
  return hit
}

/** Check a backup against its manifest: size and sha256, opens, integrity_check ok, same connector ids. */
export async function verifyBackup(info: BackupInfo): Promise<VerifyResult> {
  const problems: string[] = []
  if (!existsSync(info.path)) return { ok: false, problems: [`${info.path} is missing`] }
  const { sha256, size } = await hashFile(info.path)
  if (size !== info.manifest.size) problems.push(`size ${size} ≠ manifest ${info.manifest.size}`)
  if (sha256 !== info.manifest.sha256) problems.push('sha256 does not match the manifest')
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

export interface RestoreResult {
  restored: BackupInfo
  /** The backup of the database as it was just before the restore (null when there was no file). */
  preRestoreBackup: string | null
}

/**
 * Restore `dbPath` from a backup: verify the backup against its manifest, back up the current database
 * (a byte copy, kept as evidence, when it is no longer a readable SQLite database), then copy the backup
 * into place with the backup API, which takes SQLite's locks, so a process holding the file open sees
 * the restored content. Finally check the result.
 */
export async function restoreBackup(
  info: BackupInfo,
  opts: { dbPath: string; backupDir?: string; version: string; busyTimeoutMs?: number },
): Promise<RestoreResult> {
  const target = resolve(opts.dbPath)
  const dir = resolve(opts.backupDir ?? defaultBackupDir(target))
  const check = await verifyBackup(info)
  if (!check.ok) {
    throw new WatchdogError(
      'BACKUP_VERIFY_FAILED',
      `backup ${info.id} failed verification, not restoring: ${check.problems.join('; ')}`,
    )
  }
  let preRestoreBackup: string | null = null
  let truncateFirst = false
  if (existsSync(target)) {
    const busy = opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}
    const preBackup = (): Promise<BackupInfo> =>
      createBackup(target, {
        backupDir: dir,
        reason: 'pre-restore',
        version: opts.version,
        ...busy,
      })
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
      // Not a usable database any more: keep its bytes as evidence, then overwrite it.
      preRestoreBackup = join(dir, `${basename(target)}.${stampOf(new Date())}.unreadable`)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      copyFileSync(target, preRestoreBackup)
      truncateFirst = true
    }
  }
  const backupDb = new Database(info.path, { readonly: true, fileMustExist: true })
  try {
    const expected = readConnectorsFrom(backupDb, info.path)
    if (truncateFirst) truncateSync(target, 0)
    await copyDatabase(backupDb, target, target)
    const problem = checkCopy(target, expected)
    if (problem !== undefined) {
      throw new WatchdogError('REPAIR_FAILED', `restored ${target} failed verification: ${problem}`)
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

function isUnreadableDb(err: unknown): boolean {
  const codes = ['DB_NOT_SQLITE', 'DB_CORRUPT', 'DB_NO_CONNECTOR_TABLE', 'CONNECTOR_CONFIG_INVALID']
  return (
    err instanceof WatchdogError &&
    (codes.includes(err.code) ||
      (err.code === 'BACKUP_VERIFY_FAILED' && /integrity_check|cannot open/.test(err.message)))
  )
}

function stampOf(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '')
}

export interface PrunePolicy {
  /** Always keep this many of the newest backups. */
  keep: number
  /** Also keep anything younger than this. */
  maxAgeDays: number
  now?: Date
  dryRun?: boolean
}

/** Apply retention: keep the newest `keep` and everything younger than `maxAgeDays`; delete the rest. */
export function pruneBackups(
  dir: string,
  policy: PrunePolicy,
): { kept: BackupInfo[]; deleted: BackupInfo[] } {
  const now = (policy.now ?? new Date()).getTime()
  const cutoff = now - policy.maxAgeDays * 24 * 3600 * 1000
  const kept: BackupInfo[] = []
  const deleted: BackupInfo[] = []
  listBackups(dir).forEach((b, i) => {
    const created = Date.parse(b.manifest.createdAt)
    if (i < policy.keep || (Number.isFinite(created) && created > cutoff)) kept.push(b)
    else deleted.push(b)
  })
  if (policy.dryRun !== true) {
    for (const b of deleted) {
      // Manifest first: a backup without a manifest is never listed, so a half-pruned one is invisible.
      unlinkIfExists(b.manifestPath)
      unlinkIfExists(b.path)
    }
  }
  return { kept, deleted }
}

/** Half-written copies older than this were left by a process killed mid-backup. */
const stalePartialMs = 60 * 60 * 1000

/**
 * Remove `*.partial` files a killed backup left behind (each is as large as idp.db). Only files older
 * than an hour: a younger one may belong to a backup still running in another process or container
 * (pids are not comparable across PID namespaces). Never touches finished backups or manifests.
 */
export function sweepStalePartials(dir: string, nowMs = Date.now()): string[] {
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return removed
  }
  for (const name of names) {
    if (!name.endsWith('.partial')) continue
    const path = join(dir, name)
    try {
      if (nowMs - statSync(path).mtimeMs < stalePartialMs) continue
      unlinkSync(path)
      removed.push(name)
    } catch {
      // Gone already, or not ours to remove: the next sweep tries again.
    }
  }
  return removed
}
