// The SQLite IdP store as the tests use it: backups, restores and repairs of an idp.db by path, through
// the store port (src/store/) and the repair flow (src/heal/repair.ts) the CLI and the daemon use.
import type { IssuerChange } from '../../src/core/edit-plan.js'
import { repairIssuers, type RepairResult } from '../../src/heal/repair.js'
import { defaultBackupDir, type BackupInfo } from '../../src/store/backup-files.js'
import type { RestoreResult } from '../../src/store/port.js'
import { backupSqlite } from '../../src/store/sqlite/backup.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'

export { verifySqliteBackup as verifyBackup } from '../../src/store/sqlite/backup.js'

/** A verified backup of `db` (into `backupDir`, default netbird-watchdog-backups/ next to it). */
export function backupDb(
  db: string,
  opts: { reason: string; version: string; backupDir?: string; now?: Date },
): Promise<BackupInfo> {
  return backupSqlite(
    db,
    { dir: opts.backupDir ?? defaultBackupDir(db), reason: opts.reason, version: opts.version },
    opts.now !== undefined ? { now: opts.now } : {},
  )
}

/** Restore `dbPath` from a backup (the current state is backed up first). */
export function restoreDb(
  info: BackupInfo,
  opts: { dbPath: string; backupDir?: string; version: string },
): Promise<RestoreResult> {
  return new SqliteStore(opts.dbPath).restore(info, {
    dir: opts.backupDir ?? defaultBackupDir(opts.dbPath),
    reason: 'pre-restore',
    version: opts.version,
  })
}

/** Repair issuers in `dbPath` as `netbird-watchdog repair` does (plain-http issuers allowed: test peers). */
export function repairDb(opts: {
  dbPath: string
  changes: readonly IssuerChange[]
  dryRun: boolean
  version: string
  backupDir?: string
  managementJsonPath?: string
  fixStaticConnectors?: boolean
  busyTimeoutMs?: number
  allowInsecure?: boolean
}): Promise<RepairResult> {
  return repairIssuers({
    store: new SqliteStore(
      opts.dbPath,
      opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {},
    ),
    changes: opts.changes,
    dryRun: opts.dryRun,
    backupDir: opts.backupDir ?? defaultBackupDir(opts.dbPath),
    allowInsecure: opts.allowInsecure ?? true,
    ...(opts.managementJsonPath !== undefined
      ? { managementJsonPath: opts.managementJsonPath }
      : {}),
    fixStaticConnectors: opts.fixStaticConnectors ?? false,
    version: opts.version,
  })
}
