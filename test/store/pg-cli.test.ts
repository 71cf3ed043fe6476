// The command line against the PostgreSQL IdP store on a real PostgreSQL server (test/helpers/postgres.ts)
// and a real oidc-provider on 127.0.0.1: `doctor`, `repair --discover`, `backups create|list|verify|
// restore|prune`, with the store named by --db (URI and key=value DSNs), by NetBird's config.yaml
// (server.authStore) or management.json (EmbeddedIdP.Storage), or by the watchdog's
// NETBIRD_WATCHDOG_IDP_DSN_FILE — the same flags, --json contracts and exit codes as with idp.db
// (test/engine/repair.test.ts, test/cli/backup.test.ts, test/cli/doctor-cli.test.ts). The test role's canary password
// is in no output, no backup file and no manifest. Spawns dist/cli.js: `npm run build` first.
import assert from 'node:assert/strict'
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { stringify } from 'yaml'
import { listBackups } from '../../src/store/backup-files.js'
import { runCli, type CliRun } from '../helpers/cli.js'
import {
  canarySecret,
  createIdpDb,
  jumpcloudId,
  oidcConnectorConfig,
  type FixtureConnector,
} from '../helpers/idp-fixture.js'
import { closedPort, startOidcPeer, type Peer, startJumpCloudLike } from '../helpers/oidc-peers.js'
import {
  createDexDatabase,
  rawConnectors,
  rolePassword,
  clusterForFile,
  type PgCluster,
} from '../helpers/postgres.js'
import { defer } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile((c) => (cluster = c))

const fixtures = new URL('../fixtures/netbird/', import.meta.url)

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-pg-cli-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  return dir
}

/** NetBird's local connector and a Generic-OIDC JumpCloud connector stored with `issuer`. */
function connectors(issuer: string): FixtureConnector[] {
  return [
    { id: 'local', type: 'local', name: 'Email', config: null },
    {
      id: jumpcloudId,
      type: 'oidc',
      name: 'JumpCloud',
      config: oidcConnectorConfig({
        issuer,
        clientID: '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b',
        clientSecret: canarySecret,
      }),
    },
  ]
}

/** The broken case in a fresh database: the stored issuer lacks the provider's trailing slash. */
async function brokenDatabase(peer: Peer): Promise<{ database: string; dsn: string }> {
  return await createDexDatabase(cluster, { connectors: connectors(peer.origin) })
}

/** No secret in any output: the DSN's password (or its tail), nor a connector's client secret. */
function assertClean(run: CliRun): void {
  for (const s of [rolePassword, '9d2f7b1c', canarySecret]) {
    assert.ok(!run.stdout.includes(s), `secret in stdout: ${s}\n${run.stdout}`)
    assert.ok(!run.stderr.includes(s), `secret in stderr: ${s}\n${run.stderr}`)
  }
}

/** Run the CLI and check that nothing it printed holds a secret. */
async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const run = await runCli(args, { env })
  assertClean(run)
  return run
}

async function issuerIn(database: string): Promise<string | undefined> {
  const rows = await rawConnectors(cluster, database)
  const row = rows.find((r) => r.id === jumpcloudId)
  const config = row?.config
  assert.ok(Buffer.isBuffer(config))
  return (JSON.parse(config.toString('utf8')) as { issuer?: string }).issuer
}

/** Every backup file and manifest in `dir`: the DSN's password is in none of them. */
async function assertBackupsClean(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const text = await readFile(join(dir, name), 'utf8')
    assert.ok(!text.includes(rolePassword) && !text.includes('9d2f7b1c'), `${name} holds it`)
  }
}

function labelOf(database: string): string {
  return `postgres://watchdog@127.0.0.1:${cluster.port}/${database}`
}

/** The combined server's config.yaml with `server.authStore` as given. */
async function configYaml(dir: string, authStore: Record<string, string>): Promise<string> {
  const text = await readFile(new URL('config-v0.65-combined.yaml', fixtures), 'utf8')
  const path = join(dir, 'config.yaml')
  // The DSN as YAML writes a string (quoted as needed): NetBird reads it the same way.
  const block = stringify({ authStore })
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
  await writeFile(path, text.replace('  store:\n', `${block}\n  store:\n`))
  return path
}

// ---- doctor ----

test('doctor --db DSN (URI and key=value): the trailing-slash case, exit 1, the fix, --json', async (t) => {
  const jc = await startJumpCloudLike(t)
  const { database } = await brokenDatabase(jc)
  for (const form of ['uri', 'kv'] as const) {
    const dsn = cluster.dsn({ database }, form)
    const run = await cli(['doctor', '--db', dsn, '--allow-insecure'])
    assert.equal(run.code, 1, run.stderr)
    assert.match(run.stdout, new RegExp(`^netbird-watchdog doctor: IdP store ${labelOf(database)}`))
    assert.match(run.stdout, /✗ issuer-matches-discovery/)
    assert.match(run.stdout, /PROBLEMS FOUND/)

    const json = await cli(['doctor', '--db', dsn, '--allow-insecure', '--json'])
    assert.equal(json.code, 1, json.stderr)
    const out = JSON.parse(json.stdout) as { ok: boolean; checks: Record<string, unknown>[] }
    assert.deepEqual(Object.keys(out), ['ok', 'checks'])
    assert.equal(out.ok, false)
    const issuer = out.checks.find((c) => c.id === 'issuer-matches-discovery')
    assert.equal(issuer?.status, 'fail')
    assert.equal(issuer?.target, `connector ${jumpcloudId} (JumpCloud)`)
    assert.match(String(issuer?.remediation), new RegExp(`--issuer ${jc.origin}/`))
  }
  // A provider that answers with the stored issuer: every check passes, exit 0.
  const fine = await startOidcPeer({ path: '', deviceFlow: false })
  defer(t, () => fine.close())
  const good = await createDexDatabase(cluster, { connectors: connectors(fine.origin) })
  const ok = await cli(['doctor', '--db', good.dsn, '--allow-insecure', '--json'])
  assert.equal(ok.code, 0, ok.stdout)
  assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true)
})

test("doctor finds the store from NetBird's config.yaml, management.json, or the watchdog's DSN file", async (t) => {
  const jc = await startJumpCloudLike(t)
  const { database } = await brokenDatabase(jc)
  const dir = await tempDir(t)
  const failed = (run: CliRun): void => {
    assert.equal(run.code, 1, run.stderr + run.stdout)
    const out = JSON.parse(run.stdout) as { checks: Array<{ id: string; status: string }> }
    const issuer = out.checks.find((c) => c.id === 'issuer-matches-discovery')
    assert.equal(issuer?.status, 'fail', run.stdout)
  }

  // config.yaml: server.authStore.engine postgres + a key=value DSN with the quoted password.
  const yaml = await configYaml(dir, {
    engine: 'postgres',
    dsn: cluster.dsn({ database }, 'kv'),
  })
  failed(await cli(['doctor', '--config-yaml', yaml, '--allow-insecure', '--json']))
  const human = await cli(['doctor', '--config-yaml', yaml, '--allow-insecure'])
  assert.match(
    human.stdout,
    new RegExp(`IdP store ${labelOf(database)} \\(server.authStore.dsn in`),
  )

  // management.json: EmbeddedIdP.Storage.Type postgres + Storage.Config.DSN (a URI).
  const mj = JSON.parse(
    await readFile(new URL('management-v0.64-quickstart.json', fixtures), 'utf8'),
  ) as { EmbeddedIdP: { Storage: unknown } }
  mj.EmbeddedIdP.Storage = { Type: 'postgres', Config: { DSN: cluster.dsn({ database }) } }
  const mjPath = join(dir, 'management.json')
  await writeFile(mjPath, JSON.stringify(mj, null, 2))
  failed(await cli(['doctor', '--management-json', mjPath, '--allow-insecure', '--json']))

  // The watchdog's own secret file (as the sidecar has it), with no flag naming the store.
  const secret = join(dir, 'idp-dsn')
  await writeFile(secret, `${cluster.dsn({ database })}\n`, { mode: 0o600 })
  failed(
    await cli(['doctor', '--allow-insecure', '--json'], {
      NETBIRD_WATCHDOG_IDP_DSN_FILE: secret,
    }),
  )

  // A DSN without its password, the password from PGPASSWORD (node-postgres reads it, as libpq does).
  const bare = `postgresql://watchdog@127.0.0.1:${cluster.port}/${database}?sslmode=disable`
  failed(
    await cli(['doctor', '--db', bare, '--allow-insecure', '--json'], {
      PGPASSWORD: rolePassword,
    }),
  )
})

test('doctor: a malformed DSN, a postgres auth store without one, and a server that is down', async (t) => {
  const dir = await tempDir(t)
  // Malformed: exit 2, the reason, and not one character of the DSN.
  const badPort = await cli([
    'doctor',
    '--db',
    `postgres://watchdog:${encodeURIComponent(rolePassword)}@127.0.0.1:99999/x`,
  ])
  assert.equal(badPort.code, 2)
  assert.match(badPort.stderr, /--db is not a usable PostgreSQL DSN: the port is not a number/)
  const unquoted = await cli([
    'doctor',
    '--db',
    `host=127.0.0.1 dbname=x password='${rolePassword}`,
  ])
  assert.equal(unquoted.code, 2)
  assert.match(unquoted.stderr, /--db is not a usable PostgreSQL DSN/)

  const noDsn = await configYaml(dir, { engine: 'postgres' })
  const missing = await cli(['doctor', '--config-yaml', noDsn])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /server\.authStore\.engine is postgres but server\.authStore\.dsn/)

  const badYaml = await configYaml(dir, {
    engine: 'postgres',
    dsn: `dbname=x password=${rolePassword} port=0`,
  })
  const bad = await cli(['doctor', '--config-yaml', badYaml])
  assert.equal(bad.code, 2)
  assert.match(
    bad.stderr,
    /server\.authStore\.dsn in .*config\.yaml is not a usable PostgreSQL DSN/,
  )

  // Nobody listens there: exit 1 (nothing was checked), the reason, and where the DSN came from.
  const port = Number((await closedPort()).split(':').at(-1))
  const down = cluster.dsn({ database: 'nbw_none', port }, 'kv')
  const byFlag = await cli(['doctor', '--db', down])
  assert.equal(byFlag.code, 1)
  assert.match(byFlag.stderr, /cannot be reached/)
  const yaml = await configYaml(dir, { engine: 'postgres', dsn: down })
  const byYaml = await cli(['doctor', '--config-yaml', yaml])
  assert.equal(byYaml.code, 1)
  assert.match(byYaml.stderr, /the DSN comes from server\.authStore\.dsn in .*config\.yaml/)
})

// ---- repair ----

test('repair --discover on PostgreSQL: --dry-run plan, backup dir required, exactly one value changed', async (t) => {
  const jc = await startJumpCloudLike(t)
  const { database, dsn } = await brokenDatabase(jc)
  const dir = await tempDir(t)
  const backupDir = join(dir, 'backups')
  const before = await rawConnectors(cluster, database)
  const change = { connectorId: jumpcloudId, field: 'issuer', from: jc.origin, to: `${jc.origin}/` }

  const dry = await cli([
    'repair',
    '--db',
    dsn,
    '--discover',
    '--allow-insecure',
    '--dry-run',
    '--json',
  ])
  assert.equal(dry.code, 0, dry.stderr)
  assert.deepEqual(JSON.parse(dry.stdout), {
    db: labelOf(database),
    dryRun: true,
    backup: null,
    changes: [change],
    restarted: null,
  })
  assert.deepEqual(await rawConnectors(cluster, database), before, 'a dry run changes nothing')

  // A real run has nowhere to put its backup next to a database: a usage error, nothing changed.
  const noDir = await cli(['repair', '--db', dsn, '--discover', '--allow-insecure', '--json'])
  assert.equal(noDir.code, 2)
  assert.match(noDir.stderr, /PostgreSQL store.*--backup-dir DIR/)
  assert.deepEqual(await rawConnectors(cluster, database), before)

  const run = await cli([
    'repair',
    '--db',
    dsn,
    '--discover',
    '--allow-insecure',
    '--backup-dir',
    backupDir,
    '--json',
  ])
  assert.equal(run.code, 0, run.stderr)
  const out = JSON.parse(run.stdout) as { db: string; backup: string; changes: unknown[] }
  assert.equal(out.db, labelOf(database))
  assert.deepEqual(out.changes, [change])
  const backups = listBackups(backupDir)
  assert.equal(backups.length, 1)
  assert.equal(backups[0]!.path, out.backup)
  assert.equal(backups[0]!.manifest.engine, 'postgres')
  assert.equal(backups[0]!.manifest.reason, 'pre-repair')
  // Only the issuer's bytes changed, in that one row — and its resource_version, so that a running
  // Dex reopens the connector.
  const now = await rawConnectors(cluster, database)
  const was = before.find((r) => r.id === jumpcloudId)!.config as Buffer
  assert.equal(now.find((r) => r.id === jumpcloudId)!.resource_version, '1')
  assert.deepEqual(
    now.map((r) => (r.id === jumpcloudId ? { ...r, config: was, resource_version: '' } : r)),
    before,
  )
  assert.equal(
    (now.find((r) => r.id === jumpcloudId)!.config as Buffer).toString('utf8'),
    was.toString('utf8').replace(`"issuer":"${jc.origin}"`, `"issuer":"${jc.origin}/"`),
  )
  await assertBackupsClean(backupDir)

  const again = await cli([
    'repair',
    '--db',
    dsn,
    '--discover',
    '--allow-insecure',
    '--backup-dir',
    backupDir,
    '--json',
  ])
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual((JSON.parse(again.stdout) as { changes: unknown[] }).changes, [])
  assert.equal(listBackups(backupDir).length, 1, 'nothing to change: no backup either')
})

test('repair --issuer through config.yaml: human output, verified backup, usage errors', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster, {
    connectors: connectors('https://oauth.id.jumpcloud.com'),
  })
  const dir = await tempDir(t)
  const yaml = await configYaml(dir, { engine: 'postgres', dsn })
  const backupDir = join(dir, 'backups')
  const to = 'https://oauth.id.jumpcloud.com/'
  const run = await cli([
    'repair',
    '--config-yaml',
    yaml,
    '--connector',
    jumpcloudId,
    '--issuer',
    to,
    '--backup-dir',
    backupDir,
  ])
  assert.equal(run.code, 0, run.stderr)
  assert.match(
    run.stdout,
    new RegExp(
      `^${labelOf(database)}: changed:\\n  connector ${jumpcloudId}: issuer "https://oauth.id.jumpcloud.com" → "${to}"`,
    ),
  )
  assert.match(run.stdout, /verified backup: .*pre-repair\.pgjson/)
  assert.equal(await issuerIn(database), to)
  const verify = await cli(['backups', 'verify', '--backup-dir', backupDir, '--json'])
  assert.equal(verify.code, 0)
  assert.equal((JSON.parse(verify.stdout) as Array<{ ok: boolean }>)[0]!.ok, true)

  const cases: Array<[string[], RegExp]> = [
    [['repair', '--discover'], /--db PATH\|DSN/],
    [
      ['repair', '--db', dsn, '--connector', 'nope', '--issuer', to, '--dry-run'],
      /no connector "nope"/,
    ],
    [['repair', '--db', `${dsn}&sslmode=sometimes`, '--discover'], /sslmode is not one of/],
  ]
  for (const [args, why] of cases) {
    const r = await cli(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, why)
  }
  // config.yaml naming SQLite at a path that is not here: no store to work on, say so.
  const sqliteYaml = await configYaml(dir, { engine: 'sqlite', file: '/nonexistent/idp.db' })
  const none = await cli(['repair', '--config-yaml', sqliteYaml, '--discover'])
  assert.equal(none.code, 2)
  assert.match(none.stderr, /no PostgreSQL store and no idp\.db that exists here/)
})

// ---- backups ----

test('backups create/list/verify/restore/prune on PostgreSQL: exit codes and --json', async (t) => {
  const { database, dsn } = await createDexDatabase(cluster, {
    connectors: connectors('https://oauth.id.jumpcloud.com'),
  })
  const dir = await tempDir(t)
  const backupDir = join(dir, 'backups')
  const loc = ['--db', dsn, '--backup-dir', backupDir]

  const created = await cli(['backups', 'create', ...loc, '--json'])
  assert.equal(created.code, 0, created.stderr)
  const info = JSON.parse(created.stdout) as Record<string, unknown>
  assert.match(String(info.id), /-manual$/)
  assert.equal(info.engine, 'postgres')
  assert.equal(info.source, `127.0.0.1:${cluster.port}/${database}`)
  assert.match(String(info.path), /\.pgjson$/)

  // list, verify and prune need only the directory.
  const list = await cli(['backups', 'list', '--backup-dir', backupDir, '--json'])
  assert.equal(list.code, 0)
  assert.deepEqual(
    (JSON.parse(list.stdout) as Array<{ id: string }>).map((b) => b.id),
    [info.id],
  )
  const ok = await cli(['backups', 'verify', ...loc])
  assert.equal(ok.code, 0)
  assert.match(ok.stdout, new RegExp(`ok\\s+${String(info.id)}`))

  // Dex changes a row; restore puts it back, after a backup of the state it replaces.
  const c = await cluster.connect(database)
  try {
    await c.query('update connector set name = $1 where id = $2', ['changed', jumpcloudId])
  } finally {
    await c.end()
  }
  const restored = await cli(['backups', 'restore', String(info.id), ...loc, '--json'])
  assert.equal(restored.code, 0, restored.stderr)
  const r = JSON.parse(restored.stdout) as Record<string, unknown>
  assert.deepEqual(Object.keys(r), ['db', 'restored', 'preRestoreBackup'])
  assert.equal(r.db, labelOf(database))
  assert.equal(r.restored, info.id)
  const rows = await rawConnectors(cluster, database)
  assert.equal(rows.find((x) => x.id === jumpcloudId)!.name, 'JumpCloud')
  const pre = listBackups(backupDir).find((b) => b.path === r.preRestoreBackup)!
  assert.equal(pre.manifest.reason, 'pre-restore')
  const human = await cli(['backups', 'restore', String(info.id), ...loc])
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, new RegExp(`^restored ${labelOf(database)} from ${String(info.id)}`))

  const newest = listBackups(backupDir)[0]!.id
  assert.notEqual(newest, pre.id)
  const pruned = await cli([
    'backups',
    'prune',
    '--backup-dir',
    backupDir,
    '--keep',
    '1',
    '--max-age-days',
    '0',
    '--json',
  ])
  assert.equal(pruned.code, 0, pruned.stderr)
  const p = JSON.parse(pruned.stdout) as {
    kept: string[]
    deleted: string[]
    heldAsLastKept: string
  }
  // The newest (the second restore's pre-restore copy) stays, and so does the manual backup: it is
  // the last kept one, held past --keep. The first pre-restore copy goes.
  assert.deepEqual(p.kept, [newest, info.id])
  assert.equal(p.heldAsLastKept, info.id)
  assert.deepEqual(p.deleted, [pre.id])
  await assertBackupsClean(backupDir)

  await appendFile(listBackups(backupDir)[0]!.path, 'x')
  const bad = await cli(['backups', 'verify', '--backup-dir', backupDir])
  assert.equal(bad.code, 1)
  assert.match(bad.stdout, /FAILED/)
})

test('backups on PostgreSQL: usage errors, and restores refused across databases and engines', async (t) => {
  const one = await createDexDatabase(cluster)
  const other = await createDexDatabase(cluster)
  const dir = await tempDir(t)
  const backupDir = join(dir, 'backups')
  const noDir = await cli(['backups', 'list', '--db', one.dsn])
  assert.equal(noDir.code, 2)
  assert.match(noDir.stderr, /PostgreSQL store.*--backup-dir DIR/)
  const noStore = await cli(['backups', 'create', '--backup-dir', backupDir])
  assert.equal(noStore.code, 2)
  assert.match(noStore.stderr, /backups create needs --db PATH\|DSN/)

  const created = await cli([
    'backups',
    'create',
    '--db',
    one.dsn,
    '--backup-dir',
    backupDir,
    '--json',
  ])
  assert.equal(created.code, 0, created.stderr)
  const id = (JSON.parse(created.stdout) as { id: string }).id
  const before = await rawConnectors(cluster, other.database)
  const elsewhere = await cli([
    'backups',
    'restore',
    id,
    '--db',
    other.dsn,
    '--backup-dir',
    backupDir,
  ])
  assert.equal(elsewhere.code, 2)
  assert.match(elsewhere.stderr, /was taken of 127\.0\.0\.1:\d+\/nbw_\d+, not of/)
  assert.deepEqual(await rawConnectors(cluster, other.database), before)

  // A PostgreSQL backup is never restored into idp.db, nor an idp.db backup into PostgreSQL.
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const intoSqlite = await cli([
    'backups',
    'restore',
    id,
    '--db',
    db,
    '--backup-dir',
    backupDir,
    '--force',
  ])
  assert.equal(intoSqlite.code, 2)
  assert.match(intoSqlite.stderr, /is of a postgres store/)
  const sqliteBackup = await cli([
    'backups',
    'create',
    '--db',
    db,
    '--backup-dir',
    backupDir,
    '--json',
  ])
  assert.equal(sqliteBackup.code, 0, sqliteBackup.stderr)
  const sqliteId = (JSON.parse(sqliteBackup.stdout) as { id: string }).id
  const intoPg = await cli([
    'backups',
    'restore',
    sqliteId,
    '--db',
    one.dsn,
    '--backup-dir',
    backupDir,
    '--force',
  ])
  assert.equal(intoPg.code, 2)
  assert.match(intoPg.stderr, /is of a sqlite store/)
  // Both engines' backups share the directory: listed and verified together.
  const verify = await cli(['backups', 'verify', '--backup-dir', backupDir, '--json'])
  assert.equal(verify.code, 0)
  assert.equal((JSON.parse(verify.stdout) as unknown[]).length, 2)
})
