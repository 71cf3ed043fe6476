// Durability and side effects of the SQLite store, seen from outside the process:
// - a repair (and a restore) of a WAL-mode idp.db that another process (Dex) holds open syncs the WAL
//   when it commits — better-sqlite3 runs WAL databases with synchronous=NORMAL, under which a
//   committed transaction is not synced until a checkpoint, so it can vanish on power loss. Observed
//   with strace: an fsync/fdatasync of idp.db-wal by the watchdog;
// - the read-only commands (doctor, repair --dry-run, backups list/verify) leave no -wal/-shm files
//   next to a WAL-mode database or in the backup directory.
// strace comes from `bash scripts/test-env.sh`; without it the sync test fails, naming that script.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { cliPath, runCli } from '../helpers/cli.js'
import {
  createIdpDb,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
  oidcConnectors,
  type FixtureConnector,
} from '../helpers/idp-fixture.js'
import { startOidcPeer } from '../helpers/oidc-peers.js'
import { defer } from '../helpers/cleanup.js'

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-durable-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** An idp.db in WAL mode (as an operator's tooling or a future Dex could leave it), closed cleanly. */
function walDb(dir: string, connectors?: FixtureConnector[]): string {
  const db = join(dir, 'idp.db')
  createIdpDb(db, connectors !== undefined ? { connectors } : {})
  const h = new Database(db)
  h.pragma('journal_mode = WAL')
  h.close()
  return db
}

/** Throws (never skips) when strace is missing, naming the script that installs it. */
async function requireStrace(): Promise<void> {
  try {
    await promisify(execFile)('strace', ['-V'], { timeout: 15_000 })
  } catch (err) {
    throw new Error(
      'NO STRACE: this test observes fsync calls with strace. Install it with `bash scripts/test-env.sh` (as root).',
      { cause: err },
    )
  }
}

/** Runs the CLI under strace; resolves with its exit code and the fsync-family calls it made, by file. */
async function straced(args: string[]): Promise<{ code: number | null; synced: string[] }> {
  const child = spawn(
    'strace',
    ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', process.execPath, cliPath, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')))
  child.stdout.resume()
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  // `fdatasync(12</tmp/x/idp.db-wal>) = 0`
  const synced = [...stderr.matchAll(/f(?:data)?sync\(\d+<([^>]+)>\)/g)].map((m) => m[1]!)
  return { code, synced }
}

test('a repair and a restore of a WAL database that Dex holds open sync the WAL at commit', async (t) => {
  await requireStrace()
  const dir = tmp(t)
  const db = walDb(dir)
  // Dex's connection stays open: no checkpoint-on-close will sync the WAL for us.
  const dex = new Database(db)
  defer(t, () => dex.close())
  dex.prepare('select count(*) from connector').get()

  const repair = await straced([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    jumpcloudIssuerDiscovered,
  ])
  assert.equal(repair.code, 0)
  assert.ok(
    repair.synced.some((f) => f === `${db}-wal`),
    `the WAL was synced by the repair (synced: ${repair.synced.join(', ')})`,
  )
  const id = (
    JSON.parse((await runCli(['backups', 'list', '--db', db, '--json'])).stdout) as Array<{
      id: string
    }>
  )[0]!.id
  const restore = await straced(['backups', 'restore', id, '--db', db])
  assert.equal(restore.code, 0)
  assert.ok(
    restore.synced.some((f) => f === `${db}-wal` || f === db),
    `the restored database was synced (synced: ${restore.synced.join(', ')})`,
  )
  const issuer = (
    JSON.parse(
      (
        dex.prepare('select config from connector where id = ?').get(jumpcloudId) as {
          config: Buffer
        }
      ).config.toString('utf8'),
    ) as { issuer: string }
  ).issuer
  assert.equal(issuer, jumpcloudIssuerStored, 'the restore is visible to the open connection')
})

test('read-only commands leave no -wal/-shm files behind', async (t) => {
  const dir = tmp(t)
  // doctor asks each connector's provider for its discovery document: a real OpenID provider on
  // 127.0.0.1 that answers with a trailing slash, stored without it (doctor finds the mismatch).
  const peer = await startOidcPeer({ path: '/', deviceFlow: false })
  defer(t, () => peer.close())
  const db = walDb(dir, oidcConnectors([{ id: jumpcloudId, issuer: peer.origin }]))
  const backups = join(dir, 'backups')
  const made = await runCli(['backups', 'create', '--db', db, '--backup-dir', backups])
  assert.equal(made.code, 0, made.stderr)
  const leftovers = (): string[] =>
    [...readdirSync(dir), ...readdirSync(backups)].filter((n) => /-(wal|shm)$/.test(n))
  assert.deepEqual(leftovers(), [], 'a backup leaves none either')

  // doctor: exit 1, because the issuer check against the peer failed (the peer was reached).
  const doctor = await runCli(['doctor', '--db', db, '--json', '--allow-insecure'])
  assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr)
  const failed = (
    JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string }> }
  ).checks.filter((c) => c.status === 'fail')
  assert.deepEqual(
    failed.map((c) => c.id),
    ['issuer-matches-discovery'],
    doctor.stdout,
  )
  assert.deepEqual(leftovers(), [], 'doctor')

  // The others end with exit 0.
  const runs = [
    [
      'repair',
      '--db',
      db,
      '--connector',
      jumpcloudId,
      '--issuer',
      `${peer.origin}/`,
      '--allow-insecure',
      '--dry-run',
    ],
    ['backups', 'list', '--backup-dir', backups],
    ['backups', 'verify', '--backup-dir', backups],
  ]
  for (const args of runs) {
    const r = await runCli(args)
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
    assert.deepEqual(leftovers(), [], args.join(' '))
  }
})
