// A PostgreSQL IdP store dropped and re-created under a running daemon (issue 24 item 3): a real
// PostgreSQL server (test/helpers/postgres.ts), the daemon in-process (src/daemon.ts, the config through
// the real loader) finding the store where NetBird's config.yaml names it, the Docker engine a socket
// where nothing listens. The database is dropped and created again under the same name with Dex's
// schema and only NetBird's `local` connector, as NetBird's start leaves it: the finding (metric, one
// error line with the restore command, --force because it is another database), nothing written by
// the daemon, the backup holding the old connectors kept through retention, and the command, run as
// printed, putting them back. No DSN password in any log line. Run `npm run build` first.
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { stringify } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { startDaemon } from '../../src/daemon.js'
import { createLogger } from '../../src/log.js'
import { listBackups } from '../../src/store/backup-files.js'
import { lastKeptBackup } from '../../src/store/restore-guard.js'
import { runPrinted } from '../helpers/cli.js'
import { googleId, jumpcloudId, oktaId } from '../helpers/idp-fixture.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import {
  assertNoDsnPassword,
  clusterForFile,
  createDexDatabase,
  createDexSchema,
  rawConnectors,
  roleName,
  seedDex,
  type PgCluster,
} from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'
import { recordSink, type LogRecord } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))

test('PostgreSQL: the database dropped and re-created under a running daemon — the finding, nothing written, the old backup kept; the printed command restores it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-pg-replaced-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const { database, dsn } = await createDexDatabase(cluster)
  const original = await rawConnectors(cluster, database)
  const yaml = join(dir, 'config.yaml')
  await writeFile(
    yaml,
    stringify({ server: { dataDir: '/var/lib/netbird', authStore: { engine: 'postgres', dsn } } }),
  )
  const backups = join(dir, 'backups')
  const file = join(dir, 'watchdog.yml')
  await writeFile(
    file,
    stringify({
      mode: 'repair',
      docker: { host: `unix://${join(dir, 'no-docker.sock')}` },
      targets: { names: ['netbird-server'], autoDetect: false },
      metrics: { address: '127.0.0.1:0' },
      sso: { probeSeconds: 0 },
      idp: { configYaml: yaml },
      // Retention keeps ONE backup: any backup of the new database would delete the old one.
      backups: { dir: backups, keep: 1, maxAgeDays: 1 },
      schedules: { doctor: '', backup: '', integrity: '* * * * * *' },
    }),
  )
  const loaded = loadConfig(file, {})
  const records: LogRecord[] = []
  const daemon = await startDaemon({
    config: loaded.config,
    secrets: loaded.secrets,
    env: {},
    logger: createLogger({ level: 'debug' }, recordSink(records)),
    version: 'test',
    watcherTuning: { reconnectInitialMs: 100 },
  })
  defer(t, () => daemon.stop())
  const url = `http://127.0.0.1:${daemon.address.port}/metrics`
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    valueOf(parseMetrics(await (await fetch(url)).text()), name, labels)
  // A run of the job of its own (the integrity schedule ticks every second: a run already under way
  // skips this one, as a cron tick would be skipped, so it is asked again).
  const job = async (name: 'backup' | 'integrity'): Promise<void> => {
    await waitFor(`${name} to run`, () => daemon.selfHealing.scheduler.runNow(name))
  }

  await job('backup')
  const kept = lastKeptBackup(backups)
  assert.ok(kept)
  assert.equal(kept.manifest.engine, 'postgres')
  assert.equal(await metric('netbird_watchdog_idp_store_replaced'), 0)

  // Dropped (the daemon's pooled connections with it) and created again under the same name, as a
  // re-created PostgreSQL volume or an operator's `dropdb`/`createdb` leaves it; NetBird's start then
  // runs Dex's migrations and puts its `local` connector in.
  const admin = await cluster.admin()
  try {
    await admin.query(`drop database ${database} with (force)`)
    await admin.query(`create database ${database} owner ${roleName}`)
  } finally {
    await admin.end()
  }
  const c = await cluster.connect(database)
  try {
    await createDexSchema(c, 'v0.244')
    await seedDex(c, 'v0.244', [{ id: 'local', type: 'local', name: 'Email', config: null }])
  } finally {
    await c.end()
  }

  await waitFor('the re-created database to be found by the scheduled integrity check', async () =>
    (await metric('netbird_watchdog_idp_store_replaced')) === 1 ? true : undefined,
  )
  assert.equal(await metric('netbird_watchdog_idp_connectors_missing'), 3)
  const lines = records.filter((r) => r.msg.startsWith('IdP STORE REPLACED'))
  assert.equal(lines.length, 1)
  const line = lines[0]!
  // The store as the daemon found it: the command reads the DSN (and its password) where it did.
  const command = `netbird-watchdog backups restore ${kept.id} --config-yaml ${yaml} --backup-dir ${backups} --force`
  assert.equal(line.level, 'error')
  assert.equal(line.command, command)
  assert.deepEqual([...(line.missing as string[])].sort(), [googleId, jumpcloudId, oktaId].sort())
  assert.match(line.msg, /\(another database \(OID \d+, the backup's \d+: dropped and re-created/)
  assert.ok(line.msg.includes(`To restore them: ${command} — --force because`))

  // While it stands, nothing is written: not the database, not the backup directory.
  const rowsNow = await rawConnectors(cluster, database)
  const inDir = readdirSync(backups).sort()
  for (let i = 0; i < 3; i++) await job('backup')
  await job('integrity')
  assert.equal(await metric('netbird_watchdog_check_success', { check: 'backup' }), 0)
  assert.deepEqual(await rawConnectors(cluster, database), rowsNow)
  assert.deepEqual(readdirSync(backups).sort(), inDir)
  assert.equal(lastKeptBackup(backups)?.id, kept.id)

  const restored = await runPrinted(dir, command)
  assert.equal(restored.code, 0, restored.stderr)
  assert.deepEqual(await rawConnectors(cluster, database), original)
  assertNoDsnPassword(restored.stdout + restored.stderr)
  await job('integrity')
  assert.equal(await metric('netbird_watchdog_idp_store_replaced'), 0)
  assert.equal(await metric('netbird_watchdog_idp_connectors_missing'), 0)
  // Another database now (its OID), holding every connector: nothing lost, and the next scheduled
  // backup records it.
  assert.ok(
    records.some((r) => r.level === 'info' && r.change === 'other-store'),
    'the restored database is told as another store that lost nothing',
  )
  assert.deepEqual(
    records
      .filter((r) => r.msg.startsWith('the IdP store is no longer lost or replaced'))
      .map((r) => r.msg),
    [
      `the IdP store is no longer lost or replaced: it holds every connector of backup ${kept.id} (in another store: restored or moved)`,
    ],
  )
  await job('backup')
  assert.equal(await metric('netbird_watchdog_check_success', { check: 'backup' }), 1)
  const now = listBackups(backups)
  assert.equal(now.length, 1, 'retention runs again (keep 1)')
  assert.equal(now[0]!.manifest.reason, 'scheduled')
  assert.notEqual(now[0]!.manifest.instance, kept.manifest.instance)
  await job('integrity')
  assert.equal(await metric('netbird_watchdog_idp_store_replaced'), 0)
  await daemon.stop()
  assertNoDsnPassword(JSON.stringify(records))
})
