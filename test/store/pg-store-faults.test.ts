// The PostgreSQL IdP store when the server fails under it (a real server, test/helpers/postgres.ts):
// killed during a transaction (the value afterwards is the old one or the new one, never anything
// else), its connection terminated before the commit, down between operations and back, a port with
// nothing behind it, a server that accepts and never answers. Every failure is a typed error with no
// secret in it, and no process crashes on an unheard connection error.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { isWatchdogError } from '../../src/errors.js'
import { editIssuers } from '../../src/store/issuer-edits.js'
import {
  defaultConnectors,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
} from '../helpers/idp-fixture.js'
import {
  createDexDatabase,
  rawConnectors,
  clusterForFile,
  openPgStore,
  rejectsWith,
  assertNoDsnPassword,
  type PgCluster,
} from '../helpers/postgres.js'
import { pgCommitMessage, TcpRelay } from '../helpers/tcp-relay.js'
import { waitFor } from '../helpers/wait.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))

const version = '0.0.0-test'

async function tempDir(t: CleanupScope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-pgf-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

const jumpcloudConfig = defaultConnectors().find((c) => c.id === jumpcloudId)!.config!
const repairedConfig = jumpcloudConfig.replace(
  `"issuer":"${jumpcloudIssuerStored}"`,
  `"issuer":"${jumpcloudIssuerDiscovered}"`,
)
const repair = [
  { connectorId: jumpcloudId, to: jumpcloudIssuerDiscovered, expectFrom: jumpcloudIssuerStored },
]

/** The JumpCloud config as stored, and every other row, read after the server is back. */
async function stateOf(database: string): Promise<{ config: string; others: unknown[] }> {
  const rows = await rawConnectors(cluster, database)
  const jc = rows.find((r) => r.id === jumpcloudId)!
  assert.ok(Buffer.isBuffer(jc.config))
  return { config: jc.config.toString('utf8'), others: rows.filter((r) => r.id !== jumpcloudId) }
}

test('server killed after the write, before the commit: typed error, the old value after restart', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  const before = await stateOf(database)
  await rejectsWith(
    store.transaction(async (tx) => {
      const row = (await tx.readConnectors()).find((r) => r.id === jumpcloudId)!
      await tx.writeConfig(row, repairedConfig, '1')
      await cluster.stop('immediate')
    }),
    'STORE_UNREACHABLE',
    /nothing was changed|applied whole or not at all/,
  )
  // Down: every operation is a clean STORE_UNREACHABLE, the process carries on.
  await rejectsWith(store.readConnectors(), 'STORE_UNREACHABLE')
  await rejectsWith(store.check(), 'STORE_UNREACHABLE')
  await cluster.start()
  assert.deepEqual(await stateOf(database), before)
  // The same store works again once the server is back.
  assert.equal(await store.check(), 'ok')
})

test('server killed right after the commit: the new value survives the crash', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn)
  const before = await stateOf(database)
  const result = await editIssuers(store, repair, {
    backup: { dir, reason: 'pre-repair', version },
  })
  assert.equal(result.changes.length, 1)
  await cluster.stop('immediate')
  await cluster.start()
  const now = await stateOf(database)
  assert.equal(now.config, repairedConfig)
  assert.deepEqual(now.others, before.others)
})

/** A relay in front of the cluster, and a DSN through it. */
async function relayed(
  t: CleanupScope,
  database: string,
): Promise<{ relay: TcpRelay; dsn: string }> {
  const relay = new TcpRelay(cluster.port)
  await relay.listen()
  defer(t, () => relay.close())
  return { relay, dsn: cluster.dsn({ database, port: relay.port }) }
}

test("the commit's answer lost, the server out of reach for a while: found committed by reading back, reported as done", async (t) => {
  const { database } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const { relay, dsn } = await relayed(t, database)
  const store = openPgStore(t, dsn)
  const before = await stateOf(database)
  const cut = relay.cutAfter(pgCommitMessage)
  const editing = editIssuers(store, repair, {
    backup: { dir, reason: 'pre-repair', version },
    settleMs: 60_000,
  })
  await cut
  // Out of reach until the watchdog has asked three times (txid_status, then the read-backs).
  await waitFor('three refused connections', () => relay.refused >= 3, 30_000, 20)
  relay.restore()
  const result = await editing
  assert.deepEqual(
    result.changes.map((c) => [c.connectorId, c.to]),
    [[jumpcloudId, jumpcloudIssuerDiscovered]],
  )
  assert.ok(result.backup !== null)
  const now = await stateOf(database)
  assert.equal(now.config, repairedConfig)
  assert.deepEqual(now.others, before.others)
})

test("the commit's answer lost and the server never back in time: the outcome is reported unknown, never 'nothing was changed'", async (t) => {
  const { database } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const { relay, dsn } = await relayed(t, database)
  const store = openPgStore(t, dsn)
  const cut = relay.cutAfter(pgCommitMessage)
  const editing = editIssuers(store, repair, {
    backup: { dir, reason: 'pre-repair', version },
    settleMs: 500,
  }).then(
    () => assert.fail('an unknown outcome was reported as a success'),
    (err: unknown) => err,
  )
  await cut
  const err = await editing
  assert.ok(isWatchdogError(err, 'STORE_UNREACHABLE'), inspect(err))
  assert.equal(err.change, 'unknown')
  assert.doesNotMatch(err.message, /nothing (was )?changed|rolled back/)
  assert.match(err.message, /whole or not at all/)
  assertNoDsnPassword(err)
  // What really happened: the server committed it.
  relay.restore()
  assert.equal((await stateOf(database)).config, repairedConfig)
})

test('connection terminated during the transaction: not committed, nothing changed', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster)
  const store = openPgStore(t, dsn)
  const before = await stateOf(database)
  const admin = await cluster.admin(database)
  defer(t, () => admin.end())
  await rejectsWith(
    store.transaction(async (tx) => {
      const row = (await tx.readConnectors()).find((r) => r.id === jumpcloudId)!
      await tx.writeConfig(row, repairedConfig, '1')
      const killed = await admin.query(
        "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'netbird-watchdog' and datname = $1 and state = 'idle in transaction'",
        [database],
      )
      assert.deepEqual(
        killed.rows.map((r: { ok: boolean }) => r.ok),
        [true],
      )
    }),
    'STORE_UNREACHABLE',
    /nothing was changed/,
  )
  assert.deepEqual(await stateOf(database), before)
  assert.equal((await store.readConnectors()).length, 4)
})

test('server killed at an arbitrary point of a repair: the value is the old one or the new one', async (t) => {
  for (let round = 0; round < 3; round++) {
    const { database, dsn } = await createDexDatabase(cluster)
    const dir = await tempDir(t)
    const store = openPgStore(t, dsn)
    const before = await stateOf(database)
    const repairing = editIssuers(store, repair, {
      backup: { dir, reason: 'pre-repair', version },
    }).then(
      () => undefined,
      (err: unknown) => err,
    )
    // Strike once the pre-repair backup exists (inside the transaction, before or around the commit:
    // polled at two paces), or, in the last round, at once (racing the repair's first statements).
    const deadline = Date.now() + 60_000
    const manifestSeen = (): boolean =>
      existsSync(dir) && readdirSync(dir).some((n) => n.endsWith('.json'))
    if (round < 2) {
      while (!manifestSeen()) {
        if (Date.now() > deadline) throw new Error('no backup appeared')
        await new Promise((r) => setTimeout(r, round === 0 ? 1 : 5))
      }
    }
    await cluster.stop('immediate')
    const outcome = await repairing
    if (outcome !== undefined) {
      assert.ok(isWatchdogError(outcome), `untyped failure: ${inspect(outcome)}`)
      assertNoDsnPassword(outcome)
    }
    await cluster.start()
    const now = await stateOf(database)
    assert.ok(
      now.config === jumpcloudConfig || now.config === repairedConfig,
      `round ${round}: the config is neither the old nor the new value`,
    )
    assert.deepEqual(now.others, before.others)
    await store.close()
  }
})

test('server stopped between operations and started again: typed errors meanwhile, no crash', async (t) => {
  const { dsn } = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const store = openPgStore(t, dsn)
  assert.equal(await store.check(), 'ok') // an idle pooled connection the stop then breaks
  await cluster.stop('fast')
  await rejectsWith(store.check(), 'STORE_UNREACHABLE', /cannot be reached/)
  await rejectsWith(store.readConnectors(), 'STORE_UNREACHABLE')
  await rejectsWith(
    store.transaction(() => Promise.resolve()),
    'STORE_UNREACHABLE',
  )
  await rejectsWith(store.backup({ dir, reason: 'scheduled', version }), 'STORE_UNREACHABLE')
  await cluster.start()
  assert.equal(await store.check(), 'ok')
  const info = await store.backup({ dir, reason: 'scheduled', version })
  assert.deepEqual(await store.verifyBackup(info), { ok: true, problems: [] })
})

test('nothing listening on the port: STORE_UNREACHABLE, and no backup directory made', async (t) => {
  const { database } = await createDexDatabase(cluster)
  const closed = await new Promise<number>((resolve) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0))
    })
  })
  const dir = join(await tempDir(t), 'backups')
  for (const form of ['uri', 'kv'] as const) {
    const store = openPgStore(t, cluster.dsn({ database, port: closed }, form))
    await rejectsWith(store.readConnectors(), 'STORE_UNREACHABLE', /ECONNREFUSED/)
    await rejectsWith(store.check(), 'STORE_UNREACHABLE')
    await rejectsWith(
      store.transaction(() => Promise.resolve()),
      'STORE_UNREACHABLE',
    )
    await rejectsWith(store.backup({ dir, reason: 'manual', version }), 'STORE_UNREACHABLE')
    await rejectsWith(
      editIssuers(store, repair, { backup: { dir, reason: 'pre-repair', version } }),
      'STORE_UNREACHABLE',
    )
  }
  assert.equal(existsSync(dir), false)
  const noSocket = openPgStore(
    t,
    cluster.dsn({ database, host: join(cluster.socketDir, 'missing'), port: cluster.port }, 'kv'),
  )
  await rejectsWith(noSocket.readConnectors(), 'STORE_UNREACHABLE', /ENOENT/)
})

test('a server that accepts and never answers: STORE_UNREACHABLE after the connect timeout', async (t) => {
  const sockets = new Set<Socket>()
  const silent = createServer((s) => {
    sockets.add(s)
    s.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  defer(
    t,
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        silent.close(() => resolve())
      }),
  )
  const addr = silent.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const store = openPgStore(t, cluster.dsn({ database: 'idp', port }), { connectTimeoutMs: 300 })
  await rejectsWith(store.readConnectors(), 'STORE_UNREACHABLE', /no connection within 300 ms/)
  await rejectsWith(
    store.transaction(() => Promise.resolve()),
    'STORE_UNREACHABLE',
  )
  assert.ok(sockets.size >= 1, 'the store never connected')
})
