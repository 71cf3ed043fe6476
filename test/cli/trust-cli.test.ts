// What the command line guarantees, each against real peers (real idp.db files, real HTTP servers on
// 127.0.0.1, real signals to the real CLI process):
// - no invalid issuer is ever written, from --issuer or from a discovery answer;
// - `backups restore` refuses a backup of another database unless --force;
// - one-shot commands stop on the first SIGTERM/SIGINT; bad input exits 2 before anything starts;
// - no directory before the database is known; "cannot read"; retention of every kind of file;
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
import { connectorIssuer } from '../../src/core/connectors.js'
import { listBackups } from '../../src/store/backup-files.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { runCli, spawnCli, type CliRun } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'
import { createIdpDb, jumpcloudId, oidcConnectors } from '../helpers/idp-fixture.js'
import {
  startFailurePeer,
  startIssuerAnswerPeer,
  startOidcPeer,
  type Peer,
} from '../helpers/oidc-peers.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function issuerOf(db: string, id: string): string | undefined {
  const row = readConnectors(db).find((r) => r.id === id)
  return row && connectorIssuer(row)
}

async function peer<P extends Peer>(t: CleanupScope, p: Promise<P>) {
  const started = await p
  defer(t, () => started.close())
  return started
}

/** Raw control characters other than the line feeds that end lines: never in text output. */
// eslint-disable-next-line no-control-regex
const rawControl = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

// ---- invalid issuers are never written ----

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

// ---- restore of another database ----

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

// ---- signals and exit codes ----

/** A NetBird FATL line the catalogue classifies (the first rule's first example). */
const fatalLine =
  '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://oauth.id.jumpcloud.com" got "https://oauth.id.jumpcloud.com/"'

for (const [signal, status] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  test(`scan of a FIFO that never ends: the first ${signal} stops it with exit ${status}`, async (t) => {
    const dir = tempDir(t)
    const fifo = join(dir, 'management.log')
    execFileSync('mkfifo', [fifo])
    // This test holds both ends (O_RDWR does not block on a FIFO), so the reader never sees an end.
    const fd = openSync(fifo, constants.O_RDWR)
    defer(t, () => closeSync(fd))
    // A hang is killed (SIGKILL) after the deadline, which fails the assertions below.
    const cli = spawnCli(['scan', fifo], { timeoutMs: 20_000 })
    writeSync(fd, `${fatalLine}\n`)
    await waitFor('the finding on stdout (scan is reading)', () => cli.stdout().includes('line 1:'))
    cli.child.kill(signal)
    const res = await cli.done
    assert.equal(res.signal, null, `ended by itself after one ${signal}, not killed`)
    assert.equal(res.code, status, res.stderr)
    assert.equal(res.stderr, 'netbird-watchdog: scan stopped by a signal\n')
    assert.match(res.stdout, /^line 1: oidc-issuer-mismatch/)
  })
}

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** Whether something accepts connections on 127.0.0.1:port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** The environment of the test run without NETBIRD_WATCHDOG_* (so only the given config counts). */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => !e[0].startsWith('NETBIRD_WATCHDOG_') && e[1] !== undefined,
    ),
  )
}

/**
 * Exit 2 by itself, one line on stderr names the problem (after at most a header line and the
 * "config loaded" log record), no stack, no "unexpected error", and nothing started.
 */
function assertRefusedAtStart(res: CliRun, problem: RegExp): void {
  assert.equal(res.signal, null, `exited by itself: ${res.stderr}`)
  assert.equal(res.code, 2, res.stderr)
  const lines = res.stderr.split('\n').filter((l) => l !== '')
  const records = lines.filter((l) => l.startsWith('{'))
  const text = lines.filter((l) => !l.startsWith('{'))
  assert.ok(text[0]?.startsWith('netbird-watchdog: '), res.stderr)
  assert.equal(text.filter((l) => problem.test(l)).length, 1, `one line names it: ${res.stderr}`)
  assert.ok(text.length <= 2, `a header and the problem at most: ${res.stderr}`)
  assert.doesNotMatch(res.stderr, /unexpected error|^\s+at /m)
  for (const r of records) {
    assert.equal((JSON.parse(r) as { msg: string }).msg, 'config loaded', `nothing started: ${r}`)
  }
}

async function runWithConfig(
  t: CleanupScope,
  config: Record<string, unknown> | string,
): Promise<{ res: CliRun; port: number }> {
  const dir = tempDir(t)
  const port = await freePort()
  const file = join(dir, 'watchdog.yml')
  writeFileSync(
    file,
    typeof config === 'string'
      ? config
      : stringify({
          mode: 'observe',
          docker: { host: `unix://${join(dir, 'no-engine.sock')}` },
          targets: { autoDetect: false },
          idp: { dbPath: join(dir, 'idp.db') },
          metrics: { address: `127.0.0.1:${port}` },
          ...config,
        }),
  )
  const res = await runCli(['run', '--config', file], { env: cleanEnv(), timeoutMs: 20_000 })
  return { res, port }
}

test('run: a cron time zone the runtime does not know exits 2 at load; the metrics port is never opened', async (t) => {
  const { res, port } = await runWithConfig(t, { schedules: { timezone: 'Mars/Olympus_Mons' } })
  assertRefusedAtStart(res, /schedules\.timezone: not a known IANA time zone/)
  assert.equal(await isListening(port), false)
})

test('run: a metrics port above 65535 exits 2 at load', async (t) => {
  const { res } = await runWithConfig(t, { metrics: { address: '127.0.0.1:70000' } })
  assertRefusedAtStart(res, /metrics\.address: the port must be at most 65535/)
})

test('run: a YAML alias bomb (billion laughs) exits 2 at load', async (t) => {
  const levels = 'abcdefghi'.split('')
  const bomb = levels
    .map((name, i) =>
      i === 0
        ? `${name}: &${name} [lol, lol, lol, lol, lol, lol, lol, lol, lol]`
        : `${name}: &${name} [${Array(9)
            .fill(`*${levels[i - 1]!}`)
            .join(', ')}]`,
    )
    .join('\n')
  const { res } = await runWithConfig(t, `${bomb}\n`)
  assertRefusedAtStart(res, /invalid YAML in .*watchdog\.yml: .*alias/)
})

test('run: a file where the backup directory should be exits 2 before the metrics port opens', async (t) => {
  const dir = tempDir(t)
  const notADir = join(dir, 'backups')
  writeFileSync(notADir, 'not a directory\n')
  const { res, port } = await runWithConfig(t, { backups: { dir: notADir } })
  assertRefusedAtStart(res, /backups\.dir: .*backups is not a directory/)
  assert.equal(await isListening(port), false)
  assert.equal(readFileSync(notADir, 'utf8'), 'not a directory\n')
})

test('scan of a file that opens but cannot be read (/proc/self/mem) exits 2 with one line', async () => {
  const res = await runCli(['scan', '/proc/self/mem'])
  assertRefusedAtStart(res, /^netbird-watchdog: cannot read \/proc\/self\/mem: /)
  assert.equal(res.stdout, '')
})

for (const value of ['99999999999', '1e3', '0x10']) {
  test(`--timeout-ms ${value} exits 2 before any request (doctor, repair --discover)`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const provider = await peer(t, startFailurePeer('500'))
    createIdpDb(db, { connectors: oidcConnectors([{ id: 'corp', issuer: provider.origin }]) })
    for (const args of [
      ['repair', '--db', db, '--discover', '--allow-insecure'],
      ['doctor', '--db', db, '--allow-insecure'],
    ]) {
      const res = await runCli([...args, '--timeout-ms', value])
      assertRefusedAtStart(res, /--timeout-ms must be a positive number from 1 to 600000/)
    }
    assert.equal(provider.requests, 0, 'no discovery request was made')
  })
}

// ---- directories, unreadable files, retention, skipped connectors ----

test('no directory is created before the database is known to exist', async (t) => {
  const dir = tempDir(t)
  const missing = join(dir, 'missing', 'idp.db')
  const created = await runCli(['backups', 'create', '--db', missing])
  assert.equal(created.code, 2, created.stderr)
  assert.match(created.stderr, /database not found: .*missing\/idp\.db/)
  const explicit = join(dir, 'backups')
  const withDir = await runCli(['backups', 'create', '--db', missing, '--backup-dir', explicit])
  assert.equal(withDir.code, 2, withDir.stderr)
  const repair = await runCli([
    'repair',
    '--db',
    missing,
    '--connector',
    jumpcloudId,
    '--issuer',
    'https://oauth.id.jumpcloud.com/',
    '--backup-dir',
    explicit,
  ])
  assert.equal(repair.code, 2, repair.stderr)
  assert.match(repair.stderr, /database not found/)
  assert.deepEqual(readdirSync(dir), [], 'nothing created: neither missing/ nor backups/')
})

/** Make a directory immutable even for root (chattr +i; tests run as root in CI), chmod 0555 otherwise. */
function freezeDir(path: string): () => void {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', path])
    return () => execFileSync('chattr', ['-i', path])
  }
  chmodSync(path, 0o555)
  return () => chmodSync(path, 0o755)
}

test('a database that cannot be read says "cannot read", not "cannot open … for writing"', async (t) => {
  const dir = tempDir(t)
  const data = join(dir, 'data')
  mkdirSync(data)
  const db = join(data, 'idp.db')
  createIdpDb(db)
  const h = new Database(db)
  h.pragma('journal_mode = WAL') // a reader needs to create idp.db-shm next to it
  h.close()
  assert.equal(existsSync(`${db}-shm`), false)
  const thaw = freezeDir(data)
  try {
    for (const args of [
      ['doctor', '--db', db],
      ['backups', 'create', '--db', db, '--backup-dir', join(dir, 'backups')],
      ['repair', '--db', db, '--discover', '--dry-run'],
    ]) {
      const res = await runCli(args)
      assert.equal(res.code, 2, `${args[0]}: ${res.stderr}`)
      assert.match(res.stderr, /^netbird-watchdog: cannot read .*data\/idp\.db: /, args[0])
      assert.doesNotMatch(res.stderr, /for writing/)
    }
  } finally {
    thaw()
  }
  assert.equal(existsSync(join(dir, 'backups')), false)
})

/** A file-name stamp as the watchdog writes them (UTC, no separators). */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '')
}

test('backups prune applies retention to .unreadable copies and management.json backups too', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const backups = join(dir, 'netbird-watchdog-backups')
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await runCli(['backups', 'create', '--db', db, '--json'])
    assert.equal(res.code, 0, res.stderr)
    ids.push((JSON.parse(res.stdout) as { id: string }).id)
  }
  const now = Date.now()
  const day = 24 * 3600 * 1000
  const name = (base: string, ageDays: number, kind: string): string =>
    `${base}.${stamp(new Date(now - ageDays * day))}.${kind}`
  const extras = {
    unreadableNew: name('idp.db', 0, 'unreadable'),
    unreadableMid: name('idp.db', 1, 'unreadable'),
    unreadableOld: name('idp.db', 400, 'unreadable'),
    bakNew: name('management.json', 0, 'bak'),
    bakOld: name('management.json', 30, 'bak'),
    bakOlder: name('management.json', 31, 'bak'),
    // The only one of its series, and old: the newest of a kind is never deleted.
    lonelyOld: name('config.yaml', 400, 'bak'),
  }
  for (const f of Object.values(extras)) writeFileSync(join(backups, f), 'x', { mode: 0o600 })

  // At most 2 of each kind, nothing older than 14 days, never the newest of a series.
  const res = await runCli(['backups', 'prune', '--db', db, '--keep', '2', '--json'])
  assert.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout) as {
    kept: string[]
    deleted: string[]
    deletedFiles: string[]
  }
  assert.deepEqual(out.kept, [ids[2], ids[1]])
  assert.deepEqual(out.deleted, [ids[0]])
  assert.deepEqual(
    [...out.deletedFiles].sort(),
    [extras.unreadableOld, extras.bakOld, extras.bakOlder].sort(),
  )
  const left = readdirSync(backups)
  for (const f of [extras.unreadableNew, extras.unreadableMid, extras.bakNew, extras.lonelyOld]) {
    assert.ok(left.includes(f), `${f} kept`)
  }
  for (const f of out.deletedFiles) assert.ok(!left.includes(f), `${f} deleted`)

  // --keep 1: only the newest of each kind is left.
  const one = await runCli(['backups', 'prune', '--db', db, '--keep', '1', '--json'])
  assert.equal(one.code, 0, one.stderr)
  assert.deepEqual(
    readdirSync(backups)
      .filter((f) => !f.startsWith('idp-'))
      .sort(),
    [extras.unreadableNew, extras.bakNew, extras.lonelyOld].sort(),
  )
  assert.deepEqual(
    listBackups(backups).map((b) => b.id),
    [ids[2]],
  )
})

test('an OIDC connector with no config is reported as skipped, with the reason (doctor, repair --discover)', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const provider = await peer(t, startOidcPeer())
  createIdpDb(db, {
    connectors: [
      ...oidcConnectors([{ id: 'corp', issuer: provider.issuer }]),
      { id: 'noconf', type: 'oidc', name: 'No config', config: null },
    ],
  })
  const hash = sha256(db)

  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure', '--json'])
  assert.ok(doctor.code === 0 || doctor.code === 1, doctor.stderr)
  const report = JSON.parse(doctor.stdout) as {
    checks: { id: string; status: string; target: string; message: string }[]
  }
  const skipped = report.checks.filter((c) => c.target.includes('noconf'))
  assert.ok(skipped.length >= 1, JSON.stringify(report.checks))
  for (const c of skipped) {
    assert.equal(c.status, 'skip', JSON.stringify(c))
    assert.match(c.message, /no config/)
  }
  const text = await runCli(['doctor', '--db', db, '--allow-insecure'])
  assert.match(text.stdout, /- \S+: .*noconf.* no config/)

  const repair = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(repair.code, 1, repair.stderr)
  const result = JSON.parse(repair.stdout) as {
    skipped?: { connectorId: string; reason: string }[]
  }
  assert.deepEqual(
    result.skipped?.map((s) => s.connectorId),
    ['noconf'],
  )
  assert.match(result.skipped[0]!.reason, /no config/)
  const plain = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
  assert.equal(plain.code, 1)
  assert.match(plain.stderr, /^skipped connector noconf: .*no config/m)
  assert.equal(sha256(db), hash)
})
