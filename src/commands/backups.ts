// `netbird-watchdog backups create|list|verify|restore|prune`: the verified IdP store backups
// (store/backup-files.ts and the engine adapters) from the command line, for idp.db and for a
// PostgreSQL store alike. list, verify and prune need only the directory; create and restore the
// store too (store/open.ts decides which).
import type { Command } from 'commander'
import { WatchdogError } from '../errors.js'
import { engineOf, findBackup, listBackups, type BackupInfo } from '../store/backup-files.js'
import { pruneBackups } from '../store/retention.js'
import { backupDirFor, locationLabel, openStore, type StoreLocation } from '../store/open.js'
import { resolveStore } from '../locate/resolve-store.js'
import type { IdpStore } from '../store/port.js'
import { assertSameStore } from '../store/restore-guard.js'
import { verifyBackupFile } from '../store/verify.js'
import { readVersion } from '../version.js'
import { intFlag } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

interface Location {
  db?: string
  configYaml?: string
  managementJson?: string
  backupDir?: string
  json?: boolean
}

/** The store the flags name (--db, else --config-yaml / --management-json), if any. */
function locate(flags: Location, env: CliIO['env']): StoreLocation | undefined {
  return resolveStore({
    ...(flags.db !== undefined ? { db: flags.db } : {}),
    ...(flags.configYaml !== undefined ? { configYaml: flags.configYaml } : {}),
    ...(flags.managementJson !== undefined ? { managementJson: flags.managementJson } : {}),
    env,
  })
}

function backupDirOf(flags: Location, env: CliIO['env']): string {
  if (flags.backupDir !== undefined) return flags.backupDir
  const location = locate(flags, env)
  if (location !== undefined) return backupDirFor(location, undefined)
  throw new WatchdogError(
    'USAGE',
    'give --backup-dir DIR, or --db PATH (backups live next to idp.db by default)',
  )
}

function storeOf(flags: Location, env: CliIO['env'], what: string): StoreLocation {
  const location = locate(flags, env)
  if (location === undefined) {
    throw new WatchdogError(
      'USAGE',
      `backups ${what} needs --db PATH|DSN (or --config-yaml / --management-json naming the store)`,
    )
  }
  return location
}

/** Run `fn` with the store open, and close it (a PostgreSQL pool) whatever happens. */
async function withStore<T>(location: StoreLocation, fn: (s: IdpStore) => Promise<T>): Promise<T> {
  const store = openStore(location)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

function summary(b: BackupInfo): Record<string, unknown> {
  return {
    id: b.id,
    engine: engineOf(b.manifest),
    path: b.path,
    createdAt: b.manifest.createdAt,
    ...(b.manifest.sequence !== undefined ? { sequence: b.manifest.sequence } : {}),
    reason: b.manifest.reason,
    size: b.manifest.size,
    sha256: b.manifest.sha256,
    source: b.manifest.source,
    version: b.manifest.version,
  }
}

function withLocation(cmd: Command): Command {
  return cmd
    .option('--db <path|dsn>', 'the store the backups belong to: idp.db, or a PostgreSQL DSN')
    .option(
      '--config-yaml <path>',
      "without --db: the store the combined server's config.yaml names (server.authStore)",
    )
    .option(
      '--management-json <path>',
      'without --db: the store management.json names (EmbeddedIdP.Storage)',
    )
    .option(
      '--backup-dir <dir>',
      'backup directory (default: netbird-watchdog-backups/ next to idp.db; required for PostgreSQL)',
    )
    .option('--json', 'print JSON only')
}

export function registerBackups(program: Command, io: CliIO): void {
  const backups = program
    .command('backups')
    .description(
      'Create, list, verify, restore and prune verified IdP store backups (idp.db or PostgreSQL).',
    )
    .addHelpText(
      'after',
      `
idp.db backups are taken with SQLite's online backup API and checked (opens, integrity_check ok,
connector rows equal the source). PostgreSQL backups hold every column of every connector row (one
consistent snapshot, read back and compared before the manifest is written). Each is described by a
manifest (<id>.json: engine, sha256, size, source, reason, version). The backup directory is 0700 and
every file in it 0600 (they hold client secrets); a PostgreSQL store has no idp.db to sit next to, so
its backups need --backup-dir. list, verify and prune need only the directory.
restore refuses a backup of another engine, and one of another database (--force overrides). A store
is recognised by what it is, not its name: an idp.db by its connectors (and, when they cannot be read,
by its file's device and inode, the same under any mount path); a PostgreSQL database by its cluster's
system identifier and its OID (a database dropped and re-created under the same name is another one).
Exit status: 0 ok, 1 a backup failed verification or a restore failed, 2 usage or input error,
130/143 stopped by SIGINT/SIGTERM.`,
    )

  withLocation(backups.command('create').description('Take a verified backup now.'))
    .option('--reason <word>', 'recorded in the name and manifest', 'manual')
    .action(async (flags: Location & { reason: string }) => {
      const location = storeOf(flags, io.env, 'create')
      const dir = flags.backupDir ?? backupDirFor(location, undefined)
      throwIfStopped(io)
      const info = await withStore(location, (store) =>
        store.backup({ dir, reason: flags.reason, version: readVersion(), signal: io.signal }),
      )
      // A signal that came as the backup completed: it is kept (complete and verified), but the
      // command reports the stop, never "created".
      if (io.signal.aborted) {
        throw new WatchdogError(
          'INTERRUPTED',
          `stopped by a signal (backup ${info.id} had just been completed: it is kept)`,
        )
      }
      writeLine(
        io.stdout,
        flags.json === true ? JSON.stringify(summary(info)) : `created ${info.path}`,
      )
      io.setExitCode(exitCodes.ok)
    })

  withLocation(backups.command('list').description('List backups, newest first.')).action(
    (flags: Location) => {
      const dir = backupDirOf(flags, io.env)
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
    const dir = backupDirOf(flags, io.env)
    const targets = ids.length > 0 ? ids.map((id) => findBackup(dir, id)) : listBackups(dir)
    const results = []
    for (const b of targets) {
      throwIfStopped(io)
      results.push({ id: b.id, path: b.path, ...(await verifyBackupFile(b)) })
    }
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
      .description(
        'Restore the store (idp.db, or the connector rows of a PostgreSQL store) from a backup; the current state is backed up first.',
      )
      .argument('<id>', 'backup id (see `backups list`)')
      .option('--force', 'restore a backup that is not recognised as one of this database'),
  ).action(async (id: string, flags: Location & { force?: boolean }) => {
    const location = storeOf(flags, io.env, 'restore')
    const dir = flags.backupDir ?? backupDirFor(location, undefined)
    const info = findBackup(dir, id)
    // The file path as given, or the DSN's label: never the DSN itself (its password).
    const db = location.engine === 'sqlite' ? location.path : locationLabel(location)
    const res = await withStore(location, async (store) => {
      await assertSameStore(info, store, flags.force === true)
      throwIfStopped(io)
      return await store.restore(info, { dir, reason: 'pre-restore', version: readVersion() })
    })
    if (flags.json === true) {
      writeLine(
        io.stdout,
        JSON.stringify({
          db,
          restored: res.restored.id,
          preRestoreBackup: res.preRestoreBackup,
        }),
      )
    } else {
      writeLine(io.stdout, `restored ${db} from ${res.restored.id}`)
      if (res.preRestoreBackup !== null)
        writeLine(io.stdout, `  previous state kept in ${res.preRestoreBackup}`)
      writeLine(io.stdout, '  restart NetBird (management or netbird-server container) to load it')
    }
    io.setExitCode(exitCodes.ok)
  })

  withLocation(
    backups
      .command('prune')
      .description(
        'Apply retention: keep at most the newest N, delete anything older than D days, never the newest one nor the last kept one (the backup the store is compared with).',
      ),
  )
    .option('--keep <n>', 'keep at most this many of the newest (of each kind of file)', '10')
    .option('--max-age-days <d>', 'delete anything older than this (0: no age limit)', '14')
    .option('--dry-run', 'only list what would be deleted')
    .action((flags: Location & { keep: string; maxAgeDays: string; dryRun?: boolean }) => {
      const dir = backupDirOf(flags, io.env)
      const res = pruneBackups(dir, {
        keep: intFlag('--keep', flags.keep, { min: 1, max: 100_000 }),
        maxAgeDays: intFlag('--max-age-days', flags.maxAgeDays, { min: 0, max: 36_500 }),
        dryRun: flags.dryRun === true,
      })
      if (flags.json === true) {
        writeLine(
          io.stdout,
          JSON.stringify({
            dryRun: flags.dryRun === true,
            kept: res.kept.map((b) => b.id),
            deleted: res.deleted.map((b) => b.id),
            deletedFiles: res.deletedFiles,
            heldAsLastKept: res.heldAsLastKept?.id ?? null,
          }),
        )
      } else {
        const verb = flags.dryRun === true ? 'would delete' : 'deleted'
        for (const b of res.deleted) writeLine(io.stdout, `${verb} ${b.id}`)
        for (const f of res.deletedFiles) writeLine(io.stdout, `${verb} ${f}`)
        if (res.heldAsLastKept !== undefined) {
          writeLine(
            io.stdout,
            `kept ${res.heldAsLastKept.id} past the limits: it is the last kept backup, the one the store is compared with to tell a lost or replaced store (\`backups create\` takes a newer one)`,
          )
        }
        writeLine(
          io.stdout,
          `kept ${res.kept.length}, ${verb} ${res.deleted.length}${res.deletedFiles.length > 0 ? ` (and ${res.deletedFiles.length} other file(s))` : ''}`,
        )
      }
      io.setExitCode(exitCodes.ok)
    })
}
