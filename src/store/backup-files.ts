// The backup directory, whatever engine the backups come from: manifests (one `<id>.json` per backup,
// written last, so a backup with a manifest is always complete, with a monotonic `sequence`), listing,
// lookup, and the directory's rules (private, checked at start). Every file here is written by the
// durable, private-from-creation helpers of files.ts; retention and the sweep of half-written copies
// are retention.ts. Engine-specific copying and verification live in the adapters (store/sqlite/,
// store/postgres/).
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  readdirSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { WatchdogError, errorMessage } from '../errors.js'
import {
  fsyncDir,
  hashFile,
  preparePrivateDir,
  stampOf,
  unlinkIfExists,
  writePrivateFileAtomically,
} from '../files.js'
import type { StoreEngine } from '../core/store-identity.js'

export const backupDirName = 'netbird-watchdog-backups'

export interface BackupManifest {
  format: 1
  id: string
  /** The backup's data file name, in the same directory as the manifest. */
  file: string
  sha256: string
  size: number
  /** The store that was backed up: the database file's absolute path, or `host:port/dbname`. */
  source: string
  /** Absent in manifests written before PostgreSQL support: `sqlite`. */
  engine?: StoreEngine
  /**
   * `dev:ino` of the SQLite file: the same database seen under another mount path (the sidecar's
   * /var/lib/netbird/idp.db and the host's volume path) has the same one.
   */
  sourceFile?: string
  /**
   * What the store is (store/port.ts StoreIdentity `instance`): SQLite `dev:ino`, PostgreSQL
   * `<system identifier>/<database OID>`. Absent in manifests written before it was recorded.
   */
  instance?: string
  reason: string
  version: string
  /** The wall-clock time of the backup: shown, and used for the age limit — never for the order. */
  createdAt: string
  /**
   * The backup's place in its directory: one more than the highest sequence of the manifests there
   * when it was written (absent in manifests written before it existed: they come first). Backups are
   * ordered by it, not by `createdAt`, which a clock that ran ahead or back would scramble.
   */
  sequence?: number
  /** SQLite backups: the library version that wrote the copy. */
  sqliteVersion?: string
  /** PostgreSQL backups: the server's version. */
  serverVersion?: string
  /** Connector ids in the backup, for a quick look without opening it. Never any config values. */
  connectors: string[]
}

export interface BackupInfo {
  id: string
  /** The backup's data file. */
  path: string
  manifestPath: string
  manifest: BackupManifest
}

export interface VerifyResult {
  ok: boolean
  problems: string[]
}

/** The engine a manifest belongs to (manifests older than PostgreSQL support are SQLite's). */
export function engineOf(manifest: BackupManifest): StoreEngine {
  return manifest.engine ?? 'sqlite'
}

// Hand-checked rather than zod: the crash test starts this module hundreds of times, and zod's import
// cost dominates a process start.
export function parseManifest(value: unknown): BackupManifest | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const m = value as Record<string, unknown>
  const nonEmpty = ['id', 'file', 'source', 'reason', 'createdAt']
  if (m.format !== 1 || typeof m.version !== 'string') return undefined
  if (!nonEmpty.every((k) => typeof m[k] === 'string' && m[k] !== '')) return undefined
  if (m.engine !== undefined && m.engine !== 'sqlite' && m.engine !== 'postgres') return undefined
  for (const k of ['sqliteVersion', 'serverVersion', 'sourceFile', 'instance']) {
    if (m[k] !== undefined && typeof m[k] !== 'string') return undefined
  }
  if (
    m.sequence !== undefined &&
    (typeof m.sequence !== 'number' || !Number.isSafeInteger(m.sequence) || m.sequence < 0)
  ) {
    return undefined
  }
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return undefined
  if (typeof m.size !== 'number' || !Number.isInteger(m.size) || m.size < 0) return undefined
  if (!Array.isArray(m.connectors) || !m.connectors.every((c) => typeof c === 'string')) {
    return undefined
  }
  if (typeof m.file !== 'string' || m.file.includes('/') || m.file.includes('\\')) return undefined
  return value as BackupManifest
}

export function defaultBackupDir(dbPath: string): string {
  return join(dirname(resolve(dbPath)), backupDirName)
}

/**
 * At start-up, before anything is written: an existing `dir` must be a private directory
 * (`preparePrivateDir`'s rules; nothing is changed). A missing one is left alone: it is created by the
 * first backup, once the database is known to exist.
 */
export function checkBackupDir(dir: string): void {
  try {
    lstatSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
  }
  preparePrivateDir(dir)
}

/**
 * Write `<id>.json` for a finished backup: the last step, so a listed backup is always complete. Sets
 * the manifest's `sequence` (the next one in `dir`) before writing it.
 */
export function writeManifest(dir: string, manifest: BackupManifest): string {
  manifest.sequence = nextSequence(dir)
  const manifestPath = join(dir, `${manifest.id}.json`)
  writePrivateFileAtomically(manifestPath, JSON.stringify(manifest, null, 2) + '\n')
  fsyncDir(dir)
  return manifestPath
}

/** An id no file in `dir` uses yet: `<prefix>-<stamp>-<reason>[-n]`. */
export function uniqueBackupId(dir: string, now: Date, reason: string, prefix = 'idp'): string {
  const safeReason =
    reason
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'backup'
  const base = `${prefix}-${stampOf(now)}-${safeReason}`
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`
    const taken = readdirSafe(dir).some((name) => name.startsWith(`${id}.`))
    if (!taken) return id
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** The data file matches its manifest's size and sha256; the problems otherwise. */
export async function checkAgainstManifest(info: BackupInfo): Promise<string[]> {
  if (!existsSync(info.path)) return [`${info.path} is missing`]
  const { sha256, size } = await hashFile(info.path)
  const problems: string[] = []
  if (size !== info.manifest.size) problems.push(`size ${size} ≠ manifest ${info.manifest.size}`)
  if (sha256 !== info.manifest.sha256) problems.push('sha256 does not match the manifest')
  return problems
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
    if (manifest === undefined || `${manifest.id}.json` !== name) continue
    out.push({ id: manifest.id, path: join(dir, manifest.file), manifestPath, manifest })
  }
  return out.sort(newestFirst)
}

/**
 * Newest first: by `sequence` (a manifest without one, written before it existed, counts as 0 and
 * comes after every one that has it), then — between manifests of the same sequence — by time and id.
 */
function newestFirst(a: BackupInfo, b: BackupInfo): number {
  const bySequence = (b.manifest.sequence ?? 0) - (a.manifest.sequence ?? 0)
  if (bySequence !== 0) return bySequence
  if (a.manifest.createdAt !== b.manifest.createdAt) {
    return b.manifest.createdAt.localeCompare(a.manifest.createdAt)
  }
  return b.id.localeCompare(a.id)
}

/** One more than the highest `sequence` of the manifests in `dir` (1 in an empty directory). */
export function nextSequence(dir: string): number {
  let max = 0
  for (const b of listBackups(dir)) max = Math.max(max, b.manifest.sequence ?? 0)
  return max + 1
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

/** A private copy of `source` kept as evidence before it is overwritten (`<name>.<stamp>.unreadable`). */
export async function keepEvidenceCopy(source: string, dir: string, now: Date): Promise<string> {
  const dest = join(dir, `${basename(source)}.${stampOf(now)}.unreadable`)
  const fd = openSync(dest, 'wx', 0o600)
  let complete = false
  try {
    for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer
      let off = 0
      while (off < b.length) off += writeSync(fd, b, off, b.length - off)
    }
    fsyncSync(fd)
    complete = true
  } finally {
    closeSync(fd)
    // A cut-off copy is no evidence, and retention would count it as the newest one.
    if (!complete) unlinkIfExists(dest)
  }
  return dest
}
