import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import Docker from 'dockerode'
import fc from 'fast-check'
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { goJsonString, setConnectorIssuer } from '../../src/core/connector-json.js'
import { isWatchdogError } from '../../src/errors.js'
import { listBackups } from '../../src/store/backup-files.js'
import { verifyBackup } from '../helpers/store.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { nextResourceVersion } from '../../src/core/edit-plan.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { repairDb } from '../helpers/store.js'
import {
  canarySecret,
  createIdpDb,
  defaultConnectors,
  goJsonMarshal,
  holdLock,
  leaveHotJournal,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
  oktaId,
  tempIdpDb,
} from '../helpers/idp-fixture.js'
import { runCli, type CliRun } from '../helpers/cli.js'
import { removeContainers, requireDocker, runContainer, uniqueName } from '../helpers/docker.js'
import { testSeed } from '../helpers/seed.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

const A = jumpcloudIssuerStored
const B = jumpcloudIssuerDiscovered

async function tempDir(t: CleanupScope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-repair-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

const fixChange = [{ connectorId: jumpcloudId, to: jumpcloudIssuerDiscovered }]

// ---- connector-json (pure) ----

test('setConnectorIssuer changes only the issuer bytes of Go-encoded JSON', () => {
  const raw = defaultConnectors()[1]!.config!
  const res = setConnectorIssuer(raw, jumpcloudIssuerDiscovered)
  assert.ok(res.ok && res.changed)
  assert.equal(res.from, jumpcloudIssuerStored)
  assert.equal(
    res.text,
    raw.replace(
      '"issuer":"https://oauth.id.jumpcloud.com"',
      '"issuer":"https://oauth.id.jumpcloud.com/"',
    ),
  )
})

test('setConnectorIssuer keeps existing \\u0026 escapes and encodes the new value as Go would', () => {
  const raw =
    '{"clientSecret":"a\\u0026b","issuer":"https://x.example/a\\u0026b","z":[1,{"issuer":"inner"}]}'
  const res = setConnectorIssuer(raw, 'https://x.example/?a=1&b=<2>')
  assert.ok(res.ok)
  assert.equal(res.from, 'https://x.example/a&b')
  assert.equal(
    res.text,
    '{"clientSecret":"a\\u0026b","issuer":"https://x.example/?a=1\\u0026b=\\u003c2\\u003e","z":[1,{"issuer":"inner"}]}',
  )
  assert.equal(goJsonString('&'), '"\\u0026"')
})

test('setConnectorIssuer refuses what it cannot edit exactly', () => {
  assert.deepEqual(setConnectorIssuer('{"a":1', 'https://x'), { ok: false, reason: 'invalid-json' })
  assert.deepEqual(setConnectorIssuer('[]', 'https://x'), { ok: false, reason: 'not-object' })
  assert.deepEqual(setConnectorIssuer('{"a":1}', 'https://x'), { ok: false, reason: 'no-issuer' })
  assert.deepEqual(setConnectorIssuer('{"issuer":1}', 'https://x'), {
    ok: false,
    reason: 'not-string',
  })
  // Go's decoder reads every key that folds to "issuer" in turn and keeps the last ("c"): editing the
  // exact-case one would change nothing Dex uses. Several such keys are refused.
  assert.deepEqual(setConnectorIssuer('{"issuer":"a","Issuer":"b","ISSUER":"c"}', 'https://x'), {
    ok: false,
    reason: 'ambiguous',
  })
  assert.deepEqual(setConnectorIssuer('{"ISSUER":"c"}', 'https://x'), {
    ok: true,
    text: '{"ISSUER":"https://x"}',
    from: 'c',
    changed: true,
  })
  assert.deepEqual(setConnectorIssuer('{"Issuer":"b","ISSUER":"c"}', 'https://x'), {
    ok: false,
    reason: 'ambiguous',
  })
})

test('property: editing Go-marshalled configs equals marshalling with the new issuer', (t) => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string({ unit: 'grapheme' }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.string(), tie('value'), { maxKeys: 3 }),
    ),
  }))
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string().filter((k) => k.toLowerCase() !== 'issuer'),
        json.value,
        { maxKeys: 6 },
      ),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'grapheme' }),
      (rest, from, to) => {
        const raw = goJsonMarshal({ ...rest, issuer: from })
        const res = setConnectorIssuer(raw, to)
        assert.ok(res.ok)
        assert.equal(res.from, from)
        assert.equal(res.text, goJsonMarshal({ ...rest, issuer: to }))
      },
    ),
    { numRuns: 500, seed: testSeed(t) },
  )
})

// ---- repairIssuers against real idp.db files ----

/** Make a file read-only even for root (tests run as root in CI): chattr +i there, chmod 0444 otherwise. */
async function makeReadOnly(path: string): Promise<() => Promise<void>> {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', path])
    return () => Promise.resolve(void execFileSync('chattr', ['-i', path]))
  }
  await chmod(path, 0o444)
  return () => chmod(path, 0o644)
}

for (const schema of ['v0.244', 'grant-types'] as const) {
  test(`repair (${schema}) changes exactly one value and keeps BLOB storage`, async (t) => {
    const { dir, db } = await tempIdpDb(t, { schema })
    const before = readConnectors(db)
    const res = await repairDb({ dbPath: db, changes: fixChange, dryRun: false, version: '1' })
    assert.deepEqual(res.changes, [
      {
        connectorId: jumpcloudId,
        field: 'issuer',
        from: jumpcloudIssuerStored,
        to: jumpcloudIssuerDiscovered,
      },
    ])
    assert.equal(res.dryRun, false)
    const after = readConnectors(db)
    for (const [i, row] of after.entries()) {
      const old = before[i]!
      if (row.id !== jumpcloudId) {
        assert.deepEqual(row, old)
        continue
      }
      assert.equal(row.storage, 'blob')
      assert.equal(connectorIssuer(row), jumpcloudIssuerDiscovered)
      // A new resource_version in the same write: a running Dex reopens the connector at the next login.
      assert.equal(old.resourceVersion, '')
      assert.equal(row.resourceVersion, '1')
      assert.deepEqual({ ...row.config, issuer: jumpcloudIssuerStored }, old.config)
      assert.equal(row.rawConfig!.length, old.rawConfig!.length + 1)
    }
    const h = new Database(db, { readonly: true })
    assert.equal(
      (h.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check,
      'ok',
    )
    assert.equal(
      (
        h.prepare('select typeof(config) t from connector where id = ?').get(jumpcloudId) as {
          t: string
        }
      ).t,
      'blob',
    )
    h.close()
    const backups = listBackups(join(dir, 'netbird-watchdog-backups'))
    assert.equal(backups.length, 1)
    assert.equal(backups[0]!.path, res.backup?.path)
    assert.equal((await verifyBackup(backups[0]!)).ok, true)
    const backedUp = readConnectors(res.backup!.path).find((r) => r.id === jumpcloudId)!
    assert.equal(connectorIssuer(backedUp), jumpcloudIssuerStored)
    assert.equal(backedUp.resourceVersion, '') // the original row, old version included
  })
}

test('the resource_version written with an edit always differs from the stored one', (t) => {
  // NetBird writes '' for every connector; Dex reopens a connector only when its version changed.
  const cases: Array<[string, string]> = [
    ['', '1'],
    ['1', '2'],
    ['41', '42'],
    ['abc', '1'],
    ['-3', '1'],
    ['1.5', '1'],
  ]
  for (const [stored, next] of cases) assert.equal(nextResourceVersion(stored), next)
  fc.assert(
    fc.property(fc.string(), (stored) => nextResourceVersion(stored) !== stored),
    { seed: testSeed(t) },
  )
})

test('dry run leaves the file byte-identical and writes no backup', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const hash = await sha256(db)
  const mtime = (await stat(db)).mtimeMs
  const res = await repairDb({ dbPath: db, changes: fixChange, dryRun: true, version: '1' })
  assert.equal(res.dryRun, true)
  assert.equal(res.backup, null)
  assert.equal(res.changes.length, 1)
  assert.equal(await sha256(db), hash)
  assert.equal((await stat(db)).mtimeMs, mtime)
  assert.deepEqual(listBackups(join(dir, 'netbird-watchdog-backups')), [])
})

test('nothing to do: no backup, no write', async (t) => {
  const { db } = await tempIdpDb(t)
  const hash = await sha256(db)
  const res = await repairDb({
    dbPath: db,
    changes: [{ connectorId: jumpcloudId, to: jumpcloudIssuerStored }],
    dryRun: false,
    version: '1',
  })
  assert.deepEqual(res.changes, [])
  assert.equal(res.backup, null)
  assert.equal(await sha256(db), hash)
})

test('TEXT-stored config stays TEXT', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: defaultConnectors().map((c) =>
      c.id === jumpcloudId ? { ...c, storage: 'text' as const } : c,
    ),
  })
  await repairDb({ dbPath: db, changes: fixChange, dryRun: false, version: '1' })
  const row = readConnectors(db).find((r) => r.id === jumpcloudId)!
  assert.equal(row.storage, 'text')
  assert.equal(connectorIssuer(row), jumpcloudIssuerDiscovered)
})

test('input errors: unknown connector, connector without issuer, bad URL, read-only file', async (t) => {
  const { db } = await tempIdpDb(t)
  const hash = await sha256(db)
  const run = (connectorId: string, to: string) =>
    repairDb({ dbPath: db, changes: [{ connectorId, to }], dryRun: false, version: '1' })
  await assert.rejects(run('nope', 'https://x'), (e) => isWatchdogError(e, 'CONNECTOR_NOT_FOUND'))
  await assert.rejects(run('local', 'https://x'), (e) => isWatchdogError(e, 'REPAIR_REFUSED'))
  await assert.rejects(run(jumpcloudId, 'not a url'), (e) => isWatchdogError(e, 'USAGE'))
  await assert.rejects(run(jumpcloudId, ' https://x'), (e) => isWatchdogError(e, 'USAGE'))
  const undo = await makeReadOnly(db)
  try {
    await assert.rejects(run(jumpcloudId, jumpcloudIssuerDiscovered), (e) =>
      isWatchdogError(e, 'DB_READ_ONLY'),
    )
    const cli = await runCli(['repair', '--db', db, '--connector', jumpcloudId, '--issuer', B])
    assert.equal(cli.code, 2)
    assert.match(cli.stderr, /not writable/)
  } finally {
    await undo()
  }
  assert.equal(await sha256(db), hash)
})

test('a failure inside the transaction rolls back: nothing changed, backup kept', async (t) => {
  const { db } = await tempIdpDb(t)
  // A trigger (a real SQLite peer behaviour) that mangles the row we write: verification must catch it.
  const h = new Database(db)
  h.exec(`create trigger mangle after update of config on connector begin
            update connector set name = 'mangled' where id = new.id; end`)
  h.close()
  const before = readConnectors(db)
  await assert.rejects(
    repairDb({ dbPath: db, changes: fixChange, dryRun: false, version: '1' }),
    (e) => isWatchdogError(e, 'REPAIR_FAILED') && /rolled back, nothing changed/.test(e.message),
  )
  assert.deepEqual(readConnectors(db), before)
})

test('another process holding a write transaction: repair waits, then fails cleanly', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const lock = await holdLock(db, 'immediate')
  defer(t, () => lock.release())
  await assert.rejects(
    repairDb({
      dbPath: db,
      changes: fixChange,
      dryRun: false,
      version: '1',
      busyTimeoutMs: 300,
    }),
    (e) => isWatchdogError(e, 'DB_LOCKED') && /nothing was changed/.test(e.message),
  )
  await lock.release()
  assert.equal(
    connectorIssuer(readConnectors(db).find((r) => r.id === jumpcloudId)!),
    jumpcloudIssuerStored,
  )
  assert.deepEqual(listBackups(join(dir, 'netbird-watchdog-backups')), [])
})

test('a writer that finishes within the busy timeout: repair waits and succeeds', async (t) => {
  const { db } = await tempIdpDb(t)
  // The other process (as Dex would) commits its transaction a moment later, on its own.
  const lock = await holdLock(db, 'immediate', { commitAfterMs: 300 })
  defer(t, () => lock.release())
  const res = await repairDb({
    dbPath: db,
    changes: fixChange,
    dryRun: false,
    version: '1',
    busyTimeoutMs: 30_000,
  })
  assert.equal(res.changes.length, 1)
  await lock.release()
})

// ---- management.json static connectors ----

function managementJson(issuer: string): string {
  return (
    JSON.stringify(
      {
        Datadir: '/var/lib/netbird',
        DataStoreEncryptionKey: 'store-key-should-stay',
        EmbeddedIdP: {
          Enabled: true,
          Issuer: 'https://netbird.example.com/oauth2',
          StaticConnectors: [
            {
              type: 'oidc',
              name: 'JumpCloud',
              id: jumpcloudId,
              config: { issuer, clientID: 'abc', clientSecret: canarySecret },
            },
          ],
        },
      },
      null,
      '\t',
    ) + '\n'
  )
}

test('static connector in management.json: refused by default, nothing changed', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const mj = join(dir, 'management.json')
  await writeFile(mj, managementJson(jumpcloudIssuerStored))
  const hash = await sha256(db)
  await assert.rejects(
    repairDb({
      dbPath: db,
      changes: fixChange,
      dryRun: false,
      version: '1',
      managementJsonPath: mj,
    }),
    (e) =>
      isWatchdogError(e, 'REPAIR_REFUSED') &&
      /StaticConnectors/.test(e.message) &&
      !e.message.includes(canarySecret),
  )
  assert.equal(await sha256(db), hash)
})

test('static connector fixed in management.json too: in place, backed up, only the issuer changed', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const mj = join(dir, 'management.json')
  const original = managementJson(jumpcloudIssuerStored)
  await writeFile(mj, original)
  const inode = (await stat(mj)).ino
  const res = await repairDb({
    dbPath: db,
    changes: fixChange,
    dryRun: false,
    version: '1',
    managementJsonPath: mj,
    fixStaticConnectors: true,
  })
  assert.equal(res.managementJson?.changes.length, 1)
  assert.equal(await readFile(mj, 'utf8'), managementJson(jumpcloudIssuerDiscovered))
  assert.equal((await stat(mj)).ino, inode, 'written in place, not renamed over')
  assert.equal(await readFile(res.managementJson.backup!, 'utf8'), original)
  assert.equal(
    connectorIssuer(readConnectors(db).find((r) => r.id === jumpcloudId)!),
    jumpcloudIssuerDiscovered,
  )
})

test('a connector that is not static is repaired even with management.json given', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const mj = join(dir, 'management.json')
  await writeFile(mj, managementJson('https://other.example'))
  const res = await repairDb({
    dbPath: db,
    changes: [{ connectorId: oktaId, to: 'https://dev-123456.okta.com/' }],
    dryRun: false,
    version: '1',
    managementJsonPath: mj,
  })
  assert.equal(res.changes.length, 1)
  assert.equal(res.managementJson, undefined)
})

// ---- CLI (spawns dist/cli.js; `npm test` builds it first) ----

const secretsInFixture = [canarySecret, 'okta-secret', 'GOCSPX-google-secret-value', 'canary']

function assertNoSecrets(run: CliRun): void {
  for (const s of secretsInFixture) {
    assert.ok(!run.stdout.includes(s), `stdout leaks ${s}`)
    assert.ok(!run.stderr.includes(s), `stderr leaks ${s}`)
  }
}

test('CLI repair --issuer --dry-run --json: the plan, byte-identical file, no secrets', async (t) => {
  const { db } = await tempIdpDb(t)
  const hash = await sha256(db)
  const run = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--dry-run',
    '--json',
  ])
  assert.equal(run.code, 0, run.stderr)
  assertNoSecrets(run)
  assert.deepEqual(JSON.parse(run.stdout), {
    db,
    dryRun: true,
    backup: null,
    changes: [{ connectorId: jumpcloudId, field: 'issuer', from: A, to: B }],
    restarted: null,
  })
  assert.equal(await sha256(db), hash)
})

test('CLI repair --issuer: repaired, backup verified, human output', async (t) => {
  const { db } = await tempIdpDb(t)
  const run = await runCli(['repair', '--db', db, '--connector', jumpcloudId, '--issuer', B])
  assert.equal(run.code, 0, run.stderr)
  assertNoSecrets(run)
  assert.match(run.stdout, new RegExp(`connector ${jumpcloudId}: issuer "${A}" → "${B}"`))
  assert.match(run.stdout, /verified backup: .*pre-repair\.db/)
  assert.equal(connectorIssuer(readConnectors(db).find((r) => r.id === jumpcloudId)!), B)
  const again = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--json',
  ])
  assert.equal(again.code, 0)
  assert.deepEqual(JSON.parse(again.stdout).changes, [])
})

test('CLI repair: usage and input errors exit 2 with a clear message', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const notDb = join(dir, 'not.db')
  await writeFile(notDb, 'x'.repeat(4096))
  const cases: [string[], RegExp][] = [
    [['repair', '--discover'], /--db/],
    [['repair', '--db', db], /exactly one of --issuer URL or --discover/],
    [
      ['repair', '--db', db, '--discover', '--issuer', B, '--connector', jumpcloudId],
      /exactly one/,
    ],
    [['repair', '--db', db, '--issuer', B], /--connector/],
    [
      ['repair', '--db', join(dir, 'missing.db'), '--connector', jumpcloudId, '--issuer', B],
      /not found/,
    ],
    [
      ['repair', '--db', notDb, '--connector', jumpcloudId, '--issuer', B],
      /not an SQLite database/,
    ],
    [['repair', '--db', db, '--connector', 'nope', '--issuer', B], /no connector "nope"/],
    [['repair', '--db', db, '--connector', jumpcloudId, '--issuer', 'ftp://x'], /not an http/],
  ]
  for (const [args, message] of cases) {
    const run = await runCli(args)
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, message)
    assertNoSecrets(run)
  }
  const broken = defaultConnectors()
  broken[1] = { ...broken[1]!, config: `{"clientSecret":"${canarySecret}","issuer":` }
  const brokenDb = join(dir, 'broken.db')
  createIdpDb(brokenDb, { connectors: broken })
  const run = await runCli(['repair', '--db', brokenDb, '--connector', jumpcloudId, '--issuer', B])
  assert.equal(run.code, 2)
  assert.match(run.stderr, new RegExp(`connector "${jumpcloudId}": config is not valid JSON`))
  assertNoSecrets(run)
})

test('CLI repair: a database locked by another process → exit 2, nothing changed', async (t) => {
  const { db } = await tempIdpDb(t)
  const lock = await holdLock(db, 'immediate')
  defer(t, () => lock.release())
  const run = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--busy-timeout-ms',
    '300',
  ])
  assert.equal(run.code, 2)
  assert.match(run.stderr, /another process holds a write transaction.*nothing was changed/)
  await lock.release()
  assert.equal(connectorIssuer(readConnectors(db).find((r) => r.id === jumpcloudId)!), A)
})

test('CLI repair after a writer died mid-transaction: dry run exits 2, repair rolls the journal back first', async (t) => {
  const { db } = await tempIdpDb(t)
  await leaveHotJournal(db)
  const dry = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--dry-run',
  ])
  assert.equal(dry.code, 2)
  assert.match(dry.stderr, /hot journal/)
  const run = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--json',
  ])
  assert.equal(run.code, 0, run.stderr)
  const rows = readConnectors(db)
  assert.deepEqual(
    rows.map((r) => r.name),
    defaultConnectors().map((c) => c.name),
    "the dead writer's changes are rolled back",
  )
  assert.equal(connectorIssuer(rows.find((r) => r.id === jumpcloudId)!), B)
})

// ---- --discover against a real oidc-provider on 127.0.0.1 ----

interface TestProvider {
  base: string
  close: () => Promise<void>
}

/** A real OIDC provider whose issuer is `base + suffix` (suffix '/' = JumpCloud's trailing slash). */
async function startProvider(suffix: string): Promise<TestProvider> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`
  // oidc-provider ships no types; a computed specifier keeps tsc from looking for them.
  const specifier: string = 'oidc-provider'
  const mod = (await import(specifier)) as {
    default: new (issuer: string, config: object) => { callback(): RequestListener }
  }
  const provider = new mod.default(base + suffix, { clients: [] })
  server.on('request', provider.callback())
  return {
    base,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

test('CLI repair --discover: JumpCloud-style trailing-slash mismatch fixed, exact compare', async (t) => {
  const p = await startProvider('/')
  defer(t, () => p.close())
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const connectors = defaultConnectors().map((c) =>
    c.id === jumpcloudId ? { ...c, config: c.config!.replace(A, p.base) } : c,
  )
  // Okta points at a closed port: it cannot be checked, which is reported (exit 1), not guessed.
  createIdpDb(db, { connectors: connectors.filter((c) => c.id !== oktaId) })
  const dry = await runCli([
    'repair',
    '--db',
    db,
    '--discover',
    '--allow-insecure',
    '--dry-run',
    '--json',
  ])
  assert.equal(dry.code, 0, dry.stderr)
  assert.deepEqual(JSON.parse(dry.stdout).changes, [
    { connectorId: jumpcloudId, field: 'issuer', from: p.base, to: p.base + '/' },
  ])
  const run = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(run.code, 0, run.stderr)
  assertNoSecrets(run)
  const out = JSON.parse(run.stdout)
  assert.equal(out.changes.length, 1)
  assert.ok(typeof out.backup === 'string')
  assert.equal(connectorIssuer(readConnectors(db).find((r) => r.id === jumpcloudId)!), p.base + '/')
  const again = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(again.code, 0)
  assert.deepEqual(JSON.parse(again.stdout).changes, [])
})

test('CLI repair --discover: http issuer without --allow-insecure, and unreachable provider → exit 1', async (t) => {
  const p = await startProvider('/')
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: defaultConnectors()
      .filter((c) => c.id !== oktaId)
      .map((c) => (c.id === jumpcloudId ? { ...c, config: c.config!.replace(A, p.base) } : c)),
  })
  const hash = await sha256(db)
  const insecure = await runCli(['repair', '--db', db, '--discover', '--json'])
  assert.equal(insecure.code, 1)
  assert.match(JSON.parse(insecure.stdout).unresolved[0].reason, /allow-insecure/)
  await p.close()
  const down = await runCli([
    'repair',
    '--db',
    db,
    '--discover',
    '--allow-insecure',
    '--timeout-ms',
    '2000',
  ])
  assert.equal(down.code, 1)
  assert.match(down.stderr, new RegExp(`could not check connector ${jumpcloudId}`))
  assertNoSecrets(down)
  assert.equal(await sha256(db), hash)
})

// ---- --restart against the real Docker engine (images from scripts/test-env.sh) ----

test('CLI repair --restart restarts the container through the Docker engine', async (t) => {
  await requireDocker()
  const name = uniqueName('repair-restart')
  defer(t, () => removeContainers([name]))
  await runContainer({ name, cmd: ['sleep', '3600'] })
  const container = new Docker().getContainer(name)
  const before = (await container.inspect()).State.StartedAt
  const { db } = await tempIdpDb(t)
  const run = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--restart',
    name,
    '--json',
  ])
  assert.equal(run.code, 0, run.stderr)
  assert.equal(JSON.parse(run.stdout).restarted, name)
  const after = await container.inspect()
  assert.equal(after.State.Running, true)
  assert.notEqual(after.State.StartedAt, before)

  const missing = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    A,
    '--restart',
    `${name}-nope`,
    '--json',
  ])
  assert.equal(missing.code, 1)
  const out = JSON.parse(missing.stdout)
  assert.equal(out.restarted, null)
  assert.match(out.restartError, /no such container|404/i)
  assert.equal(out.changes.length, 1, 'the repair itself stands')
})

test('CLI repair with --management-json: a static connector is refused (exit 1) unless --fix-management-json', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const mj = join(dir, 'management.json')
  await writeFile(mj, managementJson(A))
  const hash = await sha256(db)
  const args = [
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    B,
    '--management-json',
    mj,
  ]
  const refused = await runCli(args)
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /static connectors.*--fix-management-json/)
  assertNoSecrets(refused)
  assert.equal(await sha256(db), hash)
  const fixed = await runCli([...args, '--fix-management-json', '--json'])
  assert.equal(fixed.code, 0, fixed.stderr)
  assertNoSecrets(fixed)
  const out = JSON.parse(fixed.stdout)
  assert.deepEqual(out.managementJson.changes, [
    { connectorId: jumpcloudId, field: 'issuer', from: A, to: B },
  ])
  assert.equal(await readFile(mj, 'utf8'), managementJson(B))
  const usage = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    jumpcloudId,
    '--issuer',
    A,
    '--fix-management-json',
  ])
  assert.equal(usage.code, 2)
})

test('idp.db already right but management.json still stale: refused, or management.json fixed alone', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const mj = join(dir, 'management.json')
  createIdpDb(db, {
    connectors: defaultConnectors().map((c) =>
      c.id === jumpcloudId ? { ...c, config: c.config!.replace(`"${A}"`, `"${B}"`) } : c,
    ),
  })
  await writeFile(mj, managementJson(A))
  const hash = await sha256(db)
  const opts = {
    dbPath: db,
    changes: fixChange,
    dryRun: false,
    version: '1',
    managementJsonPath: mj,
  }
  await assert.rejects(repairDb(opts), (e) => isWatchdogError(e, 'REPAIR_REFUSED'))
  const res = await repairDb({ ...opts, fixStaticConnectors: true })
  assert.deepEqual(res.changes, [])
  assert.equal(res.backup, null)
  assert.equal(res.managementJson?.changes.length, 1)
  assert.equal(await readFile(mj, 'utf8'), managementJson(B))
  assert.equal(await sha256(db), hash, 'idp.db untouched')
  // And once both agree, nothing at all to do.
  const again = await repairDb({ ...opts, fixStaticConnectors: true })
  assert.equal(again.managementJson, undefined)
})

test('CLI repair --discover with --management-json: idp.db right, stale static entry fixed', async (t) => {
  const p = await startProvider('/')
  defer(t, () => p.close())
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const mj = join(dir, 'management.json')
  createIdpDb(db, {
    connectors: defaultConnectors()
      .filter((c) => c.id !== oktaId)
      .map((c) =>
        c.id === jumpcloudId ? { ...c, config: c.config!.replace(A, p.base + '/') } : c,
      ),
  })
  await writeFile(mj, managementJson(p.base))
  const hash = await sha256(db)
  const args = [
    'repair',
    '--db',
    db,
    '--discover',
    '--allow-insecure',
    '--management-json',
    mj,
    '--json',
  ]
  const refused = await runCli(args)
  assert.equal(refused.code, 1)
  const fixed = await runCli([...args, '--fix-management-json'])
  assert.equal(fixed.code, 0, fixed.stderr)
  const out = JSON.parse(fixed.stdout)
  assert.deepEqual(out.changes, [])
  assert.deepEqual(out.managementJson.changes, [
    { connectorId: jumpcloudId, field: 'issuer', from: p.base, to: p.base + '/' },
  ])
  assert.equal(await sha256(db), hash)
})

test('a failure after commit (management.json cannot be written) undoes exactly the idp.db change', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const mj = join(dir, 'management.json')
  await writeFile(mj, managementJson(A))
  const before = readConnectors(db)
  const undo = await makeReadOnly(mj)
  try {
    await assert.rejects(
      repairDb({
        dbPath: db,
        changes: fixChange,
        dryRun: false,
        version: '1',
        managementJsonPath: mj,
        fixStaticConnectors: true,
      }),
      (e) => isWatchdogError(e, 'REPAIR_FAILED') && /it was undone/.test(e.message),
    )
  } finally {
    await undo() // before the temp dir is removed (after-hooks run in registration order)
  }
  // Every value as before; the undone row carries yet another version (Dex reopens it once more).
  assert.deepEqual(
    readConnectors(db),
    before.map((r) => (r.id === jumpcloudId ? { ...r, resourceVersion: '2' } : r)),
  )
  const h = new Database(db, { readonly: true })
  defer(t, () => h.close())
  assert.equal(
    (h.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check,
    'ok',
  )
  assert.equal(await readFile(mj, 'utf8'), managementJson(A))
  // The pre-repair backup and the one taken before undoing (the committed state) are both kept.
  const reasons = listBackups(join(dir, 'netbird-watchdog-backups')).map((b) => b.manifest.reason)
  assert.deepEqual(reasons.sort(), ['pre-repair', 'pre-rollback'])
})
