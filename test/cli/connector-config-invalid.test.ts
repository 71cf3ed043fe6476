// A connector whose stored config is not a JSON object (a botched manual `sqlite3` edit): Dex logs
// `failed to parse connector` and carries on, and so must the watchdog. Real idp.db files, the built CLI,
// real oidc-provider peers on 127.0.0.1. The broken row's secret never shows up in any output.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { createLogger } from '../../src/log.js'
import { backupDb, restoreDb, verifyBackup } from '../helpers/store.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { runCli, type CliRun } from '../helpers/cli.js'
import { canarySecret, createIdpDb, oidcConnectorConfig } from '../helpers/idp-fixture.js'
import { startOidcPeer, type Peer } from '../helpers/oidc-peers.js'
import { startTestSelfHealing } from '../helpers/selfheal.js'
import { defer } from '../helpers/cleanup.js'

const brokenId = 'oidc-broken-d4c9q2ll0fgs73cunqx0'
const goodId = 'd1c9q2ll0fgs73cunqsg'
const brokenSecret = 'CANARY-SECRET-123'
// Truncated mid-edit: the closing brace is gone.
const brokenConfig = `{"issuer":"https://x", "clientSecret":"${brokenSecret}"`

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-badcfg-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function peer(t: TestContext, path: '' | '/'): Promise<Peer> {
  const p = await startOidcPeer({ path })
  defer(t, () => p.close())
  return p
}

/** local, a good OIDC connector stored with `goodIssuer`, and the broken one (a BLOB, as Dex writes). */
function brokenDb(dir: string, goodIssuer: string): string {
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: goodId,
        type: 'oidc',
        name: 'JumpCloud',
        config: oidcConnectorConfig({
          issuer: goodIssuer,
          clientID: 'good-client',
          clientSecret: canarySecret,
        }),
      },
      { id: brokenId, type: 'oidc', name: 'Broken', config: brokenConfig },
    ],
  })
  // createIdpDb binds a Buffer; make sure the row is what the test means.
  assert.ok(Buffer.isBuffer(rawBytes(db, brokenId)))
  return db
}

function rawBytes(db: string, id: string): unknown {
  const h = new Database(db, { readonly: true })
  try {
    return (h.prepare('select config from connector where id = ?').get(id) as { config: unknown })
      .config
  } finally {
    h.close()
  }
}

function assertClean(run: CliRun): void {
  for (const s of [brokenSecret, canarySecret]) {
    assert.ok(!run.stdout.includes(s), `secret in stdout: ${s}`)
    assert.ok(!run.stderr.includes(s), `secret in stderr: ${s}`)
  }
}

test('readConnectors returns the broken row with configError, never the secret', (t) => {
  const db = brokenDb(tmp(t), 'https://oauth.id.jumpcloud.com')
  const rows = readConnectors(db)
  assert.deepEqual(
    rows.map((r) => r.id),
    ['local', goodId, brokenId],
  )
  const broken = rows.find((r) => r.id === brokenId)!
  assert.equal(broken.config, null)
  assert.equal(broken.rawConfig, brokenConfig)
  assert.equal(broken.storage, 'blob')
  assert.equal(broken.configError, `connector "${brokenId}": config is not valid JSON`)
  assert.ok(!broken.configError.includes(brokenSecret))
  assert.equal(connectorIssuer(broken), undefined)
  const good = rows.find((r) => r.id === goodId)!
  assert.equal(good.configError, undefined)
  assert.equal(connectorIssuer(good), 'https://oauth.id.jumpcloud.com')
})

test('backups of a database with a broken connector: create, verify, restore', async (t) => {
  const dir = tmp(t)
  const db = brokenDb(dir, 'https://oauth.id.jumpcloud.com')
  const before = readConnectors(db)
  const backup = await backupDb(db, { reason: 'manual', version: 'test' })
  assert.deepEqual(backup.manifest.connectors, ['local', goodId, brokenId])
  assert.deepEqual(await verifyBackup(backup), { ok: true, problems: [] })
  assert.deepEqual(readConnectors(backup.path), before)
  // Change the database, then restore: the broken row comes back byte for byte.
  const h = new Database(db)
  h.prepare('update connector set name = ? where id = ?').run('Renamed', goodId)
  h.close()
  const r = await restoreDb(backup, { dbPath: db, version: 'test' })
  assert.ok(r.preRestoreBackup !== null)
  assert.deepEqual(readConnectors(db), before)
  assert.deepEqual(rawBytes(db, brokenId), Buffer.from(brokenConfig, 'utf8'))

  // The CLI too.
  const list = await runCli(['backups', 'verify', '--db', db])
  assert.equal(list.code, 0, list.stderr)
  assertClean(list)
})

test('repair: another connector is repaired, the broken row is untouched; the broken one is refused', async (t) => {
  const dir = tmp(t)
  const p = await peer(t, '/') // returns its issuer with a trailing slash
  const db = brokenDb(dir, p.origin)
  const brokenBefore = rawBytes(db, brokenId)

  // --discover without --connector: skips the broken one (says so), repairs the good one, exit 1.
  const run = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(run.code, 1, run.stderr)
  assertClean(run)
  const out = JSON.parse(run.stdout) as {
    changes: { connectorId: string; to: string }[]
    skipped: { connectorId: string; reason: string }[]
    backup: string | null
  }
  assert.deepEqual(
    out.changes.map((c) => [c.connectorId, c.to]),
    [[goodId, p.origin + '/']],
  )
  assert.deepEqual(out.skipped, [
    { connectorId: brokenId, reason: `connector "${brokenId}": config is not valid JSON` },
  ])
  assert.ok(out.backup !== null)
  assert.equal(connectorIssuer(readConnectors(db).find((r) => r.id === goodId)!), p.origin + '/')
  assert.deepEqual(rawBytes(db, brokenId), brokenBefore)

  // The human output names the skipped connector on stderr.
  const human = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
  assert.equal(human.code, 1, human.stderr)
  assert.match(human.stdout, /nothing to repair/)
  assert.ok(human.stderr.includes(`skipped connector ${brokenId}: `), human.stderr)
  assertClean(human)

  // --issuer for the good connector: works, broken row unchanged.
  const set = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    goodId,
    '--issuer',
    'https://oauth.id.jumpcloud.com/',
  ])
  assert.equal(set.code, 0, set.stderr)
  assertClean(set)
  assert.deepEqual(rawBytes(db, brokenId), brokenBefore)

  // Naming the broken connector: exit 2, its id in the message, nothing changed.
  const fileBefore = readFileSync(db)
  for (const args of [
    ['--connector', brokenId, '--issuer', 'https://x/'],
    ['--connector', brokenId, '--discover', '--allow-insecure'],
    ['--connector', brokenId, '--issuer', 'https://x/', '--json'],
  ]) {
    const refused = await runCli(['repair', '--db', db, ...args])
    assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`)
    assert.ok(refused.stderr.includes(brokenId), refused.stderr)
    assert.match(refused.stderr, /not valid JSON/)
    assertClean(refused)
    assert.ok(readFileSync(db).equals(fileBefore), 'idp.db changed')
  }
})

test('doctor: a per-connector connector-config fail, the good connector still checked, exit 1', async (t) => {
  const dir = tmp(t)
  const p = await peer(t, '')
  const db = brokenDb(dir, p.issuer)
  const run = await runCli(['doctor', '--db', db, '--allow-insecure', '--json'])
  assert.equal(run.code, 1, run.stderr)
  assertClean(run)
  const report = JSON.parse(run.stdout) as {
    ok: boolean
    checks: { id: string; status: string; target: string; message: string; remediation?: string }[]
  }
  assert.equal(report.ok, false)
  const bad = report.checks.filter((c) => c.target.includes(brokenId))
  assert.equal(bad.length, 1)
  assert.equal(bad[0]!.id, 'connector-config')
  assert.equal(bad[0]!.status, 'fail')
  assert.equal(bad[0]!.message, `connector "${brokenId}": config is not valid JSON`)
  assert.match(bad[0]!.remediation!, /netbird-watchdog backups restore/)
  assert.match(bad[0]!.remediation!, /re-create the connector/)
  const good = report.checks.filter((c) => c.target.includes(goodId))
  const status = Object.fromEntries(good.map((c) => [c.id, c.status]))
  assert.equal(status['discovery-reachable'], 'pass')
  assert.equal(status['issuer-matches-discovery'], 'pass')

  const human = await runCli(['doctor', '--db', db, '--allow-insecure'])
  assert.equal(human.code, 1, human.stderr)
  assert.ok(human.stdout.includes(`✗ connector-config: connector "${brokenId}"`), human.stdout)
  assertClean(human)
})

test('the daemon drift check skips the broken connector with a warning and checks the others', async (t) => {
  const dir = tmp(t)
  const p = await peer(t, '/')
  const db = brokenDb(dir, p.origin)
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      cb()
    },
  })
  // Nothing here talks to Docker: discover() reads idp.db and asks the providers.
  const heal = startTestSelfHealing(t, {
    dbPath: db,
    dir,
    logger: createLogger({ level: 'info' }, sink),
    config: { mode: 'observe', targets: { names: ['nbw-badcfg-none'], autoDetect: false } },
  })
  const found = await heal.healer.discover()
  assert.deepEqual(
    found.map((v) => [v.connectorId, v.kind, v.kind === 'fix' ? [v.from, v.to] : undefined]),
    [
      [goodId, 'fix', [p.origin, p.origin + '/']],
      [brokenId, 'skipped', undefined],
    ],
  )
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  const skipped = warn.filter((l) => l.connectorId === brokenId)
  assert.equal(skipped.length, 1, lines.join('\n'))
  assert.equal(skipped[0]!.level, 'warn')
  for (const l of lines) {
    assert.ok(!l.includes(brokenSecret) && !l.includes(canarySecret), l)
  }
})
