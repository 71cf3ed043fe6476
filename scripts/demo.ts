// `npm run demo`: watch netbird-watchdog heal NetBird's JumpCloud trailing-slash failure on the local
// Docker engine, narrated step by step, in both forms it takes:
//   part 1, NetBird ≤ v0.65.1: the management container crash-loops; the watchdog repairs idp.db and
//           restarts it;
//   part 2, NetBird v0.65.2+ (every release people run today): NetBird stays up with SSO silently
//           broken; the watchdog's login probe finds the connector, the repair is loaded live and
//           proven — no restart.
// Everything runs on this machine: a real OpenID provider on 127.0.0.1 plays JumpCloud, a simulated
// NetBird (test/fixtures/fake-netbird) reads a real idp.db and, in part 2, serves Dex's login endpoint,
// and the watchdog runs exactly as an operator starts it (`node dist/cli.js run`). Everything it
// creates is removed at the end (also on Ctrl-C).
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { listBackups } from '../src/store/backup-files.js'
import { connectorIssuer } from '../src/core/connectors.js'
import { readConnectors } from '../src/store/sqlite/idp-db.js'
import { cliPath } from '../test/helpers/cli.js'
import { createIdpDb, oidcConnectorConfig } from '../test/helpers/idp-fixture.js'
import { parseMetrics } from '../test/helpers/metrics-text.js'
import {
  containerLogs,
  docker,
  firstDieEventMs,
  nodeImage,
  requireDocker,
  waitFor,
} from '../test/helpers/docker.js'
import { removeTestContainers, runFakeNetbird, startIssuerPeer } from '../test/helpers/selfheal.js'
import { freePort } from '../test/helpers/net.js'

const until = (pred: () => boolean | Promise<boolean>, what: string, ms = 60_000) =>
  waitFor(what, pred, ms)

const tty = process.stdout.isTTY
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)
const bold = paint('1')
const dim = paint('2')
const red = paint('31')
const green = paint('32')
const yellow = paint('33')
const say = (s = ''): void => void process.stdout.write(s + '\n')
const step = (n: number, title: string): void => say(`\n${bold(`${n}. ${title}`)}`)

const connectorId = 'd1c9q2ll0fgs73cunqsg'
const container = `netbird-management-demo-${process.pid}`
const cleanups: Array<() => unknown> = []

async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn()
    } catch {
      // best effort: keep cleaning
    }
  }
}

process.once('SIGINT', () => {
  say(yellow('\ninterrupted: cleaning up'))
  void cleanup().then(() => process.exit(130))
})

interface LogRecord {
  time: string
  level: string
  msg: string
  [k: string]: unknown
}

async function main(): Promise<void> {
  say(bold('netbird-watchdog demo: self-healing the JumpCloud trailing-slash issuer'))
  say(`\n${bold('Part 1 — NetBird ≤ v0.65.1: the management container crash-loops')}`)
  say(
    dim(
      "NetBird ≤ v0.65.1 crash-loops when an SSO connector's issuer differs from what the provider's\ndiscovery returns, even by one trailing slash. Watch the watchdog notice, prove it, fix it safely.",
    ),
  )
  await requireDocker([nodeImage])

  step(1, 'An OpenID provider plays JumpCloud')
  const peer = await startIssuerPeer(undefined, { trailingSlash: true })
  cleanups.push(() => peer.close())
  say(`   discovery at ${peer.origin}/.well-known/openid-configuration returns`)
  say(
    `   "issuer": ${green(JSON.stringify(peer.origin + '/'))}   ${dim('(with the slash, like JumpCloud)')}`,
  )

  step(2, "NetBird's idp.db has the connector without the slash")
  const dir = mkdtempSync(join(tmpdir(), 'nbw-demo-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: connectorId,
        type: 'oidc',
        name: 'JumpCloud',
        config: oidcConnectorConfig({
          issuer: peer.origin,
          clientID: 'demo-client',
          clientSecret: 'demo-secret-never-printed',
        }),
      },
    ],
  })
  copyFileSync(dbPath, join(dir, 'original.db'))
  say(`   ${dbPath}`)
  say(`   connector ${connectorId}: issuer ${red(JSON.stringify(peer.origin))}`)

  step(3, 'The watchdog starts (mode repair), watching the management container')
  const port = await freePort()
  const backupDir = join(dir, 'backups')
  const configPath = join(dir, 'watchdog.yml')
  writeFileSync(
    configPath,
    stringify({
      mode: 'repair',
      targets: { names: [container], autoDetect: false },
      idp: { dbPath },
      oidc: { allowInsecure: true },
      repair: { confirmSeconds: 5, restartBackoffSeconds: 0 },
      backups: { dir: backupDir },
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: `127.0.0.1:${port}` },
    }),
  )
  const { records, url } = await startWatchdogProcess(configPath, port)
  say(`   node dist/cli.js run --config ${configPath}`)
  say(`   metrics on ${url}/metrics`)

  step(4, 'NetBird management starts… and crashes')
  cleanups.push(() => removeTestContainers([container]))
  const started = Date.now()
  await runFakeNetbird({ name: container, store: { dataDir: dir }, variant: 'fatal' })
  say(dim(`   docker run --restart unless-stopped … (container ${container})`))
  await until(
    async () => (await containerLogs(container)).toString('utf8').includes('FATL'),
    'the crash',
  )
  const fatal = (await containerLogs(container))
    .toString('utf8')
    .split('\n')
    .find((l) => l.includes('FATL'))
  say(`   ${red(fatal ?? '')}`)
  say(dim('   Docker restarts it, it crashes again: a restart loop.'))

  step(5, 'What the watchdog does about it')
  const narrate: Array<[string, (r: LogRecord) => string]> = [
    [
      'issuer mismatch seen in the logs',
      (r) =>
        `saw the fatal line: connector ${String(r.connectorId)} configured ${JSON.stringify(r.configured)}, provider returns ${JSON.stringify(r.returned)}`,
    ],
    [
      'repairing: verified backup, then the exact issuer fix',
      () => 'confirmed with live discovery that the provider returns the slash; repairing',
    ],
    ['verified backup taken', (r) => `backup taken and verified: ${String(r.backup)}`],
    [
      'IdP store repaired and verified; restarting the container',
      () => 'issuer fixed in one transaction, re-read and integrity-checked',
    ],
    [
      "container is in Docker's restart loop; its restart policy will start it",
      () =>
        "the container is in Docker's restart backoff: Docker starts it (never fight the policy)",
    ],
    ['restarting the container', () => 'restarting the container'],
  ]
  const told = new Set<string>()
  const tell = (): LogRecord | undefined => {
    for (const r of records) {
      const hit = narrate.find(([m]) => m === r.msg)
      if (hit && !told.has(r.msg)) {
        told.add(r.msg)
        say(`   ${dim(r.time.slice(11, 23))} ${hit[1](r)}`)
      }
    }
    return records.find((r) => r.msg.startsWith('recovered:') || r.msg.startsWith('ROLLED'))
  }
  let outcome: LogRecord | undefined
  await until(() => (outcome = tell()) !== undefined, 'the outcome', 120_000)
  const ok = outcome!.msg.startsWith('recovered:')
  say(`   ${dim(outcome!.time.slice(11, 23))} ${ok ? green(outcome!.msg) : red(outcome!.msg)}`)

  step(6, 'The evidence')
  const row = readConnectors(dbPath).find((r) => r.id === connectorId)
  say(`   idp.db connector issuer now ${green(JSON.stringify(row && connectorIssuer(row)))}`)
  const [backup] = listBackups(backupDir)
  if (backup) {
    const old = readConnectors(backup.path).find((r) => r.id === connectorId)
    say(
      `   backup ${backup.path}\n     ${backup.manifest.size} bytes, sha256 ${backup.manifest.sha256.slice(0, 16)}…, issuer inside ${JSON.stringify(old && connectorIssuer(old))}`,
    )
  }
  const state = (
    await docker(['inspect', '-f', '{{.State.Status}} since {{.State.StartedAt}}', container])
  ).trim()
  say(`   container: ${green(state)}`)
  // The engine's own record of the first crash: its `die` event.
  const crashedAt = await firstDieEventMs(container, started)
  if (crashedAt !== undefined) {
    say(
      `   first crash → recovered: ${((Date.parse(outcome!.time) - crashedAt) / 1000).toFixed(1)} s (the 5 s confirm window included)`,
    )
  }

  step(7, 'The metrics Prometheus would scrape')
  const samples = parseMetrics(await (await fetch(`${url}/metrics`)).text())
  const show = [
    'netbird_watchdog_log_findings_total',
    'netbird_watchdog_container_restarts_total',
    'netbird_watchdog_repairs_total',
    'netbird_watchdog_rollbacks_total',
    'netbird_watchdog_breaker_open',
    'netbird_watchdog_backups_total',
    'netbird_watchdog_last_backup_size_bytes',
    'netbird_watchdog_last_repair_timestamp_seconds',
    'netbird_watchdog_mode',
  ]
  for (const s of samples) {
    if (!show.includes(s.name)) continue
    if (s.name === 'netbird_watchdog_log_findings_total' && s.value === 0) continue
    if (s.name === 'netbird_watchdog_repairs_total' && s.value === 0) continue
    if (s.name === 'netbird_watchdog_mode' && s.value === 0) continue
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')
    say(`   ${s.name}${labels ? `{${labels}}` : ''} ${s.value}`)
  }

  const hot = await hotCase(peer)

  step(14, 'Cleaning up')
  await cleanup()
  say(`   watchdogs stopped, containers and temporary files removed.`)
  const healed = ok && hot
  say(
    `\n${healed ? green(bold('Healed, both times.')) : red(bold('Not healed.'))} In production: ${dim('docker compose -f config/compose/combined-v0.65-socket-proxy.yml up -d')} and see docs/self-healing.md.`,
  )
  process.exitCode = healed ? 0 : 1
}

/** `node dist/cli.js run --config FILE`, its JSON log records collected, stopped at cleanup. */
async function startWatchdogProcess(
  configPath: string,
  port: number,
): Promise<{ records: LogRecord[]; url: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('NETBIRD_WATCHDOG_')),
  )
  const watchdog = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => watchdog.on('close', resolve))
  cleanups.push(async () => {
    watchdog.kill('SIGTERM')
    await exited
  })
  const records: LogRecord[] = []
  let carry = ''
  watchdog.stderr.on('data', (b: Buffer) => {
    carry += b.toString('utf8')
    const lines = carry.split('\n')
    carry = lines.pop() ?? ''
    for (const l of lines) if (l.startsWith('{')) records.push(JSON.parse(l) as LogRecord)
  })
  const url = `http://127.0.0.1:${port}`
  await until(
    async () => (await fetch(`${url}/metrics`).catch(() => undefined))?.ok === true,
    '/metrics',
  )
  return { records, url }
}

/** A login as NetBird's CLI starts it, through Dex, stopping at the first answer. */
async function login(dexUrl: string): Promise<string> {
  const q = new URLSearchParams({
    client_id: 'netbird-cli',
    redirect_uri: 'http://localhost:53000/',
    response_type: 'code',
    scope: 'openid profile email',
    state: 'demo',
  })
  const res = await fetch(`${dexUrl}/auth/${connectorId}?${q.toString()}`, { redirect: 'manual' })
  const text = await res.text()
  if (res.status === 302) return green(`302 → ${res.headers.get('location')?.split('?')[0] ?? '?'}`)
  const page = /<div class="nb-error">([^<]*)</.exec(text)?.[1] ?? text.slice(0, 80)
  return red(`${res.status} "${page.trim()}"`)
}

/** Part 2: NetBird v0.65.2+ stays up with SSO broken; found by the probe, healed live. */
async function hotCase(peer: { origin: string }): Promise<boolean> {
  say(`\n${bold('Part 2 — NetBird v0.65.2+: it stays up, and SSO is silently broken')}`)
  say(
    dim(
      "Since v0.65.2 NetBird logs 'Failed to open connector' once and keeps running. Nothing crashes;\nlogins through the connector just fail. Restarting NetBird (every peer reconnects) is not needed.",
    ),
  )
  step(8, 'NetBird v0.65.2+ starts with the same broken connector, and stays up')
  const dir = mkdtempSync(join(tmpdir(), 'nbw-demo-hot-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: connectorId,
        type: 'oidc',
        name: 'JumpCloud',
        config: oidcConnectorConfig({
          issuer: peer.origin,
          clientID: 'demo-client',
          clientSecret: 'demo-secret-never-printed',
        }),
      },
    ],
  })
  const server = `netbird-server-demo-${process.pid}`
  cleanups.push(() => removeTestContainers([server]))
  const dexPort = await freePort()
  const dexUrl = `http://127.0.0.1:${dexPort}/oauth2`
  await runFakeNetbird({
    name: server,
    store: { dataDir: dir },
    variant: 'erro',
    version: '0.77.1',
    listen: { port: dexPort },
    issuer: 'https://netbird.example.com/oauth2',
  })
  await until(
    async () =>
      (await fetch(`${dexUrl}/.well-known/openid-configuration`).catch(() => undefined))?.ok ===
      true,
    "NetBird's Dex",
  )
  const erro = (await containerLogs(server))
    .toString('utf8')
    .split('\n')
    .find((l) => l.includes('ERRO'))
  say(`   ${yellow(erro ?? '')}`)
  const before = (
    await docker(['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}}', server])
  ).trim()
  say(
    `   container ${server}: ${green('running')} ${dim(`(started ${before.split(' ')[0]}, restarts ${before.split(' ')[1]})`)}`,
  )

  step(9, 'A user tries to log in through JumpCloud')
  say(`   GET ${dexUrl}/auth/${connectorId}?client_id=netbird-cli&…  →  ${await login(dexUrl)}`)

  step(10, 'The watchdog starts (added later: it never sees that one log line) and probes SSO')
  const port = await freePort()
  const configPath = join(dir, 'watchdog.yml')
  writeFileSync(
    configPath,
    stringify({
      mode: 'repair',
      targets: { names: [server], autoDetect: false },
      idp: { dbPath },
      oidc: { allowInsecure: true },
      detection: { followLogs: false },
      sso: { url: dexUrl, probeSeconds: 5 },
      repair: { confirmSeconds: 5 },
      backups: { dir: join(dir, 'backups') },
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: `127.0.0.1:${port}` },
    }),
  )
  const { records, url } = await startWatchdogProcess(configPath, port)
  say(`   node dist/cli.js run --config ${configPath}   ${dim('(sso.url, a probe every 5 s)')}`)

  step(11, 'What the watchdog does about it')
  const narrate: Array<[(r: LogRecord) => boolean, (r: LogRecord) => string]> = [
    [(r) => r.msg.startsWith('SSO login through connector'), (r) => `login probe: ${r.msg}`],
    [(r) => r.msg === 'SSO login probe failed: diagnosing', () => 'diagnosing with live discovery'],
    [
      (r) => r.msg === 'verified backup taken',
      (r) => `backup taken and verified: ${String(r.backup)}`,
    ],
    [
      (r) => r.msg.startsWith('IdP store repaired and verified; NetBird picks it up'),
      () => 'issuer fixed with a new resource_version: Dex reopens the connector at the next login',
    ],
  ]
  const told = new Set<LogRecord>()
  const tell = (): LogRecord | undefined => {
    for (const r of records) {
      const hit = narrate.find(([m]) => m(r))
      if (hit && !told.has(r)) {
        told.add(r)
        say(`   ${dim(r.time.slice(11, 23))} ${hit[1](r)}`)
      }
    }
    return records.find((r) => r.msg.startsWith('recovered') || r.msg.startsWith('ROLLED'))
  }
  let outcome: LogRecord | undefined
  await until(() => (outcome = tell()) !== undefined, 'the outcome', 120_000)
  const ok = outcome!.msg.startsWith('recovered without a restart')
  say(`   ${dim(outcome!.time.slice(11, 23))} ${ok ? green(outcome!.msg) : red(outcome!.msg)}`)

  step(12, 'The evidence')
  say(`   GET ${dexUrl}/auth/${connectorId}?client_id=netbird-cli&…  →  ${await login(dexUrl)}`)
  const row = readConnectors(dbPath).find((r) => r.id === connectorId)
  say(
    `   idp.db connector issuer now ${green(JSON.stringify(row && connectorIssuer(row)))}, resource_version ${JSON.stringify(row?.resourceVersion)}`,
  )
  const after = (
    await docker(['inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}}', server])
  ).trim()
  say(
    `   container: started ${after.split(' ')[0]}, restarts ${after.split(' ')[1]}  ${after === before ? green('(unchanged: no restart)') : red('(restarted)')}`,
  )

  step(13, 'The probe in the metrics')
  for (const s of parseMetrics(await (await fetch(`${url}/metrics`)).text())) {
    if (!s.name.startsWith('netbird_watchdog_sso_probe_')) continue
    if (s.name === 'netbird_watchdog_sso_probe_failures_total' && s.value === 0) continue
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')
    say(`   ${s.name}${labels ? `{${labels}}` : ''} ${s.value}`)
  }
  return ok && after === before
}

main().catch(async (err: unknown) => {
  say(red(`demo failed: ${err instanceof Error ? err.message : String(err)}`))
  await cleanup()
  process.exitCode = 1
})
