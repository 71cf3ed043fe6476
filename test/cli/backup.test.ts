import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  mkdtemp,
  readFile,
  rm,
  writeFile,
  appendFile,
  readdir,
  stat,
  utimes,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { spawnSync } from 'node:child_process'
import { basename, dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { backupDb, restoreDb, verifyBackup } from '../helpers/store.js'
import { defaultBackupDir, findBackup, listBackups } from '../../src/store/backup-files.js'
import { pruneBackups } from '../../src/store/retention.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { isWatchdogError } from '../../src/errors.js'
import { createIdpDb, jumpcloudId, leaveHotJournal } from '../helpers/idp-fixture.js'
import { cliPath, runCli } from '../helpers/cli.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

async function tempDir(t: CleanupScope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-backup-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Every table's rows, as a canonical string: "content" equality independent of page layout. */
export function dumpDb(path: string): string {
  const db = new Database(path, { readonly: true })
  try {
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .all() as { name: string }[]
    return tables
      .map(({ name }) => {
        const rows = db.prepare(`select * from "${name}" order by rowid`).raw().all()
        return (
          name +
          ':' +
          JSON.stringify(rows, (_k, v: unknown) =>
            Buffer.isBuffer(v) ? 'blob:' + v.toString('hex') : v,
          )
        )
      })
      .join('\n')
  } finally {
    db.close()
  }
}

test('createBackup writes a verified copy and a manifest next to idp.db', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db, { schema: 'grant-types' })
  const info = await backupDb(db, { reason: 'manual', version: '9.9.9' })
  assert.equal(info.path.startsWith(defaultBackupDir(db)), true)
  assert.match(info.id, /^idp-\d{8}T\d{9}Z-manual$/)
  const manifest = JSON.parse(await readFile(info.manifestPath, 'utf8'))
  const bytes = await readFile(info.path)
  assert.equal(manifest.sha256, createHash('sha256').update(bytes).digest('hex'))
  assert.equal(manifest.size, bytes.length)
  assert.equal(manifest.source, db)
  assert.equal(manifest.reason, 'manual')
  assert.equal(manifest.version, '9.9.9')
  assert.doesNotMatch(JSON.stringify(manifest), /canary|secret/i)
  assert.equal((await stat(info.path)).mode & 0o777, 0o600)
  assert.deepEqual(await verifyBackup(info), { ok: true, problems: [] })
  assert.equal(dumpDb(info.path), dumpDb(db))
  assert.deepEqual(
    listBackups(defaultBackupDir(db)).map((b) => b.id),
    [info.id],
  )
  assert.equal(findBackup(defaultBackupDir(db), info.id).path, info.path)
})

test('verifyBackup detects a changed file', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const info = await backupDb(db, { reason: 'manual', version: '1', backupDir: join(dir, 'b') })
  await appendFile(info.path, Buffer.alloc(10))
  const res = await verifyBackup(info)
  assert.equal(res.ok, false)
  assert.match(res.problems.join(' '), /size|sha256/)
  await assert.rejects(
    restoreDb(info, { dbPath: db, backupDir: join(dir, 'b'), version: '1' }),
    (err) => isWatchdogError(err, 'BACKUP_VERIFY_FAILED'),
  )
})

test('restore round-trips content and backs up the current database first', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  createIdpDb(db)
  const original = dumpDb(db)
  const info = await backupDb(db, { reason: 'manual', version: '1', backupDir })
  const h = new Database(db)
  h.prepare('update connector set name = ? where id = ?').run('changed', jumpcloudId)
  h.prepare(
    "insert into password (email, hash, username, user_id) values ('a@b', x'00', 'a', '1')",
  ).run()
  h.close()
  const changed = dumpDb(db)
  assert.notEqual(changed, original)
  const res = await restoreDb(info, { dbPath: db, backupDir, version: '1' })
  assert.equal(dumpDb(db), original)
  assert.ok(res.preRestoreBackup !== null)
  assert.equal(dumpDb(res.preRestoreBackup), changed)
  assert.equal(listBackups(backupDir).length, 2)
})

test('restore replaces a file that is no longer a database, keeping its bytes', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  createIdpDb(db)
  const original = dumpDb(db)
  const info = await backupDb(db, { reason: 'manual', version: '1', backupDir })
  await writeFile(db, 'garbage'.repeat(1000))
  const res = await restoreDb(info, { dbPath: db, backupDir, version: '1' })
  assert.equal(dumpDb(db), original)
  assert.equal(await readFile(res.preRestoreBackup!, 'utf8'), 'garbage'.repeat(1000))
})

test('prune keeps at most the newest N, none older than D days, and always the newest', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  createIdpDb(db)
  const day = 24 * 3600 * 1000
  const now = Date.parse('2026-06-30T12:00:00Z')
  // Taken in order, oldest first: retention orders by the sequence of the manifests.
  const ages = [60, 40, 20, 5, 1, 0] // days
  for (const age of ages) {
    await backupDb(db, {
      reason: 'scheduled',
      version: '1',
      backupDir,
      now: new Date(now - age * day),
    })
  }
  const dry = pruneBackups(backupDir, { keep: 2, maxAgeDays: 14, now: new Date(now), dryRun: true })
  assert.equal(dry.kept.length, 2) // 0 and 1: at most two
  assert.equal(dry.deleted.length, 4)
  assert.equal(listBackups(backupDir).length, 6)
  const res = pruneBackups(backupDir, { keep: 4, maxAgeDays: 3, now: new Date(now) })
  assert.equal(res.kept.length, 2) // 0 and 1: 5 and 20 are within four but older than three days
  assert.equal(res.deleted.length, 4)
  assert.equal(listBackups(backupDir).length, 2)
  assert.equal((await readdir(backupDir)).length, 4) // .db + .json each, no leftovers
  // Older than the age limit, but the newest: never deleted.
  const late = pruneBackups(backupDir, { keep: 4, maxAgeDays: 1, now: new Date(now + 30 * day) })
  assert.deepEqual(
    late.kept.map((b) => b.id),
    [listBackups(backupDir)[0]!.id],
  )
  for (const b of listBackups(backupDir)) assert.equal((await verifyBackup(b)).ok, true)
})

test('prune never deletes the last kept backup: not for safety copies after it, nor for its age, nor for a backup of the store emptied since', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  createIdpDb(db)
  const day = 24 * 3600 * 1000
  const now = Date.parse('2026-06-30T12:00:00Z')
  const take = (reason: string, ageDays: number): Promise<{ id: string }> =>
    backupDb(db, { reason, version: '1', backupDir, now: new Date(now - ageDays * day) })
  const kept = await take('scheduled', 40)
  // Every SSO connector gone (a wiped store): the scheduled backup of it is not one to keep.
  const h = new Database(db)
  h.prepare("delete from connector where id != 'local'").run()
  h.close()
  const emptied = await take('scheduled', 30)
  const copies = [await take('pre-repair', 2), await take('pre-rollback', 1)]

  const res = pruneBackups(backupDir, { keep: 2, maxAgeDays: 14, now: new Date(now) })
  assert.deepEqual(
    res.kept.map((b) => b.id),
    [copies[1]!.id, copies[0]!.id, kept.id],
  )
  assert.equal(res.heldAsLastKept?.id, kept.id)
  assert.deepEqual(
    res.deleted.map((b) => b.id),
    [emptied.id],
  )
  assert.deepEqual(
    listBackups(backupDir).map((b) => b.id),
    [copies[1]!.id, copies[0]!.id, kept.id],
  )
  // The last kept one among the newest N: nothing is held beyond them.
  const again = pruneBackups(backupDir, { keep: 3, maxAgeDays: 0, now: new Date(now) })
  assert.equal(again.heldAsLastKept, undefined)
  assert.equal(again.kept.length, 3)

  // By hand: the CLI says which backup it kept past the limits, and why.
  const human = await runCli([
    'backups',
    'prune',
    '--backup-dir',
    backupDir,
    '--keep',
    '1',
    '--max-age-days',
    '0',
  ])
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, new RegExp(`^deleted ${copies[0]!.id}$`, 'm'))
  assert.match(
    human.stdout,
    new RegExp(
      `^kept ${kept.id} past the limits: it is the last kept backup, the one the store is compared with`,
      'm',
    ),
  )
  assert.match(human.stdout, /^kept 2, deleted 1$/m)
  const json = await runCli([
    'backups',
    'prune',
    '--backup-dir',
    backupDir,
    '--keep',
    '1',
    '--json',
  ])
  assert.equal(json.code, 0, json.stderr)
  assert.deepEqual(JSON.parse(json.stdout), {
    dryRun: false,
    kept: [copies[1]!.id, kept.id],
    deleted: [],
    deletedFiles: [],
    heldAsLastKept: kept.id,
  })
})

test('a backup refuses when free space is below twice the database', async (t) => {
  // /dev/shm is a small tmpfs on most Linux machines; a sparse file larger than half of it triggers the check.
  const shm = await mkdtemp(join('/dev/shm', 'nbw-'))
  defer(t, () => rm(shm, { recursive: true, force: true }))
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const { statfsSync } = await import('node:fs')
  const st = statfsSync(shm)
  const free = Number(st.bavail) * Number(st.bsize)
  // Grow the source (sparse) so that 2× its size exceeds the backup filesystem's free space.
  const { truncate } = await import('node:fs/promises')
  const h = new Database(db)
  h.close()
  await truncate(db, Math.ceil(free / 2 / 4096) * 4096 + 4096)
  await assert.rejects(backupDb(db, { reason: 'manual', version: '1', backupDir: shm }), (err) =>
    isWatchdogError(err, 'DISK_SPACE_LOW'),
  )
  assert.deepEqual(await readdir(shm), [])
})

test('backup reads connectors equal to the source (both schemas)', async (t) => {
  for (const schema of ['v0.244', 'grant-types'] as const) {
    const dir = await tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db, { schema })
    const info = await backupDb(db, { reason: 'manual', version: '1' })
    assert.deepEqual(readConnectors(info.path), readConnectors(db))
  }
})

/** The checkout (dist/cli.js's parent): better-sqlite3 resolves from there. */
const repoRoot = dirname(dirname(cliPath))

/** Another process tries a write without waiting: 'ok', or the SQLite error code it got. */
function writeFromAnotherProcess(db: string): string {
  const script = `
const Database = require('better-sqlite3')
const db = new Database(process.env.DB, { timeout: 0 })
try { db.exec('create table probe_write (x)'); db.exec('drop table probe_write'); process.stdout.write('ok') }
catch (err) { process.stdout.write(String(err.code)) }`
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: repoRoot,
    env: { DB: db },
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

test('a large rollback-journal database is backed up as its file, copied under its read lock', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db, { schema: 'grant-types' })
  // VACUUM INTO (below the size) writes a compacted database of its own: not the same bytes.
  const vacuumed = await backupDb(db, { reason: 'manual', version: '1' })
  assert.notDeepEqual(await readFile(vacuumed.path), await readFile(db))
  const info = await backupDb(db, { reason: 'manual', version: '1', fileCopyFromBytes: 0 })
  assert.deepEqual(await readFile(info.path), await readFile(db))
  assert.equal((await stat(info.path)).mode & 0o777, 0o600)
  assert.deepEqual(await verifyBackup(info), { ok: true, problems: [] })
  assert.deepEqual(readConnectors(info.path), readConnectors(db))
  // The read lock ends with the copy.
  assert.equal(writeFromAnotherProcess(db), 'ok')
})

test('the file copy keeps the locks this process holds on the database (a repair holds its write lock)', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const expected = readConnectors(db)
  const writer = new Database(db)
  defer(t, () => writer.close())
  writer.prepare('BEGIN IMMEDIATE').run()
  assert.equal(writeFromAnotherProcess(db), 'SQLITE_BUSY')
  // Closing any descriptor of the file in this process would drop every POSIX lock it holds on it:
  // the copy runs in a child process, so the write lock survives the backup.
  const info = await backupDb(db, {
    reason: 'repair',
    version: '1',
    fileCopyFromBytes: 0,
    expected,
  })
  assert.deepEqual(readConnectors(info.path), expected)
  assert.equal(writeFromAnotherProcess(db), 'SQLITE_BUSY')
  writer.prepare('ROLLBACK').run()
  assert.equal(writeFromAnotherProcess(db), 'ok')
})

test('a WAL database is backed up with VACUUM INTO at any size: a rollback-journal copy', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const wal = new Database(db)
  wal.pragma('journal_mode = WAL')
  // A committed change still in the -wal file: a copy of the main file alone would miss it.
  wal.prepare("update connector set name = 'JumpCloud (renamed)' where id = ?").run(jumpcloudId)
  defer(t, () => wal.close())
  const info = await backupDb(db, { reason: 'manual', version: '1', fileCopyFromBytes: 0 })
  const header = await readFile(info.path)
  assert.deepEqual([header[18], header[19]], [1, 1], 'file format versions: 1 = rollback journal')
  assert.deepEqual(readConnectors(info.path), readConnectors(db))
  assert.match(JSON.stringify(readConnectors(info.path)), /JumpCloud \(renamed\)/)
  assert.deepEqual(
    (await readdir(dirname(info.path))).filter((f) => /-(wal|shm)$/.test(f)),
    [],
  )
})

// ---- CLI (spawns dist/cli.js; `npm test` builds it first) ----

test('CLI backups create/list/verify/prune/restore: exit codes and --json', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const created = await runCli(['backups', 'create', '--db', db, '--json'])
  assert.equal(created.code, 0, created.stderr)
  const info = JSON.parse(created.stdout) as { id: string; path: string; sha256: string }
  assert.match(info.id, /-manual$/)
  assert.doesNotMatch(created.stdout + created.stderr, /canary|GOCSPX|okta-secret/)

  const list = await runCli(['backups', 'list', '--db', db, '--json'])
  assert.equal(list.code, 0)
  assert.deepEqual(
    (JSON.parse(list.stdout) as { id: string }[]).map((b) => b.id),
    [info.id],
  )

  const ok = await runCli(['backups', 'verify', '--db', db])
  assert.equal(ok.code, 0)
  assert.match(ok.stdout, new RegExp(`ok\\s+${info.id}`))

  const h = new Database(db)
  h.prepare('update connector set name = ? where id = ?').run('changed', jumpcloudId)
  h.close()
  const restored = await runCli(['backups', 'restore', info.id, '--db', db, '--json'])
  assert.equal(restored.code, 0, restored.stderr)
  const r = JSON.parse(restored.stdout) as { restored: string; preRestoreBackup: string }
  assert.equal(r.restored, info.id)
  assert.equal(readConnectors(db).find((c) => c.id === jumpcloudId)!.name, 'JumpCloud')
  assert.equal(
    readConnectors(r.preRestoreBackup).find((c) => c.id === jumpcloudId)!.name,
    'changed',
  )

  const pruned = await runCli([
    'backups',
    'prune',
    '--db',
    db,
    '--keep',
    '1',
    '--max-age-days',
    '0',
    '--json',
  ])
  assert.equal(pruned.code, 0, pruned.stderr)
  // The newest (the pre-restore copy) stays, and so does the manual backup: it is the last kept one,
  // the backup the store is compared with, whatever --keep says.
  const p = JSON.parse(pruned.stdout) as {
    kept: string[]
    deleted: string[]
    heldAsLastKept: string
  }
  const preRestore = listBackups(defaultBackupDir(db)).find((b) => b.path === r.preRestoreBackup)
  assert.deepEqual(p.kept, [preRestore?.id, info.id])
  assert.deepEqual(p.deleted, [])
  assert.equal(p.heldAsLastKept, info.id)

  await appendFile(listBackups(defaultBackupDir(db))[0]!.path, 'x')
  const bad = await runCli(['backups', 'verify', '--db', db])
  assert.equal(bad.code, 1)
  assert.match(bad.stdout, /FAILED/)
})

test('CLI backups: usage and input errors exit 2', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  assert.equal((await runCli(['backups', 'list'])).code, 2)
  assert.equal((await runCli(['backups', 'restore', 'nope', '--db', db])).code, 2)
  assert.equal((await runCli(['backups', 'create', '--db', join(dir, 'missing.db')])).code, 2)
  assert.equal((await runCli(['backups', 'prune', '--db', db, '--keep', 'x'])).code, 2)
})

test('restore over a database a writer died in: its hot journal is rolled back first', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  createIdpDb(db)
  const original = dumpDb(db)
  const info = await backupDb(db, { reason: 'manual', version: '1', backupDir })
  await leaveHotJournal(db)
  const res = await restoreDb(info, { dbPath: db, backupDir, version: '1' })
  assert.equal(dumpDb(db), original)
  assert.equal(
    dumpDb(res.preRestoreBackup!),
    original,
    'the pre-restore backup is the rolled-back state',
  )
})

test('a backup sweeps half-written copies older than an hour left by killed processes, not younger ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-partial-'))
  try {
    const db = join(dir, 'idp.db')
    createIdpDb(db)
    const backups = join(dir, 'backups')
    const first = await backupDb(db, { backupDir: backups, reason: 'manual', version: '0.0.0' })
    const stale = join(backups, 'old.db.4242.partial')
    const fresh = join(backups, 'running.db.4343.partial')
    await writeFile(stale, 'half a copy')
    await writeFile(fresh, 'a copy in progress elsewhere')
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000)
    await utimes(stale, twoHoursAgo, twoHoursAgo)
    await backupDb(db, { backupDir: backups, reason: 'manual', version: '0.0.0' })
    const names = await readdir(backups)
    assert.ok(!names.includes('old.db.4242.partial'), 'the stale partial is removed')
    assert.ok(names.includes('running.db.4343.partial'), 'a young partial is left alone')
    assert.ok(names.includes(basename(first.path)), 'finished backups are kept')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
