// Benchmark (not a test): time to recover. The self-heal end-to-end setup on the real engine, run N
// times from scratch: the simulated NetBird management (test/fixtures/fake-netbird, NetBird v0.64
// behaviour) in the node test image under `--restart unless-stopped`, a real oidc-provider on
// 127.0.0.1 whose issuer ends in `/`, a connector in idp.db without it, and the daemon in `repair`
// mode. Measured from the first crash (the engine's first `die`) to the daemon's "recovered" (the
// repaired container stayed up for the confirmation window), with the phases in between:
//   detect    first crash -> the watchdog's finding (the fatal line is written just before the exit)
//   repair    finding -> idp.db backed up, fixed and verified (discovery, backup, transaction)
//   restart   fixed -> the container running again with the fix (Docker's backoff or our restart)
//   confirm   the configured window the fixed container must stay up (printed on its own)
// Then the hot case, NetBird v0.65.2+ (the stand-in stays up with SSO broken and serves Dex's login
// endpoint, docs/reference/netbird.md "Dex at login"): the daemon's SSO login probe every `--probe`
// seconds (5), no log followed, measured from the first failing probe (its log line) to the probe
// passing again (the live repair's "recovered without a restart"), with the container's restarts in
// that time from the engine's own `start` events:
//   mttr_hot_s               first failing probe -> probe passing (target: <= the probe interval + 1 s)
//   restarts_during_hot_heal starts of the container while it healed (target: 0)
// Usage: npm run bench:mttr [-- --runs 5] [-- --confirm 10] [-- --probe 5] [-- --quick]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIdpDb, jumpcloudId, oidcConnectors } from '../test/helpers/idp-fixture.js'
import { startIssuerPeer } from '../test/helpers/selfheal.js'
import {
  EventRecorder,
  inspectState,
  nodeImage,
  parseNanoTime,
  removeBenchContainers,
  removeStaleBenchContainers,
  requireEngine,
  runContainer,
} from './lib/containers.js'
import { argNumber, figure, hasFlag, median, note, printMachine } from './lib/report.js'
import { freePort } from '../test/helpers/net.js'
import { delay, repoRoot, Watchdog, type LogRecord } from './lib/watchdog.js'

const quick = hasFlag('quick')
const runs = argNumber('runs', quick ? 2 : 5)
const confirmSeconds = argNumber('confirm', 10)
const probeSeconds = argNumber('probe', 5)
/** NetBird's public issuer as the fixture's connectors spell their redirect URI. */
const netbirdIssuer = 'https://netbird.example.com/oauth2'

interface RunResult {
  mttr: number
  /** First crash -> the container running with the fix (everything but the confirm window). */
  work: number
  detect: number
  repair: number
  restart: number
  confirm: number
}

const interesting = new Set([
  'finding',
  'repairing: verified backup, then the exact issuer fix',
  'IdP store repaired and verified; restarting the container',
])
const keep = (r: LogRecord): boolean =>
  interesting.has(r.msg) ||
  r.msg.startsWith('recovered:') ||
  r.msg.startsWith('ROLLED BACK') ||
  r.level === 'error'

async function once(i: number, origin: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-mttr-'))
  const name = `nbw-bench-mttr-${Date.now().toString(36)}-${i}`
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: oidcConnectors([{ id: jumpcloudId, name: 'JumpCloud', issuer: origin }]),
  })
  let wd: Watchdog | undefined
  let recorder: EventRecorder | undefined
  try {
    wd = await Watchdog.start({
      config: {
        mode: 'repair',
        targets: { names: [name], autoDetect: false },
        idp: { dbPath },
        oidc: { allowInsecure: true },
        repair: { confirmSeconds },
        backups: { dir: join(dir, 'backups') },
        schedules: { doctor: '', backup: '', integrity: '' },
      },
      keep,
      waitReady: false,
    })
    const watchdog = wd
    recorder = await EventRecorder.start([`container=${name}`])
    await runContainer({
      name,
      image: nodeImage,
      network: 'host', // the provider listens on 127.0.0.1
      restart: 'unless-stopped',
      // NetBird's Go binary exits on SIGTERM from its first instant; node as PID 1 ignores it until
      // its handler is installed, which would turn a restart during start-up into a 10 s stop timeout.
      extra: ['--init'],
      volumes: [`${dir}:/var/lib/netbird`, `${repoRoot}:${repoRoot}:ro`],
      cmd: ['node', `${repoRoot}test/fixtures/fake-netbird/main.mjs`, '--variant', 'fatal'],
    })
    const done = await watchdog.waitRecord(
      (r) => r.msg.startsWith('recovered:') || r.msg.startsWith('ROLLED BACK'),
      180_000,
    )
    if (!done.msg.startsWith('recovered:')) throw new Error(`run ${i}: ${done.msg}`)
    const at = (msg: string): number => {
      const r = watchdog.records.find((x) => x.msg === msg)
      if (!r) throw new Error(`run ${i}: no "${msg}" log record`)
      return Date.parse(r.time)
    }
    const die = recorder.events.find((e) => e.status === 'die')
    if (!die) throw new Error(`run ${i}: no die event recorded`)
    const firstCrash = Number(die.timeNano / 1000n) / 1000
    const finding = at('finding')
    const fixed = at('IdP store repaired and verified; restarting the container')
    const fixedStart = parseNanoTime((await inspectState(name)).startedAt)
    const recovered = Date.parse(done.time)
    const r: RunResult = {
      mttr: (recovered - firstCrash) / 1000,
      work: (fixedStart - firstCrash) / 1000,
      detect: (finding - firstCrash) / 1000,
      repair: (fixed - finding) / 1000,
      restart: (fixedStart - fixed) / 1000,
      confirm: (recovered - fixedStart) / 1000,
    }
    note(
      `run ${i + 1}: mttr ${r.mttr.toFixed(2)} s = detect ${r.detect.toFixed(3)} + repair ` +
        `${r.repair.toFixed(3)} + restart ${r.restart.toFixed(2)} + confirm ${r.confirm.toFixed(2)}` +
        ` (deaths before recovery: ${recorder.count('die')})`,
    )
    return r
  } finally {
    await recorder?.stop()
    await wd?.stop()
    await removeBenchContainers()
    rmSync(dir, { recursive: true, force: true })
  }
}

interface HotResult {
  mttr: number
  restarts: number
}

/** The hot case: NetBird v0.65.2+ stays up; the probe finds the connector, the repair is loaded live. */
async function onceHot(i: number, origin: string): Promise<HotResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-mttr-hot-'))
  const name = `nbw-bench-mttr-hot-${Date.now().toString(36)}-${i}`
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: oidcConnectors([{ id: jumpcloudId, name: 'JumpCloud', issuer: origin }]),
  })
  const port = await freePort()
  const dexUrl = `http://127.0.0.1:${port}/oauth2`
  let wd: Watchdog | undefined
  let recorder: EventRecorder | undefined
  try {
    await runContainer({
      name,
      image: nodeImage,
      network: 'host',
      restart: 'unless-stopped',
      extra: ['--init'],
      volumes: [`${dir}:/var/lib/netbird`, `${repoRoot}:${repoRoot}:ro`],
      cmd: [
        'node',
        `${repoRoot}test/fixtures/fake-netbird/main.mjs`,
        '--variant',
        'erro',
        '--version',
        '0.77.1',
        '--listen',
        `127.0.0.1:${port}`,
        '--issuer',
        netbirdIssuer,
      ],
    })
    await waitUntil(
      async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
      60_000,
    )
    // Up and serving, SSO broken: from here on, every start of the container would be a restart.
    recorder = await EventRecorder.start([`container=${name}`])
    wd = await Watchdog.start({
      config: {
        mode: 'repair',
        targets: { names: [name], autoDetect: false },
        idp: { dbPath },
        oidc: { allowInsecure: true },
        detection: { followLogs: false },
        sso: { url: dexUrl, probeSeconds },
        repair: { confirmSeconds },
        backups: { dir: join(dir, 'backups') },
        schedules: { doctor: '', backup: '', integrity: '' },
      },
      keep: (r) =>
        r.msg.startsWith('SSO login through connector') ||
        r.msg.startsWith('recovered') ||
        r.msg.startsWith('ROLLED BACK') ||
        r.level === 'error',
      waitReady: false,
    })
    const watchdog = wd
    const done = await watchdog.waitRecord(
      (r) => r.msg.startsWith('recovered') || r.msg.startsWith('ROLLED BACK'),
      180_000,
    )
    if (!done.msg.startsWith('recovered without a restart'))
      throw new Error(`hot run ${i}: ${done.msg}`)
    const failing = watchdog.records.find((r) => r.msg.startsWith('SSO login through connector'))
    if (!failing) throw new Error(`hot run ${i}: no failing probe logged`)
    const r: HotResult = {
      mttr: (Date.parse(done.time) - Date.parse(failing.time)) / 1000,
      restarts: recorder.count('start'),
    }
    note(
      `hot run ${i + 1}: first failing probe -> probe passing ${r.mttr.toFixed(3)} s, restarts ${r.restarts}`,
    )
    return r
  } finally {
    await recorder?.stop()
    await wd?.stop()
    await removeBenchContainers()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error('timed out waiting for the stand-in to serve')
    await delay(100)
  }
}

await requireEngine([nodeImage])
await removeStaleBenchContainers()
printMachine()
const peer = await startIssuerPeer(undefined, { trailingSlash: true })
try {
  const results: RunResult[] = []
  let interfered = 0
  for (let i = 0; i < runs; i++) {
    try {
      results.push(await once(i, peer.origin))
    } catch (err) {
      // The engine is shared: a container removed by someone else's cleanup is not our result.
      const msg = err instanceof Error ? err.message : String(err)
      if (!msg.includes('container disappeared') || ++interfered > 3) throw err
      note(`run ${i + 1} discarded (the container was removed from outside): ${msg}`)
      i--
    }
  }
  const med = (k: keyof RunResult): number => median(results.map((r) => r[k]))
  figure('mttr_runs', runs)
  figure('mttr_runs_discarded', interfered)
  figure('mttr_s', med('mttr'), 2)
  figure('mttr_max_s', Math.max(...results.map((r) => r.mttr)), 2)
  figure('mttr_confirm_window_s', confirmSeconds)
  figure('mttr_work_s', med('work'), 2)
  figure('mttr_detect_s', med('detect'), 3)
  figure('mttr_repair_s', med('repair'), 3)
  figure('mttr_restart_s', med('restart'), 2)
  figure('mttr_confirm_s', med('confirm'), 2)
  note(
    'medians over the runs; detect can be < 0: the fatal line is read before the exit is reported',
  )
  const hot: HotResult[] = []
  for (let i = 0; i < runs; i++) hot.push(await onceHot(i, peer.origin))
  figure('mttr_hot_runs', runs)
  figure('mttr_hot_probe_interval_s', probeSeconds)
  figure('mttr_hot_s', median(hot.map((r) => r.mttr)), 3)
  figure('mttr_hot_max_s', Math.max(...hot.map((r) => r.mttr)), 3)
  figure(
    'restarts_during_hot_heal',
    hot.reduce((n, r) => n + r.restarts, 0),
  )
  note(
    `target: mttr_hot_max_s <= probe interval + 1 s = ${probeSeconds + 1} s; restarts_during_hot_heal 0`,
  )
  printMachine('machine at end')
} finally {
  await peer.close()
}
