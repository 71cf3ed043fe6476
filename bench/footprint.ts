// Benchmark (not a test): the daemon's memory and CPU footprint, against a bare node process idling in
// the same run. Two more idle references show where the floor is: a process that only imports
// dockerode, and one that only imports exactly the runtime dependencies (package.json's
// `dependencies`), nothing of ours: the stack floor, the headline's denominator.
// Every node process here runs with the node options the image sets (its ENV NODE_OPTIONS) and is
// started from a module file, as the daemon is, so the daemon and its floor differ only by the
// daemon's own code and state. Beside them, the image itself (scripts/build-image.sh, cached) runs
// the same config on the same target: its idle memory as `docker stats` reports it, and its node
// process's RSS.
//   warm-up: 300 s, so that every process is measured settled. V8 keeps the heap it grew to while
//     starting until its memory reducer runs, about 104 s after start for a process started from a
//     file (seen with --trace-gc on Node 26, for the daemon and the floor alike), and the reducer's
//     second compacting collection comes about 210-243 s after start, scraped or not, then no more
//     while idle: a window opening at 150 s caught that one-off start-up collection in about half
//     the runs (20-50 ms of CPU on V8's worker threads; BENCHMARKS.md, run G).
//   idle: one healthy target, /metrics scraped every 15 s (as Prometheus would), 60 s window. The
//     memory figures come from a daemon with the schedules off, as in every run before; beside it
//     a second daemon with the default schedules (doctor, backup, integrity: node-cron sets one
//     timer for each next run; with no idp.db here a run costs a few milliseconds) gives
//     `cpu_idle_pct` and `rss_idle_default_schedules_mb` (node-cron's date matching touches ICU's
//     time-zone data: about 7 MB of the node binary's file-backed pages, BENCHMARKS.md).
//   busy: a second target floods 1,000 lines/s and restart-loops (fatal line, exit 1), 60 s window.
// Usage: npm run bench:footprint [-- --seconds 60] [-- --warmup 300] [-- --quick]
//   [-- --node-options '<options>']
// (--quick: 3 s warm-up, 10 s windows, not settled; --node-options replaces the image's NODE_OPTIONS
// for the host processes: to measure a V8 flag.) With a second runtime set (bench/lib/runtime.ts),
// its daemon, bare node and stack floor idle in the same window: the `_node20` figures.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  busyboxImage,
  docker,
  removeBenchContainers,
  removeStaleBenchContainers,
  requireEngine,
  runContainer,
} from './lib/containers.js'
import {
  cpuPercent,
  mb,
  ProcSampler,
  sampleProcess,
  threadAccounts,
  threadUse,
} from './lib/proc.js'
import { argNumber, argValue, figure, hasFlag, median, note, printMachine } from './lib/report.js'
import { sumOf } from './lib/metrics-text.js'
import {
  compareRuntime,
  imageNodeOptions,
  named,
  shippedRuntime,
  type Runtime,
} from './lib/runtime.js'
import { delay, observeConfig, repoRoot, Watchdog } from './lib/watchdog.js'
import { freePort } from '../test/helpers/net.js'
import { floodWorkload, idleWorkload } from './lib/workloads.js'

const quick = hasFlag('quick')
const windowS = argNumber('seconds', quick ? 10 : 60)
const warmupS = argNumber('warmup', quick ? 3 : 300)
const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
const run = Date.now().toString(36)
const idleName = `nbw-bench-fp-idle-${run}`
const busyName = `nbw-bench-fp-busy-${run}`
const imageName = `nbw-bench-fp-image-${run}`
const appImage = 'netbird-watchdog:bench'

const nodeOptions = argValue('node-options') ?? imageNodeOptions()
const nodeEnv = { ...process.env, NODE_OPTIONS: nodeOptions }

await requireEngine([image])
await removeStaleBenchContainers()
printMachine()
note(`node options of every measured node process: NODE_OPTIONS=${JSON.stringify(nodeOptions)}`)
note(`warm-up before the idle window: ${warmupS} s`)

// The image, built (or taken from Docker's cache) before anything is measured.
const built = Date.now()
execFileSync('bash', [join(repoRoot, 'scripts/build-image.sh'), appImage], {
  stdio: ['ignore', 'ignore', 'inherit'],
  timeout: 30 * 60_000,
})
note(
  `image ${appImage} built or taken from the cache in ${((Date.now() - built) / 1000).toFixed(0)} s`,
)

/** A node process that imports `modules` and then idles (bench/lib/idle-node.mjs). */
const importing = (
  modules: readonly string[],
  runtime: Runtime = shippedRuntime,
): ReturnType<typeof spawn> =>
  spawn(runtime.node, [join(runtime.root, 'bench/lib/idle-node.mjs'), ...modules], {
    stdio: 'ignore',
    env: nodeEnv,
  })
/** Exactly the runtime dependencies: package.json's `dependencies`. */
const stackModules = Object.keys(
  (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
  ).dependencies,
)

/** `docker stats` memory usage ("12.3MiB / 23.5GiB") in bytes. */
async function dockerStatsBytes(name: string): Promise<number> {
  const usage = (await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', name])).trim()
  const m = /^([\d.]+)\s*([KMGT]?i?B)/.exec(usage)
  if (!m) throw new Error(`unexpected docker stats memory usage "${usage}"`)
  const unit = {
    B: 1,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
    kB: 1e3,
    MB: 1e6,
    GB: 1e9,
  }[m[2]!]
  if (unit === undefined) throw new Error(`unknown unit in docker stats "${usage}"`)
  return Number(m[1]) * unit
}

/** The image running the daemon with the host daemon's config, on the same target. */
async function startImage(configDir: string): Promise<{ port: number; pid: number }> {
  const port = await freePort()
  writeFileSync(
    join(configDir, 'watchdog.yml'),
    JSON.stringify(
      observeConfig(
        { names: [idleName] },
        { log: { level: 'info' }, metrics: { address: `127.0.0.1:${port}` } },
      ),
    ),
    { mode: 0o644 },
  )
  const socketPath = '/var/run/docker.sock'
  await runContainer({
    name: imageName,
    image: appImage,
    cmd: [],
    network: 'host',
    env: { NETBIRD_WATCHDOG_CONFIG: '/etc/netbird-watchdog/watchdog.yml' },
    volumes: [`${socketPath}:${socketPath}`, `${configDir}:/etc/netbird-watchdog:ro`],
    extra: [
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--cap-drop',
      'ALL',
      '--group-add',
      String(statSync(socketPath).gid),
    ],
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, {
      signal: AbortSignal.timeout(5000),
    })
      .then(async (r) => (await r.arrayBuffer(), r.ok))
      .catch(() => false)
    if (ready) break
    if (Date.now() > deadline) throw new Error(`the image's /readyz did not answer within 60 s`)
    await delay(200)
  }
  const pid = Number(await docker(['inspect', '-f', '{{.State.Pid}}', imageName]))
  return { port, pid }
}

const bare = importing([])
const dockerodeOnly = importing(['dockerode'])
const stackOnly = importing(stackModules)
const other = compareRuntime()
const bareOther = other ? importing([], other) : undefined
const stackOther = other ? importing(stackModules, other) : undefined
if (other) note(`compared runtime: ${other.node} ${other.version} on ${other.root}`)
const configDir = mkdtempSync(join(tmpdir(), 'nbw-bench-fp-'))
chmodSync(configDir, 0o755) // the image's user (1000) reads the config through the bind mount
let wd: Watchdog | undefined
/** The idle-only daemons: default schedules (both runtimes), and the other runtime's memory one. */
const idleOnly: Watchdog[] = []
try {
  const idle = idleWorkload()
  await runContainer({ name: idleName, image, cmd: idle.cmd, env: idle.env })
  wd = await Watchdog.start({
    config: observeConfig({ names: [idleName, busyName] }, { log: { level: 'info' } }),
    env: { NODE_OPTIONS: nodeOptions },
  })
  const watchdog = wd
  const idleDaemon = async (runtime: Runtime, schedules: boolean): Promise<Watchdog> => {
    // `schedules: {}`: the defaults (observeConfig turns them off).
    const extra = schedules ? { log: { level: 'info' }, schedules: {} } : { log: { level: 'info' } }
    const w = await Watchdog.start({
      config: observeConfig({ names: [idleName] }, extra),
      env: { NODE_OPTIONS: nodeOptions },
      runtime,
    })
    idleOnly.push(w)
    return w
  }
  const wdSchedules = await idleDaemon(shippedRuntime, true)
  const wdOther = other ? await idleDaemon(other, false) : undefined
  const wdOtherSchedules = other ? await idleDaemon(other, true) : undefined
  const inImage = await startImage(configDir)
  await delay(warmupS * 1000)

  // Idle window: every process sampled each second; the daemons scraped every 15 s; docker stats
  // of the image's container every 5 s (each call takes about a second).
  const wdIdle = new ProcSampler(watchdog.pid).start()
  const bareIdle = new ProcSampler(bare.pid!).start()
  const dockerodeIdle = new ProcSampler(dockerodeOnly.pid!).start()
  const stackIdle = new ProcSampler(stackOnly.pid!).start()
  const imageIdle = new ProcSampler(inImage.pid).start()
  const schedulesIdle = new ProcSampler(wdSchedules.pid).start()
  const threadsBefore = threadAccounts(wdSchedules.pid)
  const otherIdle =
    other && wdOther && wdOtherSchedules && bareOther && stackOther
      ? {
          daemon: new ProcSampler(wdOther.pid).start(),
          schedules: new ProcSampler(wdOtherSchedules.pid).start(),
          bare: new ProcSampler(bareOther.pid!).start(),
          stack: new ProcSampler(stackOther.pid!).start(),
        }
      : undefined
  const scrapeImage = (): Promise<unknown> =>
    fetch(`http://127.0.0.1:${inImage.port}/metrics`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined)
  const scrapes = setInterval(() => {
    for (const w of [watchdog, ...idleOnly]) void w.scrape().catch(() => undefined)
    void scrapeImage()
  }, 15_000)
  const statsBytes: number[] = []
  const idleEnd = Date.now() + windowS * 1000
  while (Date.now() < idleEnd) {
    statsBytes.push(await dockerStatsBytes(imageName))
    await delay(Math.min(5000, Math.max(0, idleEnd - Date.now())))
  }
  clearInterval(scrapes)
  const idleSamples = wdIdle.stop()
  const bareSamples = bareIdle.stop()
  const rssDockerode = median(dockerodeIdle.stop().map((s) => s.rssBytes))
  const rssStack = median(stackIdle.stop().map((s) => s.rssBytes))
  const rssImage = median(imageIdle.stop().map((s) => s.rssBytes))
  const rssIdle = median(idleSamples.map((s) => s.rssBytes))
  const rssBare = median(bareSamples.map((s) => s.rssBytes))
  const schedulesSamples = schedulesIdle.stop()
  const threads = threadUse(threadsBefore, threadAccounts(wdSchedules.pid))
  const cpuIdle = cpuPercent(schedulesSamples[0]!, schedulesSamples.at(-1)!)
  const cpuIdleSchedulesOff = cpuPercent(idleSamples[0]!, idleSamples.at(-1)!)
  const rssIdleSchedules = median(schedulesSamples.map((s) => s.rssBytes))
  const bareCpu = cpuPercent(bareSamples[0]!, bareSamples.at(-1)!)
  const otherFigures = otherIdle && other ? settledFigures(otherIdle, other) : []
  for (const w of idleOnly.splice(0)) await w.stop()
  await docker(['rm', '-f', '-v', imageName])

  // Busy window: the flood target appears (started late on purpose: it must be picked up).
  const linesBefore = sumOf(await watchdog.scrape(), 'netbird_watchdog_log_lines_total')
  const flood = floodWorkload({ linesPerSecond: 1000, upSeconds: 15, erroEvery: 1000 })
  await runContainer({
    name: busyName,
    image,
    cmd: flood.cmd,
    env: flood.env,
    restart: 'unless-stopped',
  })
  const busyStart = sampleProcess(watchdog.pid)
  const wdBusy = new ProcSampler(watchdog.pid).start()
  await delay(windowS * 1000)
  const busySamples = wdBusy.stop()
  const linesAfter = sumOf(await watchdog.scrape(), 'netbird_watchdog_log_lines_total')
  const cpuBusy = cpuPercent(busyStart, busySamples.at(-1)!)

  figure('rss_bare_node_mb', mb(rssBare), 1)
  figure('rss_idle_mb', mb(rssIdle), 1)
  figure('rss_busy_mb', mb(Math.max(...busySamples.map((s) => s.rssBytes))), 1)
  figure('rss_vs_stack_floor_ratio', rssIdle / rssStack, 3)
  figure('rss_vs_bare_node_ratio', rssIdle / rssBare, 2)
  figure('rss_dockerode_import_only_mb', mb(rssDockerode), 1)
  figure('rss_stack_imports_only_mb', mb(rssStack), 1)
  figure('rss_stack_imports_only_vs_bare_ratio', rssStack / rssBare, 2)
  figure('image_idle_docker_stats_mb', mb(median(statsBytes)), 1)
  figure('image_idle_rss_mb', mb(rssImage), 1)
  figure('cpu_idle_pct', cpuIdle, 3)
  figure('cpu_idle_schedules_off_pct', cpuIdleSchedulesOff, 3)
  figure('rss_idle_default_schedules_mb', mb(rssIdleSchedules), 1)
  const idleMinutes = (schedulesSamples.at(-1)!.at - schedulesSamples[0]!.at) / 60_000
  figure('cpu_idle_wakeups_per_min', threads.reduce((n, t) => n + t.runs, 0) / idleMinutes, 0)
  note(
    `idle daemon's threads (CPU ms, times scheduled): ${threads.map((t) => `${t.name} ${t.cpuMs.toFixed(1)} ms ${t.runs}`).join('; ')}`,
  )
  note('target: cpu_idle_pct < 0.2 (default schedules on); rss_vs_stack_floor_ratio <= 1.10')
  figure('cpu_bare_node_pct', bareCpu, 3)
  figure('cpu_busy_pct', cpuBusy, 1)
  figure('busy_lines_per_s', (linesAfter - linesBefore) / windowS, 0)
  figure('fds_idle', idleSamples.at(-1)!.fds)
  figure('fds_busy_max', Math.max(...busySamples.map((s) => s.fds)))
  for (const [name, value, decimals] of otherFigures) figure(name, value, decimals)
  figure('footprint_window_s', windowS)
  figure('footprint_warmup_s', warmupS)
  note(
    'rss: median of 1 s samples (idle), maximum (busy); cpu: user+system time / wall time, % of one core; ' +
      `stack floor (package.json dependencies): ${stackModules.join(', ')}; ` +
      `image: ${appImage}, docker stats memory (median of ${statsBytes.length}) and its node process's rss`,
  )
  printMachine('machine at end')
} finally {
  for (const child of [bare, dockerodeOnly, stackOnly, bareOther, stackOther])
    child?.kill('SIGKILL')
  for (const w of idleOnly) await w.stop()
  await wd?.stop()
  await removeBenchContainers()
  rmSync(configDir, { recursive: true, force: true })
}

/** The compared runtime's idle figures, from the same window: [name, value, decimals]. */
function settledFigures(
  s: { daemon: ProcSampler; schedules: ProcSampler; bare: ProcSampler; stack: ProcSampler },
  runtime: Runtime,
): [string, number, number][] {
  const daemon = s.daemon.stop()
  const schedules = s.schedules.stop()
  const bareRss = median(s.bare.stop().map((x) => x.rssBytes))
  const stackRss = median(s.stack.stop().map((x) => x.rssBytes))
  const rss = median(daemon.map((x) => x.rssBytes))
  return [
    [named('rss_bare_node_mb', runtime), mb(bareRss), 1],
    [named('rss_idle_mb', runtime), mb(rss), 1],
    [named('rss_stack_imports_only_mb', runtime), mb(stackRss), 1],
    [named('rss_vs_stack_floor_ratio', runtime), rss / stackRss, 3],
    [named('cpu_idle_pct', runtime), cpuPercent(schedules[0]!, schedules.at(-1)!), 3],
    [
      named('rss_idle_default_schedules_mb', runtime),
      mb(median(schedules.map((x) => x.rssBytes))),
      1,
    ],
  ]
}
