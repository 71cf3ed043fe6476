import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectors, rollBackHotJournal } from '../../src/store/sqlite/idp-db.js'
import { isWatchdogError, type ErrorCode } from '../../src/errors.js'
import {
  createIdpDb,
  defaultConnectors,
  goJsonMarshal,
  googleId,
  jumpcloudId,
  jumpcloudIssuerStored,
  migrationsFor,
  oktaId,
  canarySecret,
  holdLock,
  leaveHotJournal,
} from '../helpers/idp-fixture.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

async function tempDir(t: CleanupScope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-idpdb-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

function assertCode(code: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isWatchdogError(err, code), `expected ${code}, got ${String(err)}`)
    return true
  }
}

for (const schema of ['v0.244', 'grant-types'] as const) {
  test(`fixture (${schema}) has Dex's schema and migrations`, async (t) => {
    const db = join(await tempDir(t), 'idp.db')
    createIdpDb(db, { schema })
    const h = new Database(db, { readonly: true })
    defer(t, () => h.close())
    const migrations = h.prepare('select num, at from migrations order by num').all() as {
      num: number
      at: string
    }[]
    assert.equal(migrations.length, migrationsFor(schema).length)
    assert.match(migrations[0]!.at, /^\d{4}-\d{2}-\d{2}$/) // date('now'), as Dex's now() rewrite gives
    const connectorSql = (
      h.prepare("select sql from sqlite_master where name = 'connector'").get() as { sql: string }
    ).sql
    assert.match(connectorSql, /config blob/)
    assert.equal(/grant_types blob/.test(connectorSql), schema === 'grant-types')
    const types = h.prepare('select typeof(config) t from connector order by rowid').all()
    assert.deepEqual(
      types.map((r) => (r as { t: string }).t),
      ['null', 'blob', 'blob', 'blob'],
    )
    assert.equal(
      (h.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check,
      'ok',
    )
  })

  test(`readConnectors (${schema}) returns NetBird's rows with raw text and storage class`, async (t) => {
    const db = join(await tempDir(t), 'idp.db')
    createIdpDb(db, { schema })
    const rows = readConnectors(db)
    assert.deepEqual(
      rows.map((r) => r.id),
      ['local', jumpcloudId, oktaId, googleId],
    )
    const [local, jc, okta, google] = rows
    assert.equal(local!.config, null)
    assert.equal(local!.storage, 'null')
    assert.equal(connectorIssuer(local!), undefined)
    assert.equal(jc!.storage, 'blob')
    assert.equal(connectorIssuer(jc!), jumpcloudIssuerStored)
    assert.equal(jc!.config!.clientSecret, canarySecret)
    assert.equal(jc!.rawConfig, defaultConnectors()[1]!.config)
    assert.match(okta!.rawConfig!, /\\u0026/)
    assert.equal(connectorIssuer(okta!), 'https://dev-123456.okta.com')
    assert.equal(connectorIssuer(google!), undefined)
  })
}

test('goJsonMarshal matches Go: sorted keys, compact, HTML escapes', () => {
  assert.equal(
    goJsonMarshal({ b: 'x&y', a: { d: '<', c: [1, true, null] } }),
    '{"a":{"c":[1,true,null],"d":"\\u003c"},"b":"x\\u0026y"}',
  )
})

test('TEXT-stored config (after a manual sqlite3 replace) is read too', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  const connectors = defaultConnectors().map((c) =>
    c.id === jumpcloudId ? { ...c, storage: 'text' as const } : c,
  )
  createIdpDb(db, { connectors })
  const jc = readConnectors(db).find((r) => r.id === jumpcloudId)!
  assert.equal(jc.storage, 'text')
  assert.equal(connectorIssuer(jc), jumpcloudIssuerStored)
})

test('missing file → DB_NOT_FOUND', async (t) => {
  const dir = await tempDir(t)
  assert.throws(() => readConnectors(join(dir, 'nope.db')), assertCode('DB_NOT_FOUND'))
  assert.throws(() => readConnectors(dir), assertCode('DB_NOT_FOUND'))
})

test('not an SQLite file → DB_NOT_SQLITE', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  await writeFile(db, 'this is not a database, just some text that is long enough'.repeat(20))
  assert.throws(() => readConnectors(db), assertCode('DB_NOT_SQLITE'))
})

test('SQLite without a connector table → DB_NO_CONNECTOR_TABLE', async (t) => {
  const db = join(await tempDir(t), 'store.db')
  const h = new Database(db)
  h.exec('create table peers (id text)')
  h.close()
  assert.throws(() => readConnectors(db), assertCode('DB_NO_CONNECTOR_TABLE'))
})

test('unparseable or non-object connector JSON: the row with configError, no secret, no throw', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  const connectors = defaultConnectors()
  connectors[1] = { ...connectors[1]!, config: `{"clientSecret":"${canarySecret}",` }
  connectors[2] = { ...connectors[2]!, config: '["not", "an", "object"]', storage: 'text' }
  createIdpDb(db, { connectors })
  const rows = readConnectors(db)
  assert.equal(rows.length, 4)
  const jc = rows.find((r) => r.id === jumpcloudId)!
  assert.equal(jc.config, null)
  assert.equal(jc.rawConfig, `{"clientSecret":"${canarySecret}",`)
  assert.equal(jc.storage, 'blob')
  assert.equal(jc.configError, `connector "${jumpcloudId}": config is not valid JSON`)
  assert.doesNotMatch(jc.configError, /canary/)
  assert.equal(connectorIssuer(jc), undefined)
  const okta = rows.find((r) => r.id === oktaId)!
  assert.equal(okta.config, null)
  assert.equal(okta.storage, 'text')
  assert.equal(okta.configError, `connector "${oktaId}": config is not a JSON object`)
  // The other rows are read as ever.
  assert.equal(rows.find((r) => r.id === googleId)!.configError, undefined)
  assert.equal(rows.find((r) => r.id === 'local')!.configError, undefined)
})

test('a numeric config (neither NULL, BLOB nor TEXT) is a configError too', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  createIdpDb(db)
  const h = new Database(db)
  h.prepare('update connector set config = 42 where id = ?').run(googleId)
  h.close()
  const row = readConnectors(db).find((r) => r.id === googleId)!
  assert.equal(row.config, null)
  assert.equal(row.storage, 'other')
  assert.equal(row.configError, `connector "${googleId}": config is a number, not JSON text`)
})

test('a database locked exclusively past the busy timeout → DB_LOCKED', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  createIdpDb(db)
  const lock = await holdLock(db, 'exclusive')
  defer(t, () => lock.release())
  assert.throws(() => readConnectors(db, { busyTimeoutMs: 200 }), assertCode('DB_LOCKED'))
  await lock.release()
  assert.equal(readConnectors(db).length, 4)
})

test('a hot journal left by a dead writer → DB_HOT_JOURNAL (read-only never rolls it back)', async (t) => {
  const db = join(await tempDir(t), 'idp.db')
  createIdpDb(db)
  await leaveHotJournal(db)
  assert.throws(() => readConnectors(db), assertCode('DB_HOT_JOURNAL'))
  rollBackHotJournal(db)
  assert.deepEqual(
    readConnectors(db).map((r) => r.name),
    defaultConnectors().map((c) => c.name),
  )
})
