// Backups, round two: a backup directory the watchdog did not create keeps its mode (a shared one is
// refused), retention orders backups by a sequence that does not trust the wall clock, and a restore
// recognises a store by what it is, not by its name. Real idp.db files and the real CLI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, type CliRun } from '../helpers/cli.js'
import { createIdpDb, jumpcloudId, oidcConnectors } from '../helpers/idp-fixture.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-backups-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// ---- 12. a shared backup directory ----

test('--backup-dir on a shared 1777 directory: refused (exit 2) by backups create and repair, its mode and contents untouched', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const shared = join(dir, 'shared-tmp')
  mkdirSync(shared)
  chmodSync(shared, 0o1777)
  for (const args of [
    ['backups', 'create', '--db', db, '--backup-dir', shared],
    [
      'repair',
      '--db',
      db,
      '--connector',
      jumpcloudId,
      '--issuer',
      'https://oauth.id.jumpcloud.com/',
      '--backup-dir',
      shared,
    ],
  ]) {
    const res = await runCli(args)
    assert.equal(res.code, 2, `${args[0]}: ${res.stdout}${res.stderr}`)
    assert.match(
      res.stderr,
      /shared-tmp is mode 1777: other users can reach what is in it, and backups hold client secrets\. The watchdog never changes the mode of a directory it did not create/,
    )
    assert.equal(lstatSync(shared).mode & 0o7777, 0o1777, 'sticky bit and all kept')
    assert.deepEqual(readdirSync(shared), [])
  }
  // A directory that does not exist yet is the watchdog's own: created 0700.
  const own = join(dir, 'own', 'backups')
  const created = await runCli(['backups', 'create', '--db', db, '--backup-dir', own])
  assert.equal(created.code, 0, created.stderr)
  assert.equal(lstatSync(own).mode & 0o7777, 0o700)
})

// ---- 11. retention and a clock that ran ahead ----

/** What a backup taken while the clock ran `byMs` ahead wrote: its manifest's time (and nothing else). */
function dateManifest(backups: string, id: string, createdAt: Date): void {
  const path = join(backups, `${id}.json`)
  const m = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  m.createdAt = createdAt.toISOString()
  writeFileSync(path, JSON.stringify(m, null, 2) + '\n', { mode: 0o600 })
}

async function create(db: string): Promise<string> {
  const res = await runCli(['backups', 'create', '--db', db, '--json'])
  assert.equal(res.code, 0, res.stderr)
  return (JSON.parse(res.stdout) as { id: string }).id
}

const day = 24 * 3600 * 1000

test('retention orders by sequence: backups from a clock a year ahead neither count as newest nor outlive the ones after them', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'netbird-watchdog-backups')
  const now = Date.now()
  // Two backups while the clock ran a year ahead, then the clock was corrected: two more.
  const ahead = [await create(db), await create(db)]
  for (const id of ahead) dateManifest(backups, id, new Date(now + 365 * day))
  const real = [await create(db), await create(db)]

  const list = await runCli(['backups', 'list', '--db', db, '--json'])
  assert.deepEqual(
    (JSON.parse(list.stdout) as { id: string }[]).map((b) => b.id),
    [real[1], real[0], ahead[1], ahead[0]],
    'newest first by sequence, whatever the clock said',
  )
  const manifests = readdirSync(backups).filter((n) => n.endsWith('.json'))
  const sequences = manifests
    .map(
      (n) => (JSON.parse(readFileSync(join(backups, n), 'utf8')) as { sequence: number }).sequence,
    )
    .sort((a, b) => a - b)
  assert.deepEqual(sequences, [1, 2, 3, 4])

  // --keep 2: the two taken after the clock was corrected stay.
  const kept = await runCli(['backups', 'prune', '--db', db, '--keep', '2', '--json'])
  assert.equal(kept.code, 0, kept.stderr)
  const res = JSON.parse(kept.stdout) as { kept: string[]; deleted: string[] }
  assert.deepEqual(res.kept, [real[1], real[0]])
  assert.deepEqual(res.deleted.sort(), [...ahead].sort())
})

test('retention by age: a backup dated in the future is as old as the backups taken after it; the newest by sequence always stays', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'netbird-watchdog-backups')
  const now = Date.now()
  const ahead = await create(db)
  const older = await create(db)
  const newest = await create(db)
  dateManifest(backups, ahead, new Date(now + 365 * day))
  dateManifest(backups, older, new Date(now - 30 * day))
  // The newest by sequence, though its clock said it is the oldest of all.
  dateManifest(backups, newest, new Date(now - 40 * day))
  const res = await runCli([
    'backups',
    'prune',
    '--db',
    db,
    '--keep',
    '10',
    '--max-age-days',
    '14',
    '--json',
  ])
  assert.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout) as { kept: string[]; deleted: string[] }
  assert.deepEqual(out.kept, [newest])
  assert.deepEqual(out.deleted.sort(), [ahead, older].sort())
})

// ---- 10. a backup of another store ----

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

test('backups restore recognises a SQLite store by what it is: a volume replaced by another database, or another database copied over the file, is refused; the same one moved or damaged is not', async (t) => {
  const dir = tempDir(t)
  const vol = join(dir, 'vol')
  mkdirSync(vol)
  const db = join(vol, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'backups')
  const created = await runCli(['backups', 'create', '--db', db, '--backup-dir', backups, '--json'])
  assert.equal(created.code, 0, created.stderr)
  const id = (JSON.parse(created.stdout) as { id: string }).id
  const manifest = JSON.parse(readFileSync(join(backups, `${id}.json`), 'utf8')) as {
    instance?: string
  }
  assert.match(manifest.instance ?? '', /^\d+:\d+$/, 'the file identity is recorded')
  const restore = (force = false): Promise<CliRun> =>
    runCli([
      'backups',
      'restore',
      id,
      '--db',
      db,
      '--backup-dir',
      backups,
      ...(force ? ['--force'] : []),
    ])

  // The volume replaced by another NetBird's database, at the same path.
  rmSync(vol, { recursive: true })
  mkdirSync(vol)
  createIdpDb(db, {
    connectors: oidcConnectors([{ id: 'other-xid', issuer: 'https://b.example' }]),
  })
  let hash = sha(db)
  const refused = await restore()
  assert.equal(refused.code, 2, refused.stdout + refused.stderr)
  assert.match(
    refused.stderr,
    /was taken of .*vol\/idp\.db, not of .*vol\/idp\.db: it holds none of the connectors the backup holds/,
  )
  assert.match(refused.stderr, /--force/)
  assert.equal(sha(db), hash, 'untouched')

  // Another database copied over the file in place: the same inode, another store.
  const other = join(dir, 'other.db')
  createIdpDb(other, {
    connectors: oidcConnectors([{ id: 'third-xid', issuer: 'https://c.example' }]),
  })
  copyFileSync(other, db)
  hash = sha(db)
  const overwritten = await restore()
  assert.equal(overwritten.code, 2, overwritten.stdout + overwritten.stderr)
  assert.match(overwritten.stderr, /none of the connectors the backup holds/)
  assert.equal(sha(db), hash)

  // With --force it is restored.
  const forced = await restore(true)
  assert.equal(forced.code, 0, forced.stderr)

  // The same database moved (another inode, the same connectors): recognised, no --force needed.
  renameSync(db, `${db}.moved`)
  copyFileSync(`${db}.moved`, db)
  const moved = await restore()
  assert.equal(moved.code, 0, moved.stderr)

  // Damaged in place (its connectors cannot be read): recognised by its file (device and inode), in
  // a backup taken of this very file.
  const again = await runCli(['backups', 'create', '--db', db, '--backup-dir', backups, '--json'])
  assert.equal(again.code, 0, again.stderr)
  const latest = (JSON.parse(again.stdout) as { id: string }).id
  const h = openSync(db, 'r+')
  writeSync(h, Buffer.alloc(4096, 'garbage '), 0, 4096, 0)
  closeSync(h)
  const damaged = await runCli(['backups', 'restore', latest, '--db', db, '--backup-dir', backups])
  assert.equal(damaged.code, 0, damaged.stderr)
})

test("a store holding only NetBird's local connector is told apart by its file: another file is refused", async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const local = [{ id: 'local', type: 'local', name: 'Email', config: null }]
  createIdpDb(db, { connectors: local })
  const backups = join(dir, 'backups')
  const created = await runCli(['backups', 'create', '--db', db, '--backup-dir', backups, '--json'])
  const id = (JSON.parse(created.stdout) as { id: string }).id
  // Another database put in its place (created beside it, then renamed over it: another inode).
  createIdpDb(`${db}.new`, { connectors: local })
  renameSync(`${db}.new`, db)
  const res = await runCli(['backups', 'restore', id, '--db', db, '--backup-dir', backups])
  assert.equal(res.code, 2, res.stdout + res.stderr)
  assert.match(res.stderr, /another file \(device:inode \d+:\d+, the backup's \d+:\d+\)/)
})
