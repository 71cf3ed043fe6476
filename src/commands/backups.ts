// `netbird-watchdog backups create|list|verify|restore|prune`: the verified idp.db backups
// (src/sqlite/backup.ts) from the command line.
import type { Command } from 'commander'
import { WatchdogError } from '../errors.js'
import {
  createBackup,
  defaultBackupDir,
  findBackup,
  listBackups,
  pruneBackups,
  restoreBackup,
  verifyBackup,
  type BackupInfo,
} from '../sqlite/backup.js'
import { readVersion } from '../version.js'
import { exitCodes, writeLine, type CliIO } from './io.js'

interface Location {
  db?: string
  backupDir?: string
  json?: boolean
}

function backupDirOf(flags: Location): string {
  if (flags.backupDir !== undefined) return flags.backupDir
  if (flags.db !== undefined) return defaultBackupDir(flags.db)
  throw new WatchdogError('USAGE', 'give --db PATH (backups live next to it) or --backup-dir DIR')
}

function summary(b: BackupInfo): Record<string, unknown> {
  return {
    id: b.id,
    path: b.path,
    createdAt: b.manifest.createdAt,
    reason: b.manifest.reason,
    size: b.manifest.size,
    sha256: b.manifest.sha256,
    source: b.manifest.source,
    version: b.manifest.version,
  }
}

function withLocation(cmd: Command): Command {
  return cmd
    .option('--db <path>', 'idp.db the backups belong to')
    .option(
      '--backup-dir <dir>',
      'backup directory (default: netbird-watchdog-backups/ next to --db)',
    )
    .option('--json', 'print JSON only')
}

function positiveInt(name: string, value: string, allowZero = false): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new WatchdogError(
      'USAGE',
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`,
    )
  }
  return n
}

export function registerBackups(program: Command, io: CliIO): void {
  const backups = program
    .command('backups')
    .description('Create, list, verify, restore and prune verified idp.db backups.')
    .addHelpText(
      'after',
      `
Backups are taken with SQLite's online backup API, checked (opens, integrity_check ok, connector rows equal
the source) and described by a manifest (<id>.json: sha256, size, source, reason, version).
Exit status: 0 ok, 1 a backup failed verification or a restore failed, 2 usage or input error.`,
    )

  withLocation(backups.command('create').description('Take a verified backup now.'))
    .option('--reason <word>', 'recorded in the name and manifest', 'manual')
    .action(async (flags: Location & { reason: string }) => {
      if (flags.db === undefined) throw new WatchdogError('USAGE', 'backups create needs --db PATH')
      const info = await createBackup(flags.db, {
        backupDir: backupDirOf(flags),
        reason: flags.reason,
        version: readVersion(),
      })
      writeLine(
        io.stdout,
        flags.json === true ? JSON.stringify(summary(info)) : `created ${info.path}`,
      )
      io.setExitCode(exitCodes.ok)
    })

  withLocation(backups.command('list').description('List backups, newest first.')).action(
    (flags: Location) => {
      const dir = backupDirOf(flags)
      const all = listBackups(dir)
      if (flags.json === true) {
        writeLine(io.stdout, JSON.stringify(all.map(summary)))
      } else if (all.length === 0) {
        writeLine(io.stdout, `no backups in ${dir}`)
      } else {
        for (const b of all) {
          writeLine(
            io.stdout,
            `${b.id}  ${b.manifest.createdAt}  ${b.manifest.reason}  ${b.manifest.size} bytes  ${b.path}`,
          )
        }
      }
      io.setExitCode(exitCodes.ok)
    },
  )

  withLocation(
    backups
      .command('verify')
      .description('Check backups against their manifests (all, or the ids given).')
      .argument('[ids...]', 'backup ids (default: every backup)'),
  ).action(async (ids: string[], flags: Location) => {
    const dir = backupDirOf(flags)
    const targets = ids.length > 0 ? ids.map((id) => findBackup(dir, id)) : listBackups(dir)
    const results = []
    for (const b of targets) results.push({ id: b.id, path: b.path, ...(await verifyBackup(b)) })
    if (flags.json === true) {
      writeLine(io.stdout, JSON.stringify(results))
    } else {
      if (results.length === 0) writeLine(io.stdout, `no backups in ${dir}`)
      for (const r of results) {
        writeLine(io.stdout, r.ok ? `ok      ${r.id}` : `FAILED  ${r.id}: ${r.problems.join('; ')}`)
      }
    }
    io.setExitCode(results.every((r) => r.ok) ? exitCodes.ok : exitCodes.problems)
  })

  withLocation(
    backups
      .command('restore')
      .description('Restore idp.db from a backup (the current database is backed up first).')
      .argument('<id>', 'backup id (see `backups list`)'),
  ).action(async (id: string, flags: Location) => {
    if (flags.db === undefined) throw new WatchdogError('USAGE', 'backups restore needs --db PATH')
    const dir = backupDirOf(flags)
    const info = findBackup(dir, id)
    const res = await restoreBackup(info, {
      dbPath: flags.db,
      backupDir: dir,
      version: readVersion(),
    })
    if (flags.json === true) {
      writeLine(
        io.stdout,
        JSON.stringify({
          db: flags.db,
          restored: res.restored.id,
          preRestoreBackup: res.preRestoreBackup,
        }),
      )
    } else {
      writeLine(io.stdout, `restored ${flags.db} from ${res.restored.id}`)
      if (res.preRestoreBackup !== null)
        writeLine(io.stdout, `  previous state kept in ${res.preRestoreBackup}`)
      writeLine(io.stdout, '  restart NetBird (management or netbird-server container) to load it')
    }
    io.setExitCode(exitCodes.ok)
  })

  withLocation(
    backups
      .command('prune')
      .description('Apply retention: keep the newest N and anything younger than D days.'),
  )
    .option('--keep <n>', 'always keep this many of the newest', '10')
    .option('--max-age-days <d>', 'also keep anything younger than this', '14')
    .option('--dry-run', 'only list what would be deleted')
    .action((flags: Location & { keep: string; maxAgeDays: string; dryRun?: boolean }) => {
      const dir = backupDirOf(flags)
      const res = pruneBackups(dir, {
        keep: positiveInt('--keep', flags.keep),
        maxAgeDays: positiveInt('--max-age-days', flags.maxAgeDays, true),
        dryRun: flags.dryRun === true,
      })
      if (flags.json === true) {
        writeLine(
          io.stdout,
          JSON.stringify({
            dryRun: flags.dryRun === true,
            kept: res.kept.map((b) => b.id),
            deleted: res.deleted.map((b) => b.id),
          }),
        )
      } else {
        const verb = flags.dryRun === true ? 'would delete' : 'deleted'
        for (const b of res.deleted) writeLine(io.stdout, `${verb} ${b.id}`)
        writeLine(io.stdout, `kept ${res.kept.length}, ${verb} ${res.deleted.length}`)
      }
      io.setExitCode(exitCodes.ok)
    })
}
