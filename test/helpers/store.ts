// The SQLite IdP store as the tests use it: backups, restores and repairs of an idp.db by path, through
// the store port (src/store/) and the repair flow (src/heal/repair.ts) the CLI and the daemon use.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import type { ConnectorRow } from '../../src/core/connectors.js'
import type { IssuerChange } from '../../src/core/edit-plan.js'
import { repairIssuers, type RepairResult } from '../../src/heal/repair.js'
import { defaultBackupDir, type BackupInfo } from '../../src/store/backup-files.js'
import type { RestoreResult } from '../../src/store/port.js'
import { backupSqlite } from '../../src/store/sqlite/backup.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { defer, type CleanupScope } from './cleanup.js'

export { verifySqliteBackup as verifyBackup } from '../../src/store/sqlite/backup.js'

/** A verified backup of `db` (into `backupDir`, default netbird-watchdog-backups/ next to it). */
export function backupDb(
  db: string,
  opts: {
    reason: string
    version: string
    backupDir?: string
    now?: Date
    /** Take the file copy from this size on (0: always, for a rollback-journal database). */
    fileCopyFromBytes?: number
    expected?: readonly ConnectorRow[]
  },
): Promise<BackupInfo> {
  return backupSqlite(
    db,
    { dir: opts.backupDir ?? defaultBackupDir(db), reason: opts.reason, version: opts.version },
    {
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      ...(opts.fileCopyFromBytes !== undefined
        ? { fileCopyFromBytes: opts.fileCopyFromBytes }
        : {}),
      ...(opts.expected !== undefined ? { expected: opts.expected } : {}),
    },
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

/** A Dex-like writer (test/fixtures/idp/inserter.mjs): commits refresh_token rows one at a time. */
export interface DexWriter {
  /** Stop writing; resolves with how many rows it committed. */
  stop(): Promise<number>
  /** Rows in refresh_token now. */
  rows(): number
}

export async function startDexWriter(db: string, t: CleanupScope): Promise<DexWriter> {
  const script = fileURLToPath(new URL('../fixtures/idp/inserter.mjs', import.meta.url))
  const child = spawn(process.execPath, [script, db], { stdio: ['pipe', 'pipe', 'inherit'] })
  defer(t, () => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')))
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('ready\n')) resolve()
    }
    child.stdout.on('data', check)
    child.once('exit', (code) => reject(new Error(`the writer exited early (${String(code)})`)))
  })
  return {
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.stdin.end()
      await exited
      const last = out.trim().split('\n').at(-1) ?? '{}'
      return (JSON.parse(last) as { committed: number }).committed
    },
    rows() {
      const h = new Database(db, { readonly: true })
      try {
        return (h.prepare('select count(*) n from refresh_token').get() as { n: number }).n
      } finally {
        h.close()
      }
    },
  }
}
