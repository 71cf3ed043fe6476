// `npm run demo`: watch netbird-watchdog heal NetBird's JumpCloud trailing-slash crash loop on the local
// Docker engine, narrated step by step. Everything runs on this machine: a real OpenID provider on
// 127.0.0.1 plays JumpCloud, a simulated NetBird management container (test/fixtures/fake-netbird) reads a
// real idp.db, and the watchdog runs exactly as an operator starts it (`node dist/cli.js run`).
// Everything it creates is removed at the end (also on Ctrl-C).
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
  say(bold('netbird-watchdog demo: self-healing the JumpCloud trailing-slash crash loop'))
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

  step(8, 'Cleaning up')
  await cleanup()
  say(`   watchdog stopped, container and temporary files removed.`)
  say(
    `\n${ok ? green(bold('Healed.')) : red(bold('Not healed.'))} In production: ${dim('docker compose -f config/compose/quickstart-v0.62.yml up -d')} and see docs/self-healing.md.`,
  )
  process.exitCode = ok ? 0 : 1
}

main().catch(async (err: unknown) => {
  say(red(`demo failed: ${err instanceof Error ? err.message : String(err)}`))
  await cleanup()
  process.exitCode = 1
})
