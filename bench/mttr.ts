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
// Usage: npm run bench:mttr [-- --runs 5] [-- --confirm 10] [-- --quick]
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
import { repoRoot, Watchdog, type LogRecord } from './lib/watchdog.js'

const quick = hasFlag('quick')
const runs = argNumber('runs', quick ? 2 : 5)
const confirmSeconds = argNumber('confirm', 10)

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
  printMachine('machine at end')
} finally {
  await peer.close()
}
