// Files that hold secrets, written so that they survive: private from creation (a directory the
// watchdog creates is 0700 — one it did not create is never chmod-ed, only refused when others can
// reach it; every file is created 0600) and durable (written, fsynced, renamed into place, the
// directory fsynced). A leaf: the backup directory (store/backup-files.ts), management.json's backups
// (netbird/static-connectors.ts) and the bundle archive (commands/bundle.ts) all use it.
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  createReadStream,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  statfsSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { WatchdogError, errorMessage } from './errors.js'

/**
 * Make `dir` ready for secrets: create it 0700 (with its parents), or, when it exists, check that it
 * is a directory only its owner can enter. The mode of a directory the watchdog did not create is
 * never changed: one that group or others can read, write or enter (a shared 1777 /tmp, a 0755
 * volume) is refused, with what to do. Returns whether it was created. Throws BACKUP_FAILED when it
 * is not a directory or cannot be created, BACKUP_DIR_REFUSED when it is open to others.
 */
export function preparePrivateDir(dir: string): { created: boolean } {
  let st
  try {
    st = lstatSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new WatchdogError('BACKUP_FAILED', `cannot use ${dir}: ${errorMessage(err)}`, {
        cause: err,
      })
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      // mkdir applies the umask, which can only remove bits: this directory is the watchdog's own.
      chmodSync(dir, 0o700)
    } catch (mkErr) {
      throw new WatchdogError('BACKUP_FAILED', `cannot create ${dir}: ${errorMessage(mkErr)}`, {
        cause: mkErr,
      })
    }
    return { created: true }
  }
  if (!st.isDirectory()) {
    throw new WatchdogError(
      'BACKUP_FAILED',
      `${dir} is not a directory: backups need a directory there (set backups.dir / --backup-dir elsewhere)`,
    )
  }
  const mode = st.mode & 0o7777
  if ((mode & 0o077) === 0) return { created: false }
  throw new WatchdogError(
    'BACKUP_DIR_REFUSED',
    `${dir} is mode ${octal(mode)}: other users can reach what is in it, and backups hold client secrets. The watchdog never changes the mode of a directory it did not create (it may be shared, like /tmp): use a private directory for backups (backups.dir / --backup-dir; one that does not exist yet is created 0700), or make this one private yourself (chmod 700)`,
  )
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0')
}

/** Create an empty file only the owner can read, failing if it exists. */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'wx', 0o600))
}

/** Write a new private file durably: created 0600, written, fsynced, then renamed to `path`. */
export function writePrivateFileAtomically(path: string, data: string | Buffer): void {
  const partial = `${path}.${process.pid}.partial`
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const fd = openSync(partial, 'wx', 0o600)
  try {
    let off = 0
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    unlinkIfExists(partial)
    throw err
  }
  closeSync(fd)
  renameSync(partial, path)
}

/** A file-name stamp of `d` (UTC, no separators). */
export function stampOf(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '')
}

/** Refuse to start a backup that would fill the disk: at least twice `bytes` must be free. */
export function checkFreeSpace(dir: string, bytes: number): void {
  let free: number
  try {
    const st = statfsSync(dir)
    free = Number(st.bavail) * Number(st.bsize)
  } catch (err) {
    throw new WatchdogError(
      'BACKUP_FAILED',
      `cannot check free space in ${dir}: ${errorMessage(err)}`,
      { cause: err },
    )
  }
  if (free < 2 * bytes) {
    throw new WatchdogError(
      'DISK_SPACE_LOW',
      `refusing to back up: ${dir} has ${free} bytes free, need at least twice the data (${2 * bytes} bytes)`,
    )
  }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/** sha256 and size of a file; `signal` stops the reading between chunks (INTERRUPTED). */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    if (signal?.aborted === true) {
      throw new WatchdogError('INTERRUPTED', 'stopped by a signal: the backup was not completed')
    }
    const b = chunk as Buffer
    size += b.length
    hash.update(b)
  }
  return { sha256: hash.digest('hex'), size }
}
