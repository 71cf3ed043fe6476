// The headline test: `netbird-watchdog run` (node dist/cli.js, as an operator starts it) heals a
// simulated NetBird management container on the real Docker engine. The container really crash-loops
// under `--restart unless-stopped` because its idp.db connector says `http://127.0.0.1:P` while the real
// oidc-provider's discovery returns `http://127.0.0.1:P/` (the JumpCloud trailing-slash case). Asserted on
// what an operator sees: the container, idp.db, the backups, the scraped /metrics, the JSON logs.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  readFileSync,
  chownSync,
  copyFileSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { stringify } from 'yaml'
import { listBackups } from '../../src/store/backup-files.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { cliPath } from '../helpers/cli.js'
import {
  docker,
  firstDieEventMs,
  inspectState,
  nodeImage,
  requireDocker,
  testLabel,
  waitFor,
} from '../helpers/docker.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import { removeTestContainers, runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { projectImage } from '../helpers/image.js'
import { printRecordsIfFailed, recordCollector, type LogRecord } from '../helpers/watchdog.js'
import { freePort } from '../helpers/net.js'
import { defer } from '../helpers/cleanup.js'

const jc = 'd1c9q2ll0fgs73cunqsg'
const okta = 'okta-d1c9q4dl0fgs73cunqt0'

before(async () => {
  await requireDocker([nodeImage])
})

function fileSha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Every row of every table, in a stable order: the logical content of a SQLite file. */
function contentSha(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const hash = createHash('sha256')
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .pluck()
      .all() as string[]
    for (const table of tables) {
      hash.update(`table ${table}\n`)
      for (const row of db.prepare(`select * from "${table}" order by rowid`).raw().all()) {
        hash.update(
          JSON.stringify(row, (_k, v: unknown) =>
            Buffer.isBuffer(v) ? `blob:${v.toString('hex')}` : v,
          ) + '\n',
        )
      }
    }
    return hash.digest('hex')
  } finally {
    db.close()
  }
}

function issuerOf(dbPath: string, id = jc): string | undefined {
  const row = readConnectors(dbPath).find((r) => r.id === id)
  return row && connectorIssuer(row)
}

interface Scenario {
  dir: string
  dbPath: string
  backupDir: string
  pristine: string
  container: string
  url: string
  records: LogRecord[]
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>
  /** SIGTERM the watchdog; resolves with its exit code. */
  stop(): Promise<number | null>
}

async function scenario(
  t: TestContext,
  opts: {
    variant: 'fatal' | 'erro'
    mode?: 'repair' | 'dry-run' | 'observe'
    storedIssuer: string
    extra?: Array<{ id: string; issuer: string }>
    /** The confirm window (default 3 s). */
    confirmSeconds?: number
    resetToken?: string
    webhookUrl?: string
    /** Run the watchdog as a container of this image (host network, the engine socket mounted). */
    image?: string
  },
): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-e2e-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: oidcConnectors([{ id: jc, issuer: opts.storedIssuer }, ...(opts.extra ?? [])]),
  })
  const pristine = join(dir, 'pristine.db')
  copyFileSync(dbPath, pristine) // nobody has opened it yet: a plain copy is exact
  const container = `nbw-e2e-${opts.variant}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  defer(t, () => removeTestContainers([container]))
  const port = await freePort()
  const backupDir = join(dir, 'backups')
  const configPath = join(dir, 'watchdog.yml')
  writeFileSync(
    configPath,
    stringify({
      mode: opts.mode ?? 'repair',
      targets: { names: [container], autoDetect: false },
      idp: { dbPath },
      oidc: { allowInsecure: true, timeoutMs: 3000 },
      repair: {
        confirmSeconds: opts.confirmSeconds ?? 3,
        restartBackoffSeconds: 0,
        stopTimeoutSeconds: 2,
      },
      backups: { dir: backupDir },
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: `127.0.0.1:${port}` },
      log: { level: 'debug' },
    }),
  )
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('NETBIRD_WATCHDOG_')),
  )
  if (opts.resetToken !== undefined) env.NETBIRD_WATCHDOG_RESET_TOKEN = opts.resetToken
  if (opts.webhookUrl !== undefined) env.NETBIRD_WATCHDOG_WEBHOOK_URL = opts.webhookUrl
  const records: LogRecord[] = []
  const collect = recordCollector(records)
  printRecordsIfFailed(t, records)
  let stop: () => Promise<number | null>
  if (opts.image === undefined) {
    const child = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr.on('data', collect)
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    let stopped: Promise<number | null> | undefined
    stop = () => (stopped ??= (child.kill('SIGTERM'), exited))
  } else {
    // The image runs as 1000:1000: give it the data directory, as the shipped init step does.
    for (const f of ['', 'idp.db', 'pristine.db', 'watchdog.yml'])
      chownSync(join(dir, f), 1000, 1000)
    const name = `${container}-watchdog`
    defer(t, () => removeTestContainers([name]))
    await docker([
      'run',
      '-d',
      '--name',
      name,
      '--label',
      testLabel,
      '--network',
      'host',
      '--group-add',
      String(statSync('/var/run/docker.sock').gid),
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      '-v',
      `${dir}:${dir}`,
      ...(opts.webhookUrl !== undefined
        ? ['-e', `NETBIRD_WATCHDOG_WEBHOOK_URL=${opts.webhookUrl}`]
        : []),
      ...(opts.resetToken !== undefined
        ? ['-e', `NETBIRD_WATCHDOG_RESET_TOKEN=${opts.resetToken}`]
        : []),
      opts.image,
      'run',
      '--config',
      configPath,
    ])
    const follower = spawn('docker', ['logs', '-f', name], { stdio: ['ignore', 'pipe', 'pipe'] })
    follower.stdout.on('data', collect)
    follower.stderr.on('data', collect)
    defer(t, () => follower.kill())
    let stopped: Promise<number | null> | undefined
    stop = () =>
      (stopped ??= (async () => {
        await docker(['stop', '-t', '20', name])
        return Number((await docker(['inspect', '-f', '{{.State.ExitCode}}', name])).trim())
      })())
  }
  defer(t, () => stop().catch(() => null))
  const url = `http://127.0.0.1:${port}`
  await waitFor('the watchdog /metrics', async () => (await fetch(`${url}/metrics`)).ok, 30_000)
  await runFakeNetbird({ name: container, store: { dataDir: dir }, variant: opts.variant })
  return {
    dir,
    dbPath,
    backupDir,
    pristine,
    container,
    url,
    records,
    stop,
    metric: async (name, labels = {}) =>
      valueOf(parseMetrics(await (await fetch(`${url}/metrics`)).text()), name, labels),
  }
}

test('crash loop → detect, back up, repair, restart, stays up (the JumpCloud trailing slash)', (t) =>
  headline(t))

async function headline(t: TestContext, image?: string): Promise<void> {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  // The optional webhook, received by a real HTTP server on 127.0.0.1.
  const hooks: Array<{ event: string; container: string; text: string }> = []
  const receiver = createHttpServer((req, res) => {
    let body = ''
    req.on('data', (b: Buffer) => (body += b.toString('utf8')))
    req.on('end', () => {
      hooks.push(JSON.parse(body) as { event: string; container: string; text: string })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  defer(t, () => new Promise<void>((resolve) => receiver.close(() => resolve())))
  const hookPort = (receiver.address() as AddressInfo).port
  const began = Date.now()
  const s = await scenario(t, {
    variant: 'fatal',
    storedIssuer: peer.origin,
    webhookUrl: `http://127.0.0.1:${hookPort}/hook`,
    ...(image !== undefined ? { image } : {}),
  })
  const labels = { container: s.container, result: 'success' }
  await waitFor(
    'repairs_total{result="success"} 1',
    async () => (await s.metric('netbird_watchdog_repairs_total', labels)) === 1,
    120_000,
  )

  const crashedAt = await firstDieEventMs(s.container, began)
  assert.ok(crashedAt !== undefined, 'a die event')
  // Its log line may reach the pipe after the metric changed (the log is written asynchronously).
  const recovered = await waitFor('a "recovered" log line', () =>
    s.records.find((r) => r.msg.startsWith('recovered:')),
  )
  const recoveredAt = Date.parse(String(recovered.time))
  // A measurement for the report, not an assertion.
  console.log(
    `measured${image !== undefined ? ' (watchdog as a container)' : ''}: first crash → recovered (confirm window 3 s included) ${((recoveredAt - crashedAt) / 1000).toFixed(2)} s`,
  )

  // What the watchdog saw, and what it did, in order.
  const msgs = s.records.map((r) => r.msg)
  const order = [
    'issuer mismatch seen in the logs',
    'repairing: verified backup, then the exact issuer fix',
    'IdP store repaired and verified; restarting the container',
  ].map((m) => msgs.indexOf(m))
  assert.ok(
    order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
    `log order: ${order.join(',')}`,
  )

  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`)
  const state = await inspectState(s.container)
  assert.equal(state.Status, 'running')
  const backups = listBackups(s.backupDir)
  assert.equal(backups.length, 1)
  assert.equal(backups[0]!.manifest.reason, 'pre-repair')
  assert.equal(
    contentSha(backups[0]!.path),
    contentSha(s.pristine),
    'the backup equals the original DB',
  )
  assert.deepEqual(readConnectors(backups[0]!.path), readConnectors(s.pristine))
  assert.equal(await s.metric('netbird_watchdog_repairs_total', labels), 1)
  assert.equal(await s.metric('netbird_watchdog_backups_total'), 1)
  assert.equal(await s.metric('netbird_watchdog_breaker_open', { container: s.container }), 0)
  assert.ok(
    ((await s.metric('netbird_watchdog_last_repair_timestamp_seconds')) ?? 0) > began / 1000,
  )
  assert.equal(await s.metric('netbird_watchdog_mode', { mode: 'repair' }), 1)
  assert.equal(await s.stop(), 0)
  assert.ok(!JSON.stringify(s.records).includes('"secret"'), 'no client secret in the logs')
  await waitFor('the repair webhook', () => hooks.some((h) => h.event === 'repair'))
  assert.deepEqual(
    hooks.map((h) => [h.event, h.container]),
    [
      ['detection', s.container],
      ['repair', s.container],
    ],
  )
  assert.match(hooks[1]!.text, /recovered/)
}

for (const mode of ['dry-run', 'observe'] as const) {
  test(`${mode}: detects and reports, changes nothing`, async (t) => {
    const peer = await startIssuerPeer(t, { trailingSlash: true })
    const s = await scenario(t, { variant: 'fatal', mode, storedIssuer: peer.origin })
    const skipped = { container: s.container, reason: mode === 'dry-run' ? 'dry_run' : 'observe' }
    await waitFor(
      `a ${skipped.reason} skip`,
      async () => ((await s.metric('netbird_watchdog_repairs_skipped_total', skipped)) ?? 0) >= 1,
      60_000,
    )
    if (mode === 'dry-run') {
      await waitFor('the dry-run plan in the logs', () =>
        s.records.some((r) => r.msg.startsWith('dry-run: would back up')),
      )
    }
    assert.equal(await s.metric('netbird_watchdog_mode', { mode }), 1)
    assert.equal(await s.stop(), 0)
    assert.equal(fileSha(s.dbPath), fileSha(s.pristine), 'idp.db byte-identical')
    assert.equal(issuerOf(s.dbPath), peer.origin)
    assert.deepEqual(listBackups(s.backupDir), [])
    const st = await inspectState(s.container)
    assert.equal(
      st.Running || st.Restarting,
      true,
      'still left to Docker: never stopped or started',
    )
  })
}

test('a provider that changes its issuer twice trips the breaker; POST /reset re-arms it', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const token = 'e2e-reset-token-0123456789'
  const s = await scenario(t, { variant: 'erro', storedIssuer: peer.origin, resetToken: token })
  await waitFor(
    'the first repair',
    async () =>
      (await s.metric('netbird_watchdog_repairs_total', {
        container: s.container,
        result: 'success',
      })) === 1,
    120_000,
  )
  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`)

  peer.setTrailingSlash(false) // the provider changes its issuer again
  await docker(['restart', '-t', '2', s.container]) // NetBird re-reads its connectors at start
  await waitFor(
    'the breaker to open',
    async () => (await s.metric('netbird_watchdog_breaker_open', { container: s.container })) === 1,
    60_000,
  )
  assert.ok(
    ((await s.metric('netbird_watchdog_repairs_skipped_total', {
      container: s.container,
      reason: 'breaker_open',
    })) ?? 0) >= 1,
  )
  assert.equal(issuerOf(s.dbPath), `${peer.origin}/`, 'no second repair within the window')
  await waitFor('the CIRCUIT BREAKER OPEN log line', () =>
    s.records.some((r) => r.level === 'error' && r.msg.startsWith('CIRCUIT BREAKER OPEN')),
  )

  assert.equal((await fetch(`${s.url}/reset`, { method: 'POST' })).status, 401)
  const reset = await fetch(`${s.url}/reset`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  })
  assert.equal(reset.status, 200)
  assert.equal(await s.metric('netbird_watchdog_breaker_open', { container: s.container }), 0)
  assert.equal((await fetch(`${s.url}/metrics`)).status, 200, 'read-only endpoints need no token')
  assert.equal(await s.stop(), 0)
})

test('a repair whose restart still fails is rolled back, loudly, and the breaker opens', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const down = await startIssuerPeer(t, { trailingSlash: false })
  await down.close() // a second connector whose provider is down: NetBird still cannot start
  const s = await scenario(t, {
    variant: 'fatal',
    storedIssuer: peer.origin,
    extra: [{ id: okta, issuer: down.origin }],
    // The fresh run's crash is the evidence; on a busy machine it may come seconds after the start,
    // and a run still up at the end of the window would count as recovered.
    confirmSeconds: 20,
  })
  await waitFor(
    'a rollback',
    async () =>
      (await s.metric('netbird_watchdog_rollbacks_total', { container: s.container })) === 1,
    120_000,
  )
  assert.equal(
    await s.metric('netbird_watchdog_repairs_total', {
      container: s.container,
      result: 'rolled_back',
    }),
    1,
  )
  assert.equal(
    await s.metric('netbird_watchdog_repair_failures_total', { container: s.container }),
    1,
  )
  assert.equal(await s.metric('netbird_watchdog_breaker_open', { container: s.container }), 1)
  // The rollback names its evidence: the fatal line the fresh run logged, or its crash.
  const evidence = async (kind: string): Promise<number> =>
    (await s.metric('netbird_watchdog_rollback_evidence_total', {
      container: s.container,
      evidence: kind,
    })) ?? 0
  assert.equal((await evidence('log')) + (await evidence('crash')), 1)
  assert.equal((await evidence('probe')) + (await evidence('store')), 0)
  // Every table as it was, but the rolled-back connector carries yet another resource_version (the
  // repair wrote "1", the rollback "2"), so that a running Dex reopens it.
  const expected = join(s.dir, 'expected.db')
  copyFileSync(s.pristine, expected)
  const e = new Database(expected)
  e.prepare("update connector set resource_version = '2' where id = ?").run(jc)
  e.close()
  assert.equal(contentSha(s.dbPath), contentSha(expected), 'idp.db is the original again')
  await waitFor('the ROLLED BACK log line', () =>
    s.records.some((r) => r.level === 'error' && r.msg.startsWith('ROLLED BACK:')),
  )
  assert.equal(await s.stop(), 0)
})

test('the same, with the watchdog running as a container of the project image', async (t) => {
  // scripts/build-image.sh, as .ci/run and operators build it: the test run's image, or one built now.
  const image = await projectImage()
  defer(t, () => image.release())
  await headline(t, image.tag)
})
