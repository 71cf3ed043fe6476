import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { goJsonString, setConnectorIssuer } from '../src/core/connector-json.js'
import { isWatchdogError } from '../src/errors.js'
import { listBackups, verifyBackup } from '../src/sqlite/backup.js'
import { connectorIssuer, readConnectors } from '../src/sqlite/idp-db.js'
import { repairIssuers } from '../src/sqlite/repair.js'
import {
  canarySecret,
  createIdpDb,
  defaultConnectors,
  goJsonMarshal,
  holdLock,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
  oktaId,
} from './helpers/idp-fixture.js'

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-repair-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
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
  assert.deepEqual(setConnectorIssuer('{"issuer":"a","Issuer":"b","ISSUER":"c"}', 'https://x'), {
    ok: true,
    text: '{"issuer":"https://x","Issuer":"b","ISSUER":"c"}',
    from: 'a',
    changed: true,
  })
  assert.deepEqual(setConnectorIssuer('{"Issuer":"b","ISSUER":"c"}', 'https://x'), {
    ok: false,
    reason: 'ambiguous',
  })
})

test('property: editing Go-marshalled configs equals marshalling with the new issuer', () => {
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
    { numRuns: 500 },
  )
})

// ---- repairIssuers against real idp.db files ----

for (const schema of ['v0.244', 'grant-types'] as const) {
  test(`repair (${schema}) changes exactly one value and keeps BLOB storage`, async (t) => {
    const dir = await tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db, { schema })
    const before = readConnectors(db)
    const res = await repairIssuers({ dbPath: db, changes: fixChange, dryRun: false, version: '1' })
    assert.deepEqual(res.changes, [
      {
        connectorId: jumpcloudId,
        field: 'issuer',
        from: jumpcloudIssuerStored,
        to: jumpcloudIssuerDiscovered,
      },
    ])
    assert.equal(res.dryRun, false)
    assert.equal(res.restarted, null)
    const after = readConnectors(db)
    for (const [i, row] of after.entries()) {
      const old = before[i]!
      if (row.id !== jumpcloudId) {
        assert.deepEqual(row, old)
        continue
      }
      assert.equal(row.storage, 'blob')
      assert.equal(connectorIssuer(row), jumpcloudIssuerDiscovered)
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
    assert.equal(backups[0]!.path, res.backup)
    assert.equal((await verifyBackup(backups[0]!)).ok, true)
    assert.equal(
      connectorIssuer(readConnectors(res.backup!).find((r) => r.id === jumpcloudId)!),
      jumpcloudIssuerStored,
    )
  })
}

test('dry run leaves the file byte-identical and writes no backup', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const hash = await sha256(db)
  const mtime = (await stat(db)).mtimeMs
  const res = await repairIssuers({ dbPath: db, changes: fixChange, dryRun: true, version: '1' })
  assert.equal(res.dryRun, true)
  assert.equal(res.backup, null)
  assert.equal(res.changes.length, 1)
  assert.equal(await sha256(db), hash)
  assert.equal((await stat(db)).mtimeMs, mtime)
  assert.deepEqual(listBackups(join(dir, 'netbird-watchdog-backups')), [])
})

test('nothing to do: no backup, no write', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const hash = await sha256(db)
  const res = await repairIssuers({
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
  await repairIssuers({ dbPath: db, changes: fixChange, dryRun: false, version: '1' })
  const row = readConnectors(db).find((r) => r.id === jumpcloudId)!
  assert.equal(row.storage, 'text')
  assert.equal(connectorIssuer(row), jumpcloudIssuerDiscovered)
})

test('input errors: unknown connector, connector without issuer, bad URL, read-only file', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const hash = await sha256(db)
  const run = (connectorId: string, to: string) =>
    repairIssuers({ dbPath: db, changes: [{ connectorId, to }], dryRun: false, version: '1' })
  await assert.rejects(run('nope', 'https://x'), (e) => isWatchdogError(e, 'CONNECTOR_NOT_FOUND'))
  await assert.rejects(run('local', 'https://x'), (e) => isWatchdogError(e, 'REPAIR_REFUSED'))
  await assert.rejects(run(jumpcloudId, 'not a url'), (e) => isWatchdogError(e, 'USAGE'))
  await assert.rejects(run(jumpcloudId, ' https://x'), (e) => isWatchdogError(e, 'USAGE'))
  await chmod(db, 0o444)
  if (process.getuid?.() !== 0) {
    await assert.rejects(run(jumpcloudId, jumpcloudIssuerDiscovered), (e) =>
      isWatchdogError(e, 'DB_READ_ONLY'),
    )
  }
  await chmod(db, 0o644)
  assert.equal(await sha256(db), hash)
})

test('a failure inside the transaction rolls back: nothing changed, backup kept', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  // A trigger (a real SQLite peer behaviour) that mangles the row we write: verification must catch it.
  const h = new Database(db)
  h.exec(`create trigger mangle after update of config on connector begin
            update connector set name = 'mangled' where id = new.id; end`)
  h.close()
  const before = readConnectors(db)
  await assert.rejects(
    repairIssuers({ dbPath: db, changes: fixChange, dryRun: false, version: '1' }),
    (e) => isWatchdogError(e, 'REPAIR_FAILED') && /rolled back, nothing changed/.test(e.message),
  )
  assert.deepEqual(readConnectors(db), before)
})

test('another process holding a write transaction: repair waits, then fails cleanly', async (t) => {
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const lock = await holdLock(db, 'immediate')
  t.after(() => lock.release())
  await assert.rejects(
    repairIssuers({
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
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  // The other process (as Dex would) commits its transaction a moment later, on its own.
  const lock = await holdLock(db, 'immediate', { commitAfterMs: 300 })
  t.after(() => lock.release())
  const res = await repairIssuers({
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
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const mj = join(dir, 'management.json')
  createIdpDb(db)
  await writeFile(mj, managementJson(jumpcloudIssuerStored))
  const hash = await sha256(db)
  await assert.rejects(
    repairIssuers({
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
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const mj = join(dir, 'management.json')
  createIdpDb(db)
  const original = managementJson(jumpcloudIssuerStored)
  await writeFile(mj, original)
  const inode = (await stat(mj)).ino
  const res = await repairIssuers({
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
  const dir = await tempDir(t)
  const db = join(dir, 'idp.db')
  const mj = join(dir, 'management.json')
  createIdpDb(db)
  await writeFile(mj, managementJson('https://other.example'))
  const res = await repairIssuers({
    dbPath: db,
    changes: [{ connectorId: oktaId, to: 'https://dev-123456.okta.com/' }],
    dryRun: false,
    version: '1',
    managementJsonPath: mj,
  })
  assert.equal(res.changes.length, 1)
  assert.equal(res.managementJson, undefined)
})
