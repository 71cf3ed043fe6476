// Retention in the backup directory: how many backups (and `.unreadable` evidence copies and
// management.json backups) are kept and for how long, and the sweep of half-written copies a killed
// backup left behind. The last kept backup — the one the store is compared with to tell a lost or
// replaced store (restore-guard.ts) — is never deleted, whoever prunes.
import { readdirSync, statSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { listBackups, type BackupInfo } from './backup-files.js'
import { lastKeptOf } from './restore-guard.js'
import { unlinkIfExists } from '../files.js'

export interface PrunePolicy {
  /** Keep at most this many of each kind of file (the newest). */
  keep: number
  /** Delete anything older than this many days (0: no age limit); the newest of each kind stays. */
  maxAgeDays: number
  now?: Date
  dryRun?: boolean
}

export interface PruneResult {
  kept: BackupInfo[]
  deleted: BackupInfo[]
  /**
   * The last kept backup, when it is kept only because it is that: older than `keep` or `maxAgeDays`
   * allow, but the store is compared with it (deleting it would hide a lost or replaced store, or
   * make a replaced one look kept).
   */
  heldAsLastKept?: BackupInfo
  /** Other files the watchdog wrote here (`.unreadable` evidence, management.json backups) deleted. */
  deletedFiles: string[]
}

/** Names of the extra files kept next to the backups: `<db>.<stamp>.unreadable`, `<file>.<stamp>.bak`. */
const extraKinds: ReadonlyArray<{ kind: string; pattern: RegExp }> = [
  { kind: 'unreadable', pattern: /^(.+)\.(\d{8}T\d{9}Z)\.unreadable$/ },
  { kind: 'bak', pattern: /^(.+)\.(\d{8}T\d{9}Z)\.bak$/ },
]

/**
 * Retention: of each kind of file (verified backups; `.unreadable` copies; management.json backups),
 * keep at most `keep` of the newest and delete anything older than `maxAgeDays` — except the newest
 * one of each kind, which is never deleted, so there is always something to restore, and the last
 * kept backup (`lastKeptOf`: the newest taken on schedule or by an operator, not a safety copy), which
 * the store is compared with.
 * Backups are ordered by their manifests' `sequence`, not by the wall clock. For the age limit a
 * backup is never younger than one taken after it: one written while the clock ran ahead (a time in
 * the future, or later than its successors') is as old as the oldest of the backups that followed it,
 * so it cannot outlive them.
 */
export function pruneBackups(dir: string, policy: PrunePolicy): PruneResult {
  const now = (policy.now ?? new Date()).getTime()
  const cutoff = policy.maxAgeDays > 0 ? now - policy.maxAgeDays * 24 * 3600 * 1000 : -Infinity
  const keepIt = (index: number, createdMs: number): boolean =>
    index === 0 || (index < policy.keep && !(Number.isFinite(createdMs) && createdMs < cutoff))
  const kept: BackupInfo[] = []
  const deleted: BackupInfo[] = []
  let heldAsLastKept: BackupInfo | undefined
  // Newest first (by sequence); `youngest` is the earliest time of this backup and every later one.
  const backups = listBackups(dir)
  const lastKeptId = lastKeptOf(backups)?.id
  let youngest = now
  for (const [i, b] of backups.entries()) {
    const created = Date.parse(b.manifest.createdAt)
    if (Number.isFinite(created)) youngest = Math.min(youngest, created)
    if (keepIt(i, youngest)) kept.push(b)
    else if (b.id === lastKeptId) {
      heldAsLastKept = b
      kept.push(b)
    } else deleted.push(b)
  }
  const deletedFiles: string[] = []
  for (const { pattern } of extraKinds) {
    // Series per kind and per original file name, newest first (the stamp sorts as text).
    const series = new Map<string, Array<{ name: string; stamp: string }>>()
    for (const name of readdirSafe(dir)) {
      const m = pattern.exec(name)
      if (m === null) continue
      const list = series.get(m[1]!) ?? []
      list.push({ name, stamp: m[2]! })
      series.set(m[1]!, list)
    }
    for (const list of series.values()) {
      list.sort((a, b) => b.stamp.localeCompare(a.stamp))
      list.forEach((f, i) => {
        if (!keepIt(i, parseStamp(f.stamp))) deletedFiles.push(f.name)
      })
    }
  }
  if (policy.dryRun !== true) {
    for (const b of deleted) {
      // Manifest first: a backup without a manifest is never listed, so a half-pruned one is invisible.
      unlinkIfExists(b.manifestPath)
      unlinkIfExists(b.path)
    }
    for (const name of deletedFiles) unlinkIfExists(join(dir, name))
  }
  return { kept, deleted, deletedFiles, ...(heldAsLastKept ? { heldAsLastKept } : {}) }
}

/** `20260801T110000123Z` -> ms since the epoch. */
function parseStamp(stamp: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{3})Z$/.exec(stamp)
  if (m === null) return Number.NaN
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!)
}

/** Half-written copies older than this were left by a process killed mid-backup. */
const stalePartialMs = 60 * 60 * 1000

/**
 * Remove `*.partial` files a killed backup left behind (each is as large as the data). Only files
 * older than an hour: a younger one may belong to a backup still running in another process or
 * container (pids are not comparable across PID namespaces). Never touches finished backups.
 */
export function sweepStalePartials(dir: string, nowMs = Date.now()): string[] {
  const removed: string[] = []
  for (const name of readdirSafe(dir)) {
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

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
