// Issue 12 ("Trust"), the command-line side, each against real peers (real idp.db files, real HTTP
// servers on 127.0.0.1, real signals to the real CLI process):
// - item 3: no invalid issuer is ever written, from --issuer or from a discovery answer;
// - item 9: `backups restore` refuses a backup of another database unless --force;
// - item 10: one-shot commands stop on the first SIGTERM/SIGINT; bad input exits 2 before anything starts;
// - item 11: no directory before the database is known; "cannot read"; retention of every kind of file;
//   an OIDC connector without a config is reported as skipped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { stringify } from 'yaml'
import { connectorIssuer } from '../src/core/connectors.js'
import { listBackups } from '../src/store/backup-files.js'
import { readConnectors } from '../src/store/sqlite/idp-db.js'
import { runCli, spawnCli, type CliRun } from './helpers/cli.js'
import { waitFor } from './helpers/docker.js'
import {
  createIdpDb,
  jumpcloudId,
  jumpcloudIssuerStored,
  oidcConnectors,
} from './helpers/idp-fixture.js'
import {
  startFailurePeer,
  startIssuerAnswerPeer,
  startOidcPeer,
  type Peer,
} from './helpers/oidc-peers.js'

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function issuerOf(db: string, id: string): string | undefined {
  const row = readConnectors(db).find((r) => r.id === id)
  return row && connectorIssuer(row)
}

async function peer<P extends Peer>(
  t: { after: (fn: () => Promise<void>) => void },
  p: Promise<P>,
) {
  const started = await p
  t.after(() => started.close())
  return started
}

/** Raw control characters other than the line feeds that end lines: never in text output. */
// eslint-disable-next-line no-control-regex
const rawControl = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

// ---- item 3: invalid issuers are never written ----

const host = 'https://oauth.id.jumpcloud.com'
const invalidIssuers: ReadonlyArray<[string, string]> = [
  ['a newline', `${host}/\nX-Injected: 1`],
  ['a trailing newline', `${host}/\n`],
  ['ESC (a terminal escape)', `${host}/\u001b[2J\u001b[31mok`],
  ['a tab inside', `https://oauth.id\t.jumpcloud.com/`],
  ['an inner space', `${host}/ x`],
  ['a #fragment', `${host}/#fragment`],
  ['a ?query', `${host}/?query=1`],
  ['user info', 'https://u:p@oauth.id.jumpcloud.com/'],
  ['no authority (https:host, opaque)', 'https:oauth.id.jumpcloud.com'],
  ['plain http without --allow-insecure', 'http://oauth.id.jumpcloud.com/'],
  ['5 KB', `${host}/${'a'.repeat(5 * 1024)}`],
  ['a port above 65535', 'https://oauth.id.jumpcloud.com:70000/'],
]

for (const [what, issuer] of invalidIssuers) {
  test(`repair --issuer refuses ${what}: exit 2, nothing written`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db)
    const hash = sha256(db)
    const res = await runCli(['repair', '--db', db, '--connector', jumpcloudId, '--issuer', issuer])
    assert.equal(res.code, 2, res.stderr)
    assert.match(res.stderr, /the new issuer for connector "d1c9q2ll0fgs73cunqsg" is not valid: /)
    assert.equal(sha256(db), hash, 'idp.db unchanged')
    assert.deepEqual(readdirSync(dir), ['idp.db'], 'no backup directory, no journal')
    assert.doesNotMatch(res.stdout + res.stderr, rawControl)
  })
}

test('repair --issuer http:// is accepted with --allow-insecure (and written)', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const issuer = 'http://oauth.id.jumpcloud.com/'
  const args = ['repair', '--db', db, '--connector', jumpcloudId, '--issuer', issuer]
  const refused = await runCli(args)
  assert.equal(refused.code, 2, refused.stderr)
  assert.match(refused.stderr, /plain http/)
  const res = await runCli([...args, '--allow-insecure'])
  assert.equal(res.code, 0, res.stderr)
  assert.equal(issuerOf(db, jumpcloudId), issuer)
})

/** Bad issuers a provider's discovery document can return, relative to its origin. */
const badAnswers: ReadonlyArray<[string, (origin: string) => string]> = [
  ['a newline', (o) => `${o}/\nX-Injected: 1`],
  ['ESC (a terminal escape)', (o) => `${o}/\u001b[2J\u001b[31mok`],
  ['a tab inside', (o) => `${o}/a\tb`],
  ['an inner space', (o) => `${o}/a b`],
  ['a #fragment', (o) => `${o}/#fragment`],
  ['a ?query', (o) => `${o}/?query=1`],
  ['user info', (o) => o.replace('http://', 'http://u:p@') + '/'],
  ['no authority (http:host, opaque)', (o) => o.replace('http://', 'http:')],
  ['5 KB', (o) => `${o}/${'a'.repeat(5 * 1024)}`],
  ['a port above 65535', () => 'http://127.0.0.1:70000/'],
]

for (const [what, answer] of badAnswers) {
  test(`repair --discover refuses a discovery answer with ${what}: exit 1, not written, escaped`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const provider = await peer(t, startIssuerAnswerPeer(answer))
    createIdpDb(db, { connectors: oidcConnectors([{ id: 'corp', issuer: provider.origin }]) })
    const hash = sha256(db)
    const res = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
    assert.ok(provider.requests >= 1, 'the provider was asked')
    assert.equal(res.code, 1, res.stdout + res.stderr)
    assert.match(res.stderr, /did not change connector corp .*not a valid issuer/)
    assert.equal(sha256(db), hash, 'idp.db unchanged')
    assert.equal(issuerOf(db, 'corp'), provider.origin)
    assert.deepEqual(listBackups(join(dir, 'netbird-watchdog-backups')), [])
    assert.doesNotMatch(res.stdout + res.stderr, rawControl)
    // The returned value is shown escaped, on the one line that reports it.
    const line = res.stderr.split('\n').find((l) => l.startsWith('did not change connector corp'))
    assert.ok(line !== undefined)
    assert.ok(line.includes(JSON.stringify(answer(provider.origin)).slice(1, 40)), line)
  })
}

// ---- item 9: restore of another database ----

/** Every row of every table: what a restore must (or must not) have put in place. */
function contentOf(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .pluck()
      .all() as string[]
    return tables
      .map((t) =>
        JSON.stringify(db.prepare(`select * from "${t}" order by rowid`).raw().all(), (_k, v) =>
          Buffer.isBuffer(v) ? v.toString('hex') : (v as unknown),
        ),
      )
      .join('\n')
  } finally {
    db.close()
  }
}

test('backups restore: another database is refused (exit 2, naming both) unless --force; the same one through a hard link is not', async (t) => {
  const dir = tempDir(t)
  const a = join(dir, 'a', 'idp.db')
  const b = join(dir, 'b', 'idp.db')
  mkdirSync(join(dir, 'a'))
  mkdirSync(join(dir, 'b'))
  createIdpDb(a)
  createIdpDb(b, { connectors: oidcConnectors([{ id: 'other', issuer: 'https://b.example' }]) })
  const backups = join(dir, 'backups')
  const created = await runCli(['backups', 'create', '--db', a, '--backup-dir', backups, '--json'])
  assert.equal(created.code, 0, created.stderr)
  const id = (JSON.parse(created.stdout) as { id: string }).id
  const contentA = contentOf(a)
  const hashB = sha256(b)

  const refused = await runCli(['backups', 'restore', id, '--db', b, '--backup-dir', backups])
  assert.equal(refused.code, 2, refused.stdout + refused.stderr)
  assert.ok(refused.stderr.includes(a), `names the backup's database: ${refused.stderr}`)
  assert.ok(refused.stderr.includes(b), `names the target: ${refused.stderr}`)
  assert.match(refused.stderr, /--force/)
  assert.equal(refused.stdout, '')
  assert.equal(sha256(b), hashB, 'the other database is untouched')
  assert.equal(listBackups(backups).length, 1, 'not even a pre-restore backup was taken')

  // The same database under another path (same device and inode, as a bind mount of the volume into
  // a sidecar shows it) is recognised: no --force needed.
  mkdirSync(join(dir, 'mnt'))
  const sameA = join(dir, 'mnt', 'idp.db')
  linkSync(a, sameA)
  const h = new Database(sameA)
  h.prepare("update connector set name = 'changed' where id = ?").run(jumpcloudId)
  h.close()
  assert.notEqual(contentOf(a), contentA)
  const same = await runCli(['backups', 'restore', id, '--db', sameA, '--backup-dir', backups])
  assert.equal(same.code, 0, same.stderr)
  assert.equal(contentOf(a), contentA, 'restored through the other path')

  const forced = await runCli([
    'backups',
    'restore',
    id,
    '--db',
    b,
    '--backup-dir',
    backups,
    '--force',
  ])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(contentOf(b), contentA, 'restored with --force')
})
