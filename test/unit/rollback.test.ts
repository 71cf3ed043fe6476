// Rolling a repair back (src/heal/rollback.ts) decides between putting values back and restoring the
// whole pre-repair file on the store's check. Only a store that is damaged gets the whole file back; a
// store that merely cannot answer right now (locked, unreachable, an I/O error) is no evidence of damage,
// and a whole restore there would throw away every row Dex wrote since the repair.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { connectorIssuer } from '../../src/core/connectors.js'
import { isWatchdogError } from '../../src/errors.js'
import { rollbackRepair } from '../../src/heal/rollback.js'
import type { IdpStore } from '../../src/store/port.js'
import { mapSqliteError, readConnectors } from '../../src/store/sqlite/idp-db.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import {
  holdLock,
  jumpcloudId,
  jumpcloudIssuerDiscovered,
  jumpcloudIssuerStored,
  tempIdpDb,
} from '../helpers/idp-fixture.js'
import { repairDb } from '../helpers/store.js'
import { defer } from '../helpers/cleanup.js'

/** Dex writing after the repair: a client registered through the dashboard. */
function dexWritesAClient(db: string): void {
  const w = new Database(db)
  try {
    w.prepare(
      "insert into client (id, secret, redirect_uris, trusted_peers, public, name, logo_url) values ('written-since', '', ?, ?, 1, 'since', '')",
    ).run(Buffer.from('null'), Buffer.from('null'))
  } finally {
    w.close()
  }
}

function clientIds(db: string): string[] {
  const r = new Database(db, { readonly: true })
  try {
    return (r.prepare('select id from client order by id').all() as { id: string }[]).map(
      (c) => c.id,
    )
  } finally {
    r.close()
  }
}

async function issuerOf(db: string, id: string): Promise<string | undefined> {
  const row = (await new SqliteStore(db).readConnectors()).find((r) => r.id === id)
  assert.ok(row !== undefined, `connector ${id} is gone`)
  return connectorIssuer(row)
}

test('a rollback whose store check gets no answer (locked) restores nothing whole: rows Dex wrote since stay', async (t) => {
  const { dir, db } = await tempIdpDb(t)
  const backupDir = join(dir, 'backups')
  const repair = await repairDb({
    dbPath: db,
    changes: [{ connectorId: jumpcloudId, to: jumpcloudIssuerDiscovered }],
    dryRun: false,
    version: 'test',
    backupDir,
  })
  assert.equal(repair.changes.length, 1)
  dexWritesAClient(db)
  assert.ok(clientIds(db).includes('written-since'))

  // Another process holds an exclusive lock while the rollback checks the store, and lets go as soon
  // as the check has given up — so everything after the check would find the database free. The store
  // is the real SQLite adapter; only the moment the lock ends is tied to its check.
  const lock = await holdLock(db, 'exclusive')
  defer(t, () => lock.release())
  const real = new SqliteStore(db, { busyTimeoutMs: 100 })
  const store: IdpStore = {
    engine: real.engine,
    label: real.label,
    identity: real.identity,
    identify: () => real.identify(),
    readConnectors: () => real.readConnectors(),
    check: async () => {
      try {
        return await real.check()
      } finally {
        await lock.release()
      }
    },
    backup: (r) => real.backup(r),
    verifyBackup: (i) => real.verifyBackup(i),
    restore: (i, r) => real.restore(i, r),
    transaction: (fn) => real.transaction(fn),
    close: () => real.close(),
  }

  await assert.rejects(rollbackRepair(store, repair, { backupDir, version: 'test' }), (err) =>
    isWatchdogError(err, 'DB_LOCKED'),
  )
  assert.ok(clientIds(db).includes('written-since'), 'a row Dex wrote after the repair was lost')
  assert.equal(await issuerOf(db, jumpcloudId), jumpcloudIssuerDiscovered, 'nothing was undone yet')

  // Asked again with the store free, the rollback puts back the one value and keeps Dex's row.
  const again = await rollbackRepair(real, repair, { backupDir, version: 'test' })
  assert.equal(again.how, 'values')
  assert.equal(await issuerOf(db, jumpcloudId), jumpcloudIssuerStored)
  assert.ok(clientIds(db).includes('written-since'))
  // The issuer goes back with yet another resource_version (the repair wrote "1"): a running Dex that
  // opened the repaired connector reopens it again; the pre-repair backup keeps the original "".
  const versions = await real.readConnectors()
  assert.equal(versions.find((r) => r.id === jumpcloudId)!.resourceVersion, '2')
  const original = readConnectors(repair.backup!.path).find((r) => r.id === jumpcloudId)!
  assert.equal(original.resourceVersion, '')
})

test('SQLite errors that say nothing about the file are never DB_CORRUPT', () => {
  const err = (message: string, code: string): Error => new Database.SqliteError(message, code)
  const path = '/data/idp.db'
  const cases: [Error, 'read' | 'write', string][] = [
    [err('disk I/O error', 'SQLITE_IOERR_READ'), 'read', 'DB_UNREADABLE'],
    [err('disk I/O error', 'SQLITE_IOERR_SHORT_READ'), 'read', 'DB_UNREADABLE'],
    [err('disk I/O error', 'SQLITE_IOERR_WRITE'), 'write', 'DB_READ_ONLY'],
    [err('database or disk is full', 'SQLITE_FULL'), 'read', 'DB_UNREADABLE'],
    [err('database or disk is full', 'SQLITE_FULL'), 'write', 'REPAIR_FAILED'],
    [err('out of memory', 'SQLITE_NOMEM'), 'read', 'DB_UNREADABLE'],
    [err('database disk image is malformed', 'SQLITE_CORRUPT'), 'read', 'DB_CORRUPT'],
    [err('file is not a database', 'SQLITE_NOTADB'), 'read', 'DB_NOT_SQLITE'],
  ]
  for (const [e, intent, code] of cases) {
    const mapped = mapSqliteError(e, path, intent)
    assert.equal(mapped.code, code, `${(e as { code?: string }).code ?? ''} (${intent})`)
    assert.equal(mapped.cause, e)
  }
})
