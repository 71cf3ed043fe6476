// The PostgreSQL IdP store against a real PostgreSQL server (test/helpers/postgres.ts): reading, the
// shared repair path (store/issuer-edits.ts) byte for byte, verified backups and restores, concurrent
// Dex-like writers, held locks, statement timeouts, wrong credentials, TLS modes, a foreign schema —
// and the test role's canary password in no message, log line or backup file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { inspect } from 'node:util'
import type pg from 'pg'
import { connectorIssuer } from '../../src/core/connectors.js'
import { isWatchdogError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { listBackups, type BackupInfo } from '../../src/store/backup-files.js'
import { pruneBackups } from '../../src/store/retention.js'
import { editIssuers } from '../../src/store/issuer-edits.js'
import type { StoreTransaction } from '../../src/store/port.js'
import { parseDsn } from '../../src/core/dsn.js'
import { assertSameStore } from '../../src/store/restore-guard.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { PostgresStore } from '../../src/store/postgres/store.js'
import { verifyBackupFile } from '../../src/store/verify.js'
import { runCli } from '../helpers/cli.js'
import {
  canarySecret,
  createIdpDb,
  defaultConnectors,
  goJsonMarshal,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
  oidcConnectorConfig,
  oktaId,
} from '../helpers/idp-fixture.js'
import {
  blockedRole,
  createDexDatabase,
  createDexSchema,
  insertConnector,
  rawConnectors,
  roleName,
  rolePassword,
  seedDex,
  clusterForFile,
  openPgStore,
  rejectsWith,
  type PgCluster,
} from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))

const version = '0.0.0-test'

async function tempDir(t: CleanupScope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-pg-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

function bytesOf(row: Record<string, unknown> | undefined, column: string): Buffer | null {
  const v = row?.[column]
  if (v === null) return null
  assert.ok(Buffer.isBuffer(v), `${column} is bytea`)
  return v
}

const jumpcloudConfig = defaultConnectors().find((c) => c.id === jumpcloudId)!.config!
const repairedConfig = jumpcloudConfig.replace(
  `"issuer":"${jumpcloudIssuerStored}"`,
  `"issuer":"${jumpcloudIssuerDiscovered}"`,
)
const repair = [
  { connectorId: jumpcloudId, to: jumpcloudIssuerDiscovered, expectFrom: jumpcloudIssuerStored },
]

for (const schema of ['v0.244', 'grant-types'] as const) {
  test(`reads Dex's connector rows (${schema}) as stored, and checks ok`, async (t) => {
    const { dsn } = await createDexDatabase(cluster, { schema })
    const store = openPgStore(t, dsn)
    assert.equal(store.engine, 'postgres')
    assert.match(store.label, /^postgres:\/\/watchdog@127\.0\.0\.1:\d+\/nbw_\d+$/)
    assert.match(store.identity, /^127\.0\.0\.1:\d+\/nbw_\d+$/)
    const rows = await store.readConnectors()
    // ids compared bytewise, whatever the database's collation.
    assert.deepEqual(
      rows.map((r) => r.id),
      [jumpcloudId, 'google-d1c9q5tl0fgs73cunqtg', 'local', oktaId],
    )
    const fixture = new Map(defaultConnectors().map((c) => [c.id, c]))
    for (const row of rows) {
      const want = fixture.get(row.id)!
      assert.equal(row.rawConfig, want.config)
      assert.equal(row.storage, want.config === null ? 'null' : 'blob')
      assert.equal(row.name, want.name)
      assert.equal(row.configError, undefined)
    }
    assert.equal(connectorIssuer(rows[0]!), jumpcloudIssuerStored)
    assert.equal(await store.check(), 'ok')
  })

  test(`the shared repair path changes exactly one value, byte for byte (${schema})`, async (t) => {
    const { database, dsn } = await createDexDatabase(cluster, { schema })
    const dir = await tempDir(t)
    const backupDir = join(dir, 'backups')
    const store = openPgStore(t, dsn)
    const before = await rawConnectors(cluster, database)
    const logLines: string[] = []
    const logger = createLogger(
      { level: 'debug' },
      { write: (line: string) => logLines.push(line) },
    )

    const result = await editIssuers(store, repair, {
      backup: { dir: backupDir, reason: 'pre-repair', version },
      logger,
    })

    assert.deepEqual(result.changes, [
      {
        connectorId: jumpcloudId,
        field: 'issuer',
        from: jumpcloudIssuerStored,
        to: jumpcloudIssuerDiscovered,
      },
    ])
    assert.deepEqual(result.stale, [])
    const now = await rawConnectors(cluster, database)
    assert.equal(now.length, before.length)
    for (let i = 0; i < now.length; i++) {
      const a = before[i]!
      const b = now[i]!
      assert.deepEqual(Object.keys(b), Object.keys(a))
      if (a.id === jumpcloudId) {
        assert.equal(bytesOf(b, 'config')!.toString('utf8'), repairedConfig)
        assert.ok(bytesOf(b, 'config')!.equals(Buffer.from(repairedConfig, 'utf8')))
        // The new resource_version is what makes a running Dex reopen the connector.
        assert.equal(a.resource_version, '')
        assert.equal(b.resource_version, '1')
        for (const k of Object.keys(a).filter((k) => k !== 'config' && k !== 'resource_version')) {
          assert.deepEqual(b[k], a[k])
        }
      } else {
        assert.deepEqual(b, a)
      }
    }
    if (schema === 'grant-types') {
      assert.equal(bytesOf(now[0], 'grant_types')!.toString(), 'null')
    }

    // The verified backup: private, checksummed, of this database, with the server's version.
    const backup = result.backup!
    assert.ok(backup !== null)
    assert.equal((await stat(backupDir)).mode & 0o777, 0o700)
    assert.equal((await stat(backup.path)).mode & 0o777, 0o600)
    assert.equal((await stat(backup.manifestPath)).mode & 0o777, 0o600)
    const m = backup.manifest
    assert.equal(m.engine, 'postgres')
    assert.equal(m.source, store.identity)
    assert.equal(m.reason, 'pre-repair')
    assert.match(m.serverVersion ?? '', /^\d+\.\d+/)
    assert.deepEqual(
      m.connectors,
      before.map((r) => r.id),
    )
    const data = await readFile(backup.path)
    assert.equal(m.sha256, createHash('sha256').update(data).digest('hex'))
    assert.equal(m.size, data.length)
    assert.deepEqual(await verifyBackupFile(backup), { ok: true, problems: [] })
    assert.deepEqual(
      listBackups(backupDir).map((b) => b.id),
      [backup.id],
    )
    // The backup holds the rows as they were before, bytes exactly.
    const parsed = JSON.parse(data.toString('utf8')) as {
      rows: Array<{ id: string; config: string | null }>
    }
    const saved = parsed.rows.find((r) => r.id === jumpcloudId)!
    assert.equal(Buffer.from(saved.config!, 'base64').toString('utf8'), jumpcloudConfig)

    // No DSN password anywhere: manifest, backup, log.
    const manifestText = await readFile(backup.manifestPath, 'utf8')
    for (const text of [manifestText, data.toString('utf8'), logLines.join('')]) {
      assert.ok(!text.includes(rolePassword))
      assert.ok(!text.includes('9d2f7b1c'))
    }
    assert.ok(!logLines.join('').includes(canarySecret), 'a client secret was logged')
    assert.ok(logLines.some((l) => l.includes('change committed')))

    // Nothing left to change: no write, no backup.
    const again = await editIssuers(store, repair, {
      backup: { dir: backupDir, reason: 'pre-repair', version },
    })
    assert.equal(again.backup, null)
    assert.equal(again.changes.length, 0)
    assert.equal(again.stale.length, 1)
    assert.equal(listBackups(backupDir).length, 1)
  })
}

test('a store closed while its first connection is being made connects nowhere', async (t) => {
  const { dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  // The first use loads node-postgres (an await) before it makes the pool; close() comes meanwhile.
  const read = store.readConnectors()
  await store.close()
  await assert.rejects(read, (err: unknown) => {
    assert.ok(isWatchdogError(err, 'DB_UNREADABLE'), String(err))
    assert.match(err.message, /closed while connecting/)
    return true
  })
  // A later use makes a pool again: close() ends what exists, it is not a shutdown latch.
  assert.ok((await store.readConnectors()).length > 0)
})

test('a transaction whose function throws leaves nothing behind', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  const before = await rawConnectors(cluster, database)
  await assert.rejects(
    store.transaction(async (tx) => {
      const rows = await tx.readConnectors()
      await tx.writeConfig(rows[0]!, '{"issuer":"https://changed.example"}', '1')
      const seen = await tx.readConnectors()
      assert.equal(seen[0]!.rawConfig, '{"issuer":"https://changed.example"}')
      assert.equal(await tx.check(), 'ok')
      throw new Error('the caller changed its mind')
    }),
    /changed its mind/,
  )
  assert.deepEqual(await rawConnectors(cluster, database), before)
  // The pooled connection is usable again (no transaction left open on it).
  assert.equal((await store.readConnectors()).length, before.length)
})

test('writeConfig of a row that is not there changes nothing and fails', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  const before = await rawConnectors(cluster, database)
  await rejectsWith(
    store.transaction(async (tx) => {
      const [row] = await tx.readConnectors()
      await tx.writeConfig({ ...row!, id: 'no-such-connector' }, '{}', '1')
    }),
    'REPAIR_FAILED',
    /changed 0 rows/,
  )
  assert.deepEqual(await rawConnectors(cluster, database), before)
})

test('backup, verify and restore: rows changed, added and removed since come back exactly', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster, { schema: 'grant-types' })
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn)
  const original = await rawConnectors(cluster, database)
  const backup = await store.backup({ dir, reason: 'manual', version })
  assert.equal(backup.manifest.engine, 'postgres')
  assert.deepEqual(await store.verifyBackup(backup), { ok: true, problems: [] })

  // Dex (or an operator) changes things afterwards.
  const c = await cluster.connect(database)
  try {
    await c.query(
      "update connector set config = convert_to('{broken', 'UTF8'), resource_version = '7' where id = $1",
      [jumpcloudId],
    )
    await c.query('delete from connector where id = $1', [oktaId])
    await insertConnector(c, true, {
      id: 'added-later',
      type: 'oidc',
      name: 'Added',
      config: oidcConnectorConfig({
        issuer: 'https://added.example',
        clientID: 'a',
        clientSecret: 'b',
      }),
    })
    await c.query(
      "update connector set grant_types = convert_to('[\"authorization_code\"]', 'UTF8') where id = 'local'",
    )
  } finally {
    await c.end()
  }
  const changed = await rawConnectors(cluster, database)

  const result = await store.restore(backup, { dir, reason: 'manual', version })
  assert.equal(result.restored.id, backup.id)
  assert.deepEqual(await rawConnectors(cluster, database), original)

  // The state replaced is kept, verified, as a pre-restore backup.
  const pre = listBackups(dir).find((b) => b.path === result.preRestoreBackup)!
  assert.equal(pre.manifest.reason, 'pre-restore')
  assert.deepEqual(
    pre.manifest.connectors,
    changed.map((r) => r.id),
  )
  assert.deepEqual(await verifyBackupFile(pre), { ok: true, problems: [] })
  assert.equal((await stat(pre.path)).mode & 0o777, 0o600)

  // And restoring that puts the changed state back (a restore is itself undoable).
  await store.restore(pre, { dir, reason: 'manual', version })
  assert.deepEqual(await rawConnectors(cluster, database), changed)
  assert.equal(await store.check(), 'ok')
})

test('a tampered backup is refused, by verify and by restore, and nothing changes', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn)
  const backup = await store.backup({ dir, reason: 'manual', version })
  const c = await cluster.connect(database)
  try {
    await c.query('delete from connector where id = $1', [oktaId])
  } finally {
    await c.end()
  }
  const before = await rawConnectors(cluster, database)

  const data = await readFile(backup.path, 'utf8')
  // Same length, one character different: only the checksum can tell.
  const tampered = data.replace('"name": "JumpCloud"', '"name": "JumpCl0ud"')
  assert.notEqual(tampered, data)
  await writeFile(backup.path, tampered)
  const verdict = await verifyBackupFile(backup)
  assert.equal(verdict.ok, false)
  assert.deepEqual(verdict.problems, ['sha256 does not match the manifest'])
  await rejectsWith(
    store.restore(backup, { dir, reason: 'manual', version }),
    'BACKUP_VERIFY_FAILED',
  )
  assert.deepEqual(await rawConnectors(cluster, database), before)

  // A manifest that lies about the connectors (data intact) is caught too.
  await writeFile(backup.path, data)
  const lying: BackupInfo = {
    ...backup,
    manifest: { ...backup.manifest, connectors: [...backup.manifest.connectors, 'ghost'] },
  }
  const v2 = await verifyBackupFile(lying)
  assert.deepEqual(v2.problems, ['connector ids differ from the manifest'])
  await rejectsWith(
    store.restore(lying, { dir, reason: 'manual', version }),
    'BACKUP_VERIFY_FAILED',
  )
  // A backup of another engine is refused outright.
  await rejectsWith(
    store.restore(
      { ...backup, manifest: { ...backup.manifest, engine: 'sqlite' } },
      { dir, reason: 'manual', version },
    ),
    'RESTORE_REFUSED',
  )
  assert.deepEqual(await rawConnectors(cluster, database), before)
})

test("a backup from before Dex's grant_types migration restores into the migrated table", async (t) => {
  const { database, dsn } = await createDexDatabase(cluster, { schema: 'v0.244' })
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn)
  const backup = await store.backup({ dir, reason: 'manual', version })
  const c = await cluster.connect(database)
  try {
    // What the newer Dex's migration does, then a write of its own.
    await c.query('alter table connector add column grant_types bytea')
    await c.query(
      "update connector set grant_types = convert_to('null', 'UTF8') where id = 'local'",
    )
    await c.query('update connector set name = $1 where id = $2', ['Renamed', oktaId])
  } finally {
    await c.end()
  }
  await store.restore(backup, { dir, reason: 'manual', version })
  const rows = await rawConnectors(cluster, database)
  assert.equal(rows.find((r) => r.id === oktaId)!.name, 'Okta & Partners <SSO>')
  // grant_types is not in the backup: left as Dex wrote it.
  assert.equal(
    bytesOf(
      rows.find((r) => r.id === 'local'),
      'grant_types',
    )!.toString(),
    'null',
  )
})

test('restoring grant types into a table without the column is refused', async (t) => {
  const newer = await createDexDatabase(cluster, { schema: 'grant-types' })
  const dir = await tempDir(t)
  const store = openPgStore(t, newer.dsn)
  const c = await cluster.connect(newer.database)
  try {
    await c.query(
      "update connector set grant_types = convert_to('[\"device_code\"]', 'UTF8') where id = 'local'",
    )
  } finally {
    await c.end()
  }
  const backup = await store.backup({ dir, reason: 'manual', version })
  const c2 = await cluster.connect(newer.database)
  try {
    await c2.query('alter table connector drop column grant_types')
  } finally {
    await c2.end()
  }
  const before = await rawConnectors(cluster, newer.database)
  await rejectsWith(
    store.restore(backup, { dir, reason: 'manual', version }),
    'RESTORE_REFUSED',
    /grant types/,
  )
  assert.deepEqual(await rawConnectors(cluster, newer.database), before)
})

/** A Dex-like writer on its own connection, counting what the server acknowledged. */
interface Writer {
  readonly acked: () => number
  readonly stop: () => Promise<void>
}

function startWriter(client: pg.Client, step: (n: number) => Promise<void>): Writer {
  let n = 0
  let stopping = false
  const loop = (async () => {
    while (!stopping) {
      const next = n + 1
      try {
        await step(next)
        n = next
      } catch (err) {
        // A serialization failure (Dex's SERIALIZABLE transactions) is retried, as a caller would.
        if ((err as { code?: string }).code !== '40001') throw err
      }
    }
  })()
  // Reported by stop(); until then a failure must not count as unhandled.
  loop.catch(() => undefined)
  return {
    acked: () => n,
    stop: async () => {
      stopping = true
      await loop
      await client.end()
    },
  }
}

test('concurrent Dex-like writers during a repair: not one row lost', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster, { schema: 'grant-types' })
  const dir = await tempDir(t)
  const connect = (): Promise<pg.Client> => cluster.connect(database)

  const tokens = await connect()
  const tokenWriter = startWriter(tokens, async (n) => {
    await tokens.query(
      `insert into refresh_token (id, client_id, scopes, nonce, claims_user_id, claims_username, claims_email, claims_email_verified, claims_groups, connector_id, connector_data)
       values ($1, 'netbird-dashboard', $2, '', 'u', 'u', 'u@example.com', true, $2, $3, null)`,
      [`rt-${n}`, Buffer.from('[]'), jumpcloudId],
    )
  })
  const creator = await connect()
  const creatorWriter = startWriter(creator, async (n) => {
    await insertConnector(creator, true, {
      id: `created-${n}`,
      type: 'oidc',
      name: `Created ${n}`,
      config: oidcConnectorConfig({
        issuer: `https://idp-${n}.example`,
        clientID: 'c',
        clientSecret: 's',
      }),
    })
  })
  // Dex's UpdateConnector: a SERIALIZABLE transaction reading the row, then writing it.
  const updater = await connect()
  const updateWriter = startWriter(updater, async (n) => {
    await updater.query('begin')
    try {
      await updater.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;')
      await updater.query(
        'select id, type, name, resource_version, config, grant_types from connector where id = $1;',
        [oktaId],
      )
      await updater.query('update connector set name = $1, resource_version = $2 where id = $3;', [
        `Okta v${n}`,
        String(n),
        oktaId,
      ])
      await updater.query('commit')
    } catch (err) {
      await updater.query('rollback')
      throw err
    }
  })
  const clients = await connect()
  const clientWriter = startWriter(clients, async (n) => {
    await clients.query("update client set logo_url = $1 where id = 'netbird-cli'", [
      `https://logo/${n}`,
    ])
  })
  const writers = [tokenWriter, creatorWriter, updateWriter, clientWriter]
  let stopped = false
  const stopAll = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await Promise.all(writers.map((w) => w.stop()))
  }
  defer(t, stopAll)
  await waitFor('every writer to start', () => writers.every((w) => w.acked() >= 3), 60_000, 10)

  // The repair, held open (rows locked) until the inserting writers moved on meanwhile.
  class HeldStore extends PostgresStore {
    override transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
      return super.transaction((tx) =>
        fn({
          ...tx,
          backup: async (request) => {
            const info = await tx.backup(request)
            const [t0, c0, u0] = [tokenWriter.acked(), creatorWriter.acked(), updateWriter.acked()]
            await waitFor(
              'writers during the repair',
              () => tokenWriter.acked() >= t0 + 5 && creatorWriter.acked() >= c0 + 5,
              60_000,
              10,
            )
            // Dex's UpdateConnector waits on the locked row (one commit may have been in flight).
            assert.ok(updateWriter.acked() <= u0 + 1, 'a connector changed under the lock')
            return info
          },
        }),
      )
    }
  }
  const store = new HeldStore(parseDsn(dsn))
  defer(t, () => store.close())
  const result = await editIssuers(store, repair, {
    backup: { dir, reason: 'pre-repair', version },
  })
  assert.equal(result.changes.length, 1)

  const after0 = updateWriter.acked()
  await waitFor(
    'the blocked updater to carry on',
    () => updateWriter.acked() >= after0 + 3,
    60_000,
    10,
  )
  await stopAll()

  const rows = await rawConnectors(cluster, database)
  const byId = new Map(rows.map((r) => [String(r.id), r]))
  assert.equal(bytesOf(byId.get(jumpcloudId), 'config')!.toString('utf8'), repairedConfig)
  assert.equal(byId.get(oktaId)!.name, `Okta v${updateWriter.acked()}`)
  for (let n = 1; n <= creatorWriter.acked(); n++) {
    const row = byId.get(`created-${n}`)
    assert.ok(row !== undefined, `created-${n} lost`)
    assert.equal(
      bytesOf(row, 'config')!.toString('utf8'),
      oidcConnectorConfig({ issuer: `https://idp-${n}.example`, clientID: 'c', clientSecret: 's' }),
    )
  }
  const c = await connect()
  try {
    const tokensNow = await c.query('select id from refresh_token')
    const ids = new Set(tokensNow.rows.map((r: { id: string }) => r.id))
    for (let n = 1; n <= tokenWriter.acked(); n++) assert.ok(ids.has(`rt-${n}`), `rt-${n} lost`)
    const logo = await c.query("select logo_url from client where id = 'netbird-cli'")
    assert.equal(logo.rows[0].logo_url, `https://logo/${clientWriter.acked()}`)
  } finally {
    await c.end()
  }
  // The backup is of the snapshot the repair planned against: the original rows and the connectors
  // created before it (a contiguous run created-1…created-k), none created while it ran.
  const saved = result.backup!.manifest.connectors
  for (const c of defaultConnectors()) assert.ok(saved.includes(c.id))
  const created = saved.filter((id) => id.startsWith('created-')).map((id) => Number(id.slice(8)))
  assert.deepEqual(
    [...created].sort((a, b) => a - b),
    created.map((_, i) => i + 1).sort((a, b) => a - b),
  )
  assert.ok(created.length < creatorWriter.acked())
  assert.deepEqual(await verifyBackupFile(result.backup!), { ok: true, problems: [] })
})

test('a lock another session holds: a bounded wait, DB_LOCKED, nothing changed', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn, { lockTimeoutMs: 300 })
  const holder = await cluster.connect(database)
  defer(t, () => holder.end())
  await holder.query('begin')
  await holder.query('select id from connector where id = $1 for update', [jumpcloudId])
  const before = await rawConnectors(cluster, database)

  let called = false
  const err = await rejectsWith(
    store.transaction(() => {
      called = true
      return Promise.resolve()
    }),
    'DB_LOCKED',
    /nothing was changed/,
  )
  assert.match(err.message, /300 ms/)
  assert.equal(called, false, 'the function ran without the lock')
  await rejectsWith(
    editIssuers(store, repair, { backup: { dir, reason: 'pre-repair', version } }),
    'DB_LOCKED',
  )
  await rejectsWith(
    store.restore(await store.backup({ dir, reason: 'manual', version }), {
      dir,
      reason: 'manual',
      version,
    }),
    'DB_LOCKED',
  )
  // Reads take no row locks: they go on.
  assert.equal((await store.readConnectors()).length, before.length)
  assert.equal(await store.check(), 'ok')
  await holder.query('rollback')
  assert.deepEqual(await rawConnectors(cluster, database), before)
  assert.equal(listBackups(dir).filter((b) => b.manifest.reason !== 'manual').length, 0)
  // Once released, the same store repairs.
  const done = await editIssuers(store, repair, { backup: { dir, reason: 'pre-repair', version } })
  assert.equal(done.changes.length, 1)
})

test('a statement that runs past statement_timeout: STORE_TIMEOUT, nothing changed', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn, { statementTimeoutMs: 300, lockTimeoutMs: 60_000 })
  const holder = await cluster.admin(database)
  defer(t, () => holder.end())
  await holder.query('begin')
  await holder.query('lock table connector in access exclusive mode')
  await rejectsWith(store.readConnectors(), 'STORE_TIMEOUT', /300 ms.*57014/)
  await rejectsWith(store.check(), 'STORE_TIMEOUT')
  await rejectsWith(
    store.transaction(() => Promise.resolve()),
    'STORE_TIMEOUT',
  )
  await holder.query('rollback')
  assert.equal((await store.readConnectors()).length, 4)
})

test('wrong password and a role pg_hba.conf rejects: STORE_AUTH_FAILED, no password shown', async (t) => {
  const { database } = await createDexDatabase(cluster)
  const wrong = `${rolePassword}-wrong`
  for (const form of ['uri', 'kv'] as const) {
    const store = openPgStore(t, cluster.dsn({ database, password: wrong }, form))
    const err = await rejectsWith(store.readConnectors(), 'STORE_AUTH_FAILED', /28P01/)
    assert.ok(!err.message.includes(wrong))
    await rejectsWith(
      store.transaction(() => Promise.resolve()),
      'STORE_AUTH_FAILED',
    )
    await rejectsWith(store.check(), 'STORE_AUTH_FAILED')
  }
  const blocked = openPgStore(t, cluster.dsn({ database, user: blockedRole }))
  await rejectsWith(blocked.readConnectors(), 'STORE_AUTH_FAILED', /28000.*pg_hba/)
})

test("not Dex's schema: STORE_NOT_DEX saying what is missing", async (t) => {
  const empty = await cluster.createDatabase()
  const dir = await tempDir(t)
  const store = openPgStore(t, cluster.dsn({ database: empty }))
  await rejectsWith(store.readConnectors(), 'STORE_NOT_DEX', /no connector table/)
  await rejectsWith(store.check(), 'STORE_NOT_DEX')
  await rejectsWith(
    store.transaction(() => Promise.resolve()),
    'STORE_NOT_DEX',
  )
  await rejectsWith(store.backup({ dir, reason: 'manual', version }), 'STORE_NOT_DEX')
  assert.deepEqual(listBackups(dir), [])

  const odd = await cluster.createDatabase()
  const c = await cluster.connect(odd)
  try {
    await c.query('create table connector (id text primary key, type text, name text, config text)')
  } finally {
    await c.end()
  }
  const oddStore = openPgStore(t, cluster.dsn({ database: odd }))
  await rejectsWith(
    oddStore.readConnectors(),
    'STORE_NOT_DEX',
    /no column resource_version; column config is text, not bytea/,
  )

  const missing = openPgStore(t, cluster.dsn({ database: 'no_such_database' }))
  await rejectsWith(missing.readConnectors(), 'STORE_NOT_DEX', /does not exist/)
})

test('a role without privileges on the table: STORE_AUTH_FAILED naming what it needs', async (t) => {
  const { database } = await createDexDatabase(cluster)
  const admin = await cluster.admin(database)
  try {
    await admin.query(`revoke all on connector from public`)
    await admin.query(`alter table connector owner to nbw_admin`)
  } finally {
    await admin.end()
  }
  const store = openPgStore(t, cluster.dsn({ database }))
  await rejectsWith(
    store.readConnectors(),
    'STORE_AUTH_FAILED',
    /42501.*SELECT, INSERT, UPDATE and DELETE/,
  )
})

test('sslmode as libpq means it, against a server without TLS', async (t) => {
  const { database } = await createDexDatabase(cluster)
  // No sslmode: verify-full, as Dex assumes; this server offers no TLS, so no connection.
  const bare = openPgStore(t, cluster.dsn({ database }).replace('?sslmode=disable', ''))
  await rejectsWith(
    bare.readConnectors(),
    'STORE_UNREACHABLE',
    /does not offer TLS.*sslmode=disable/,
  )
  await rejectsWith(
    openPgStore(t, cluster.dsn({ database, sslmode: 'require' })).check(),
    'STORE_UNREACHABLE',
  )
  // prefer and allow settle on a plain connection.
  for (const sslmode of ['prefer', 'allow']) {
    const store = openPgStore(t, cluster.dsn({ database, sslmode }, 'kv'))
    assert.equal((await store.readConnectors()).length, 4, sslmode)
    assert.equal(await store.check(), 'ok')
  }
})

test('a unix-socket DSN reaches the same database', async (t) => {
  const { database } = await createDexDatabase(cluster)
  const store = openPgStore(
    t,
    cluster.dsn({ database, host: cluster.socketDir }, 'kv').replace(' sslmode=disable', ''),
  )
  assert.equal(store.identity, `${cluster.socketDir}:${cluster.port}/${database}`)
  assert.equal((await store.readConnectors()).length, 4)
  const uri = openPgStore(t, cluster.dsn({ database, host: cluster.socketDir }))
  assert.equal(await uri.check(), 'ok')
})

test('close() is idempotent and the store can be used again afterwards', async (t) => {
  const { dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  assert.equal((await store.readConnectors()).length, 4)
  await store.close()
  await store.close()
  assert.equal(await store.check(), 'ok')
  assert.equal(JSON.stringify(store).includes(rolePassword), false)
  assert.equal(inspect(store, { showHidden: true, depth: 5 }).includes(rolePassword), false)
})

test('Dex schema helpers: both generations as Dex migrates them', async () => {
  for (const schema of ['v0.244', 'grant-types'] as const) {
    const database = await cluster.createDatabase()
    const c = await cluster.connect(database)
    try {
      await createDexSchema(c, schema)
      const m = await c.query('select count(*)::int as n, max(num) as top from migrations')
      assert.equal(m.rows[0].n, schema === 'v0.244' ? 11 : 21)
      const cols = await c.query(
        "select column_name, data_type from information_schema.columns where table_name = 'connector' order by ordinal_position",
      )
      assert.deepEqual(
        cols.rows.map(
          (r: { column_name: string; data_type: string }) => `${r.column_name} ${r.data_type}`,
        ),
        [
          'id text',
          'type text',
          'name text',
          'resource_version text',
          'config bytea',
          ...(schema === 'grant-types' ? ['grant_types bytea'] : []),
        ],
      )
      if (schema === 'grant-types') {
        const d = await c.query(
          "select column_default from information_schema.columns where table_name = 'password' and column_name = 'groups'",
        )
        assert.match(d.rows[0].column_default, /convert_to/)
      }
    } finally {
      await c.end()
    }
  }
  assert.equal(goJsonMarshal({ b: '<&>', a: 1 }), '{"a":1,"b":"\\u003c\\u0026\\u003e"}')
})

test('PostgreSQL and SQLite backups share a directory: listed, verified and pruned together', async (t) => {
  const dir = await tempDir(t)
  const backups = join(dir, 'backups')
  const { dsn } = await createDexDatabase(cluster)
  const pgStore = openPgStore(t, dsn)
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath)
  const sqlite = new SqliteStore(dbPath)
  const a = await pgStore.backup({ dir: backups, reason: 'scheduled', version })
  const b = await sqlite.backup({ dir: backups, reason: 'scheduled', version })
  const c = await pgStore.backup({ dir: backups, reason: 'manual', version })
  const listed = listBackups(backups)
  assert.deepEqual(new Set(listed.map((x) => x.id)), new Set([a.id, b.id, c.id]))
  assert.deepEqual(listed.map((x) => x.manifest.engine).sort(), ['postgres', 'postgres', 'sqlite'])
  for (const info of listed)
    assert.deepEqual(await verifyBackupFile(info), { ok: true, problems: [] })
  const pruned = pruneBackups(backups, { keep: 1, maxAgeDays: 0 })
  assert.equal(pruned.kept.length, 1)
  assert.equal(listBackups(backups).length, 1)
  for (const gone of pruned.deleted) {
    await assert.rejects(stat(gone.path))
  }
})

test('a PostgreSQL backup is restored only over the database it was taken of', async (t) => {
  const dir = await tempDir(t)
  const one = await createDexDatabase(cluster)
  const other = await createDexDatabase(cluster)
  const store = openPgStore(t, one.dsn)
  const info = await store.backup({ dir, reason: 'manual', version })
  // The manifest records which cluster and which database it is.
  assert.match(info.manifest.instance ?? '', /^\d+\/\d+$/)
  await assertSameStore(info, store, false)
  // The same database through another DSN form (key=value, same host:port/db) is the same store.
  await assertSameStore(info, openPgStore(t, cluster.dsn({ database: one.database }, 'kv')), false)
  await assert.rejects(
    assertSameStore(info, openPgStore(t, other.dsn), false),
    (err) => isWatchdogError(err, 'RESTORE_REFUSED') && err.message.includes(store.identity),
  )
  await assertSameStore(info, openPgStore(t, other.dsn), true)
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath)
  await assert.rejects(
    assertSameStore(info, new SqliteStore(dbPath), true),
    (err) => isWatchdogError(err, 'RESTORE_REFUSED') && /postgres store/.test(err.message),
  )
})

test('a PostgreSQL database dropped and re-created under the same name is another store: refused without --force (CLI)', async (t) => {
  const dir = await tempDir(t)
  const one = await createDexDatabase(cluster)
  const backups = join(dir, 'backups')
  const env = { PGPASSWORD: rolePassword }
  const dsn = cluster.dsn({ database: one.database, sslmode: 'disable' })
  const created = await runCli(
    ['backups', 'create', '--db', dsn, '--backup-dir', backups, '--json'],
    { env },
  )
  assert.equal(created.code, 0, created.stderr)
  const id = (JSON.parse(created.stdout) as { id: string }).id
  // Dropped and created again, Dex's schema and NetBird's rows as before: the same name, the same
  // connector ids, another database.
  const admin = await cluster.admin()
  try {
    await admin.query(`drop database ${one.database}`)
    await admin.query(`create database ${one.database} owner ${roleName}`)
  } finally {
    await admin.end()
  }
  const c = await cluster.connect(one.database)
  try {
    await createDexSchema(c, 'v0.244')
    await seedDex(c, 'v0.244')
  } finally {
    await c.end()
  }
  const before = await rawConnectors(cluster, one.database)
  const refused = await runCli(['backups', 'restore', id, '--db', dsn, '--backup-dir', backups], {
    env,
  })
  assert.equal(refused.code, 2, refused.stdout + refused.stderr)
  assert.match(
    refused.stderr,
    /another database \(OID \d+, the backup's \d+: dropped and re-created/,
  )
  assert.match(refused.stderr, /--force/)
  assert.deepEqual(await rawConnectors(cluster, one.database), before, 'nothing restored')
  const forced = await runCli(
    ['backups', 'restore', id, '--db', dsn, '--backup-dir', backups, '--force'],
    { env },
  )
  assert.equal(forced.code, 0, forced.stderr)
})
