// idp.db holds client secrets, so every file the watchdog writes next to its backups
// is private from the moment it exists (0600: never created with the umask and chmod-ed later), and
// the backup directory is 0700 — an existing one others can enter is refused and left as it is (its
// mode is never changed: the watchdog did not create it), a file in its place is refused. Run in-process under the common default umask 022, where "created with the umask" would
// mean 0644; each file is stat-ed again and again while it is being written.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isWatchdogError } from '../../src/errors.js'
import { canarySecret, createIdpDb, jumpcloudId } from '../helpers/idp-fixture.js'
import { backupDb, repairDb, restoreDb } from '../helpers/store.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

// The umask most hosts and images start with: files created "with the umask" would be 0644.
process.umask(0o022)

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-perms-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const modeOf = (path: string): number => lstatSync(path).mode & 0o777

/** Every mode each entry of `dir` (and `dir` itself) had, sampled on every event-loop turn. */
interface Observation {
  readonly files: Map<string, Set<number>>
  readonly dirModes: Set<number>
  /** Event-loop turns on which something was sampled. */
  turns: number
}

/**
 * Run `work` while stat-ing every entry of `dir` on each turn of the event loop (setImmediate: the
 * same phase SQLite's online backup steps and fs streams continue in), until it settles.
 */
async function observe<T>(dir: string, work: () => Promise<T>): Promise<[T, Observation]> {
  const seen: Observation = { files: new Map(), dirModes: new Set(), turns: 0 }
  let done = false
  const sample = (): void => {
    try {
      seen.dirModes.add(modeOf(dir))
      for (const name of readdirSync(dir)) {
        try {
          const modes = seen.files.get(name) ?? new Set<number>()
          modes.add(modeOf(join(dir, name)))
          seen.files.set(name, modes)
        } catch {
          // Renamed or removed between readdir and stat: the next turn sees its new name.
        }
      }
      seen.turns++
    } catch {
      // The directory does not exist yet.
    }
    if (!done) setImmediate(sample)
  }
  sample()
  try {
    return [await work(), seen]
  } finally {
    done = true
  }
}

function assertAllPrivate(seen: Observation): void {
  for (const [name, modes] of seen.files) {
    assert.deepEqual(
      [...modes],
      [0o600],
      `${name} was ${[...modes].map((m) => m.toString(8)).join(', ')}`,
    )
  }
  assert.deepEqual([...seen.dirModes], [0o700])
}

/** An idp.db of ~36 MB in 512-byte pages: a backup copies it in several steps of 16384 pages. */
function createLargeIdpDb(path: string): void {
  createIdpDb(path)
  const db = new Database(path)
  try {
    db.pragma('page_size = 512')
    db.exec('vacuum')
    const insert = db.prepare(
      "insert into offline_session (user_id, conn_id, refresh) values (?, 'local', randomblob(40000))",
    )
    db.transaction(() => {
      for (let i = 0; i < 900; i++) insert.run(`user-${i}`)
    })()
  } finally {
    db.close()
  }
  assert.ok(statSync(path).size > 3 * 16384 * 512, 'more than three backup steps')
}

test('a backup is 0600 from its creation: every file seen while it runs, .partial included', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createLargeIdpDb(db)
  const backups = join(dir, 'backups') // created by the backup
  const [info, seen] = await observe(backups, () =>
    backupDb(db, { reason: 'test', version: '1', backupDir: backups }),
  )
  assert.ok(seen.turns > 3, `sampled on ${seen.turns} turns`)
  const names = [...seen.files.keys()]
  assert.ok(
    names.some((n) => n.endsWith('.partial')),
    `a .partial was seen while the copy ran: ${names.join(', ')}`,
  )
  assertAllPrivate(seen)
  assert.deepEqual(readdirSync(backups).sort(), [`${info.id}.db`, `${info.id}.json`])
  for (const name of readdirSync(backups)) assert.equal(modeOf(join(backups, name)), 0o600, name)
})

for (const mode of [0o755, 0o777, 0o1777, 0o710]) {
  test(`an existing backup directory of mode 0${mode.toString(8)} is refused, its mode unchanged`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db)
    const backups = join(dir, 'backups')
    mkdirSync(backups)
    chmodSync(backups, mode)
    await assert.rejects(
      backupDb(db, { reason: 'test', version: '1', backupDir: backups }),
      (e) =>
        isWatchdogError(e, 'BACKUP_DIR_REFUSED') &&
        e.message.includes(`is mode ${mode.toString(8).padStart(4, '0')}`),
    )
    assert.equal(lstatSync(backups).mode & 0o7777, mode)
    assert.deepEqual(readdirSync(backups), [])
  })
}

test('a file where the backup directory should be is refused, and left as it was', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'backups')
  writeFileSync(backups, 'not a directory\n')
  await assert.rejects(
    backupDb(db, { reason: 'test', version: '1', backupDir: backups }),
    (e) => isWatchdogError(e, 'BACKUP_FAILED') && /is not a directory/.test(e.message),
  )
  assert.equal(readFileSync(backups, 'utf8'), 'not a directory\n')
  assert.deepEqual(readdirSync(dir).sort(), ['backups', 'idp.db'])
})

test('the .unreadable copy a restore keeps of a broken database is 0600, though the source was 0644', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'backups')
  const good = await backupDb(db, { reason: 'test', version: '1', backupDir: backups })
  // No longer a database (a torn copy, a bad manual edit), readable by everyone, and large enough that
  // keeping it takes several turns of the event loop.
  writeFileSync(db, Buffer.alloc(6 * 1024 * 1024, 'garbage '))
  chmodSync(db, 0o644)
  const [res, seen] = await observe(backups, () =>
    restoreDb(good, { dbPath: db, backupDir: backups, version: '1' }),
  )
  assert.match(res.preRestoreBackup ?? '', /\.unreadable$/)
  assert.equal(modeOf(res.preRestoreBackup!), 0o600)
  assertAllPrivate(seen)
  assert.ok(
    [...seen.files.keys()].some((n) => n.endsWith('.unreadable')),
    'the copy was seen while it was written',
  )
  assert.equal(readFileSync(res.preRestoreBackup!).length, 6 * 1024 * 1024)
})

test('a restore over a broken database keeps its WAL as evidence too (overwriting discards it)', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'backups')
  const good = await backupDb(db, { reason: 'test', version: '1', backupDir: backups })
  writeFileSync(db, Buffer.alloc(64 * 1024, 'garbage '))
  writeFileSync(`${db}-wal`, 'wal bytes of the broken database')
  const res = await restoreDb(good, { dbPath: db, backupDir: backups, version: '1' })
  assert.match(res.preRestoreBackup ?? '', /idp\.db\.\d{8}T\d{9}Z\.unreadable$/)
  const stamp = /\.(\d{8}T\d{9}Z)\.unreadable$/.exec(res.preRestoreBackup!)![1]!
  const copy = join(backups, `idp.db-wal.${stamp}.unreadable`)
  assert.equal(readFileSync(copy, 'utf8'), 'wal bytes of the broken database')
  assert.equal(modeOf(copy), 0o600)
})

test('the management.json backup a repair takes is 0600 (management.json is 0644), in a directory created 0700', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const mj = join(dir, 'management.json')
  writeFileSync(
    mj,
    JSON.stringify(
      {
        EmbeddedIdP: {
          Enabled: true,
          Issuer: 'https://netbird.example.com/oauth2',
          StaticConnectors: [
            {
              type: 'oidc',
              name: 'JumpCloud',
              id: jumpcloudId,
              config: {
                issuer: 'https://oauth.id.jumpcloud.com',
                clientID: 'abc',
                clientSecret: canarySecret,
              },
            },
          ],
        },
      },
      null,
      2,
    ),
    { mode: 0o644 },
  )
  chmodSync(mj, 0o644)
  const backups = join(dir, 'backups') // created by the repair
  const res = await repairDb({
    dbPath: db,
    changes: [{ connectorId: jumpcloudId, to: 'https://oauth.id.jumpcloud.com/' }],
    dryRun: false,
    version: '1',
    backupDir: backups,
    managementJsonPath: mj,
    fixStaticConnectors: true,
  })
  const bak = res.managementJson?.backup
  assert.ok(bak !== undefined && bak !== null && bak.endsWith('.bak'), String(bak))
  assert.equal(modeOf(bak), 0o600)
  assert.equal(modeOf(backups), 0o700)
  for (const name of readdirSync(backups)) assert.equal(modeOf(join(backups, name)), 0o600, name)
})
