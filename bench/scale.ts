// Benchmark (not a test): 20 targets restart-looping at once (NetBird's fatal line, exit 1, under
// `--restart unless-stopped`, so Docker's own backoff paces them) for 2 minutes. The engine's
// events, recorded live, are the reference: every restart counted exactly once
// (`restarts_counted_vs_engine` must be 1.0), every fatal line found once; and the watchdog's CPU.
// Usage: npm run bench:scale [-- --containers 20] [-- --seconds 120] [-- --quick]
import {
  busyboxImage,
  docker,
  EventRecorder,
  removeBenchContainers,
  removeStaleBenchContainers,
  requireEngine,
  runContainer,
} from './lib/containers.js'
import { sumOf } from './lib/metrics-text.js'
import { cpuPercent, mb, ProcSampler } from './lib/proc.js'
import { argNumber, figure, hasFlag, note, printMachine } from './lib/report.js'
import { delay, observeConfig, Watchdog } from './lib/watchdog.js'
import { crashWorkload } from './lib/workloads.js'

const quick = hasFlag('quick')
const count = argNumber('containers', 20)
const seconds = argNumber('seconds', quick ? 30 : 120)
const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
const run = Date.now().toString(36)
const label = `netbird-watchdog.bench.scale=${run}`
const names = Array.from({ length: count }, (_, i) => `nbw-bench-scale-${run}-${i}`)

await requireEngine([image])
await removeStaleBenchContainers()
printMachine()

let wd: Watchdog | undefined
let recorder: EventRecorder | undefined
try {
  wd = await Watchdog.start({
    config: observeConfig({ label }),
    keep: () => false,
    waitReady: false,
  })
  const watchdog = wd
  recorder = await EventRecorder.start([`label=${label}`])
  const sampler = new ProcSampler(watchdog.pid).start()
  const crash = crashWorkload()
  const started = Date.now()
  await Promise.all(
    names.map((name) =>
      runContainer({
        name,
        image,
        cmd: crash.cmd,
        env: crash.env,
        labels: [label],
        restart: 'unless-stopped',
      }),
    ),
  )
  await delay(Math.max(0, seconds * 1000 - (Date.now() - started)))
  // End the loops: `docker stop` cancels a pending policy restart too. Nothing restarts after this.
  await docker(['stop', '-t', '1', ...names])
  const samples = sampler.stop()
  const loopSeconds = (Date.now() - started) / 1000

  // Settle: the watchdog has seen every death the engine reported, and the numbers stop moving.
  const engineDies = (): number => recorder!.count('die')
  const deadline = Date.now() + 60_000
  let scraped = await watchdog.scrape()
  let last = ''
  let stableSince = Date.now()
  while (Date.now() < deadline) {
    const key = JSON.stringify([
      sumOf(scraped, 'netbird_watchdog_container_restarts_total'),
      sumOf(scraped, 'netbird_watchdog_log_findings_total'),
      engineDies(),
    ])
    if (key !== last) {
      last = key
      stableSince = Date.now()
    } else if (Date.now() - stableSince > 3000) break
    await delay(250)
    scraped = await watchdog.scrape()
  }
  await recorder.stop()

  // A restart is a start that follows a death of the same container: starts - 1 per container.
  const engineRestarts = names.reduce(
    (sum, n) => sum + Math.max(0, recorder!.count('start', n) - 1),
    0,
  )
  const seenRestarts = names.reduce(
    (sum, n) => sum + sumOf(scraped, 'netbird_watchdog_container_restarts_total', { container: n }),
    0,
  )
  const engineFatal = recorder.count('die')
  const seenFindings = names.reduce(
    (sum, n) =>
      sum +
      sumOf(scraped, 'netbird_watchdog_log_findings_total', {
        container: n,
        rule: 'oidc-issuer-mismatch',
      }),
    0,
  )
  const perContainerMismatch = names.filter(
    (n) =>
      sumOf(scraped, 'netbird_watchdog_container_restarts_total', { container: n }) !==
      Math.max(0, recorder!.count('start', n) - 1),
  ).length

  figure('scale_containers', count)
  figure('scale_seconds', loopSeconds, 0)
  figure('restarts_engine', engineRestarts)
  figure('restarts_counted', seenRestarts)
  figure('restarts_counted_vs_engine', engineRestarts > 0 ? seenRestarts / engineRestarts : 0, 3)
  figure('containers_miscounted', perContainerMismatch)
  figure('deaths_engine', engineFatal)
  figure('fatal_findings_counted', seenFindings)
  figure('findings_vs_deaths_ratio', engineFatal > 0 ? seenFindings / engineFatal : 0, 3)
  figure('scale_cpu_pct', cpuPercent(samples[0]!, samples.at(-1)!), 1)
  figure('scale_rss_max_mb', mb(Math.max(...samples.map((s) => s.rssBytes))), 1)
  note(
    'restarts_engine: per container, `start` events after the first (docker events, recorded live)',
  )
  note('cpu: the watchdog process, user+system time over the loop window, % of one core')
  printMachine('machine at end')
} finally {
  await recorder?.stop()
  await wd?.stop()
  await removeBenchContainers()
}
