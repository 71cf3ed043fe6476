// Benchmark (not a test): the daemon's memory and CPU footprint, against a bare `node -e` process
// idling in the same run. Two more idle references show where the floor is: a process that only
// imports dockerode, and one that only imports the fixed stack's libraries (and the config/CLI
// ones), nothing of ours.
//   idle: one healthy target, /metrics scraped every 15 s (as Prometheus would), 60 s window.
//   busy: a second target floods 1,000 lines/s and restart-loops (fatal line, exit 1), 60 s window.
// Usage: npm run bench:footprint [-- --seconds 60] [-- --quick]
import { spawn } from 'node:child_process'
import {
  busyboxImage,
  removeBenchContainers,
  removeStaleBenchContainers,
  requireEngine,
  runContainer,
} from './lib/containers.js'
import { cpuPercent, mb, ProcSampler, sampleProcess } from './lib/proc.js'
import { argNumber, figure, hasFlag, median, note, printMachine } from './lib/report.js'
import { sumOf } from './lib/metrics-text.js'
import { delay, observeConfig, repoRoot, Watchdog } from './lib/watchdog.js'
import { floodWorkload, idleWorkload } from './lib/workloads.js'

const quick = hasFlag('quick')
const windowS = argNumber('seconds', quick ? 10 : 60)
const warmupS = quick ? 3 : 10
const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
const run = Date.now().toString(36)
const idleName = `nbw-bench-fp-idle-${run}`
const busyName = `nbw-bench-fp-busy-${run}`

await requireEngine([image])
await removeStaleBenchContainers()
printMachine()

const idleForever = 'setInterval(() => {}, 1 << 30)'
/** A node process that imports `modules` and then idles (resolved from the repository). */
const importing = (modules: readonly string[]): ReturnType<typeof spawn> =>
  spawn(
    process.execPath,
    [
      '-e',
      `Promise.all(${JSON.stringify(modules)}.map((m) => import(m))).then(() => ${idleForever})`,
    ],
    { stdio: 'ignore', cwd: repoRoot },
  )
const stackModules = [
  'dockerode',
  'better-sqlite3',
  'pino',
  'node-cron',
  'openid-client',
  'prom-client',
  'zod',
  'yaml',
  'commander',
]
const bare = spawn(process.execPath, ['-e', idleForever], { stdio: 'ignore' })
const dockerodeOnly = importing(['dockerode'])
const stackOnly = importing(stackModules)
let wd: Watchdog | undefined
try {
  const idle = idleWorkload()
  await runContainer({ name: idleName, image, cmd: idle.cmd, env: idle.env })
  wd = await Watchdog.start({
    config: observeConfig({ names: [idleName, busyName] }, { log: { level: 'info' } }),
  })
  const watchdog = wd
  await delay(warmupS * 1000)

  // Idle window: every process sampled each second; the daemon scraped every 15 s.
  const wdIdle = new ProcSampler(watchdog.pid).start()
  const bareIdle = new ProcSampler(bare.pid!).start()
  const dockerodeIdle = new ProcSampler(dockerodeOnly.pid!).start()
  const stackIdle = new ProcSampler(stackOnly.pid!).start()
  const scrapes = setInterval(() => void watchdog.scrape().catch(() => undefined), 15_000)
  await delay(windowS * 1000)
  clearInterval(scrapes)
  const idleSamples = wdIdle.stop()
  const bareSamples = bareIdle.stop()
  const rssDockerode = median(dockerodeIdle.stop().map((s) => s.rssBytes))
  const rssStack = median(stackIdle.stop().map((s) => s.rssBytes))
  const rssIdle = median(idleSamples.map((s) => s.rssBytes))
  const rssBare = median(bareSamples.map((s) => s.rssBytes))
  const cpuIdle = cpuPercent(idleSamples[0]!, idleSamples.at(-1)!)
  const bareCpu = cpuPercent(bareSamples[0]!, bareSamples.at(-1)!)

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
  figure('rss_vs_bare_node_ratio', rssIdle / rssBare, 2)
  figure('rss_dockerode_import_only_mb', mb(rssDockerode), 1)
  figure('rss_stack_imports_only_mb', mb(rssStack), 1)
  figure('rss_stack_imports_only_vs_bare_ratio', rssStack / rssBare, 2)
  figure('cpu_idle_pct', cpuIdle, 3)
  figure('cpu_bare_node_pct', bareCpu, 3)
  figure('cpu_busy_pct', cpuBusy, 1)
  figure('busy_lines_per_s', (linesAfter - linesBefore) / windowS, 0)
  figure('fds_idle', idleSamples.at(-1)!.fds)
  figure('fds_busy_max', Math.max(...busySamples.map((s) => s.fds)))
  figure('footprint_window_s', windowS)
  note(
    'rss: median of 1 s samples (idle), maximum (busy); cpu: user+system time / wall time, % of one core; ' +
      `stack imports: ${stackModules.join(', ')}`,
  )
  printMachine('machine at end')
} finally {
  for (const child of [bare, dockerodeOnly, stackOnly]) child.kill('SIGKILL')
  await wd?.stop()
  await removeBenchContainers()
}
