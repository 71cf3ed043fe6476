// Benchmark (not a test): time to detect, against the floor the Docker engine allows, in one run.
// Crash loop (NetBird up to v0.65.1): a container prints NetBird's exact fatal line and exits 1, again
// and again (started by this bench at random intervals); for each event:
//   written   the engine's own timestamp of the line (json-file log driver, `docker logs --timestamps`)
//   finding   the watchdog's log record of the finding (its `time`)
//   metrics   the first /metrics scrape (every 20 ms) whose log_findings_total counts the event
//   poll5s    the first `docker inspect` of a poller running every 5 s (autoheal's default interval)
//             whose State.FinishedAt shows the container exited after writing the line
//   floor     a reference follower (bench/lib/log-floor.ts: dockerode, no classification) that
//             attaches on each `start` event, as the daemon does: when the line reaches it.
// Running (NetBird v0.65.2+, where a failed connector no longer stops management): at the same time,
// a container that stays up logs the `ERRO … server: Failed to open connector` line at random
// intervals; the daemon's finding and a reference follower attached once are both timed per line.
// Ratios: the daemon's p95 over the floor's p95, same lines, same run. With a second runtime set
// (bench/lib/runtime.ts), a second daemon on it watches the same containers: the `_node20` figures.
// Usage: npm run bench:ttd [-- --events 60] [-- --quick]
import { mkdirSync } from 'node:fs'
import {
  busyboxImage,
  docker,
  inspectState,
  parseNanoTime,
  removeBenchContainers,
  removeStaleBenchContainers,
  requireEngine,
  runContainer,
  timestampedLogs,
} from './lib/containers.js'
import { sumOf } from './lib/metrics-text.js'
import { writeCdfPlot } from './lib/plot.js'
import { prng } from './lib/fuzz-lines.js'
import { delayOf, FloorFollower } from './lib/log-floor.js'
import { argNumber, figure, hasFlag, note, percentile, printMachine } from './lib/report.js'
import { compareRuntime, named, shippedRuntime, type Runtime } from './lib/runtime.js'
import { delay, observeConfig, repoRoot, Watchdog, type LogRecord } from './lib/watchdog.js'
import { crashWorkload, erroLine, fatalLine } from './lib/workloads.js'

const quick = hasFlag('quick')
const events = argNumber('events', quick ? 10 : 60)
const pollIntervalMs = 5000
const scrapeIntervalMs = 20
const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
const name = `nbw-bench-ttd-${Date.now().toString(36)}`
const runningName = `${name}-up`
const rule = 'oidc-issuer-mismatch'
const runningRule = 'connector-open-failed'
const rand = prng(8)

/** The watchdog's log record for a finding of `rule` on `container`. */
function isFinding(r: LogRecord): boolean {
  return r.msg === 'finding' && r.rule === rule && r.container === name
}
function isRunningFinding(r: LogRecord): boolean {
  return r.msg === 'finding' && r.rule === runningRule && r.container === runningName
}

/** Per line, matched by the engine's timestamp: the first arrival's delay, in the order written. */
function delaysOf(
  arrivals: readonly { ts: string; at: number }[],
  written: readonly string[],
): number[] {
  const byTs = new Map(arrivals.map((a) => [a.ts, a]))
  return written.flatMap((ts) => {
    const a = byTs.get(ts)
    return a ? [delayOf({ ...a, text: '' })] : []
  })
}

await requireEngine([image])
await removeStaleBenchContainers()
printMachine()

const crash = crashWorkload()
await runContainer({ name, image, cmd: crash.cmd, env: crash.env, createOnly: true })
// The running target: a 3 s pause (every follower attached), then the ERRO line at random intervals.
const runningDelays = Array.from({ length: events }, () => (0.3 + rand() * 1.2).toFixed(3))
await runContainer({
  name: runningName,
  image,
  cmd: ['sh', '-c', 'sleep 3; for d in $DELAYS; do sleep $d; echo "$ERRO"; done; exec sleep 86400'],
  env: { DELAYS: runningDelays.join(' '), ERRO: erroLine },
  createOnly: true,
})
let wd: Watchdog | undefined
let wdOther: Watchdog | undefined
let stopping = false
const floors: FloorFollower[] = []
try {
  const other = compareRuntime()
  const start = (runtime: Runtime): Promise<Watchdog> =>
    Watchdog.start({
      config: observeConfig({ names: [name, runningName] }),
      keep: (r) => isFinding(r) || isRunningFinding(r),
      runtime,
    })
  wd = await start(shippedRuntime)
  const watchdog = wd
  if (other) {
    wdOther = await start(other)
    note(`compared runtime: ${other.node} ${other.version} on ${other.root}`)
  }
  const startFloor = await FloorFollower.onStart(name)
  floors.push(startFloor)
  await docker(['start', runningName])
  const runningFloor = await FloorFollower.running(runningName)
  floors.push(runningFloor)

  // /metrics watcher: (time the scrape answered, counter value) whenever the value changes.
  const metricSeen: { at: number; value: number }[] = []
  const scraper = (async () => {
    let last = -1
    while (!stopping) {
      const samples = await watchdog.scrape()
      const at = Date.now()
      const value = sumOf(samples, 'netbird_watchdog_log_findings_total', { container: name, rule })
      if (value !== last) {
        metricSeen.push({ at, value })
        last = value
      }
      await delay(scrapeIntervalMs)
    }
  })()

  // The polling design, on the same events: what `docker inspect` every 5 s shows.
  const polls: { began: number; at: number; finishedAt: number }[] = []
  const poller = (async () => {
    while (!stopping) {
      const began = Date.now()
      const next = began + pollIntervalMs
      const state = await inspectState(name)
      polls.push({ began, at: Date.now(), finishedAt: parseNanoTime(state.finishedAt) })
      await delay(Math.max(0, next - Date.now()))
    }
  })()

  const baseline = metricSeen.at(-1)?.value ?? 0
  for (let i = 0; i < events; i++) {
    await delay(1500 + rand() * 2500)
    await docker(['start', name])
  }
  // Let the last event be seen by the watchdog and by a poll that began after it.
  for (const w of [watchdog, ...(wdOther ? [wdOther] : [])]) {
    await w.waitRecord(() => w.records.filter(isFinding).length >= events, 30_000)
    await w.waitRecord(() => w.records.filter(isRunningFinding).length >= events, 60_000)
  }
  await docker(['wait', name])
  const lastExit = Date.now()
  while (!polls.some((p) => p.began > lastExit)) await delay(100)
  stopping = true
  await Promise.all([scraper, poller])

  const written = (await timestampedLogs(name)).filter((l) => l.text === fatalLine).map((l) => l.at)
  const findings = watchdog.records.filter(isFinding).map((r) => Date.parse(r.time))
  if (written.length !== events || findings.length !== events) {
    note(`event count mismatch: written ${written.length}, findings ${findings.length}`)
  }
  const n = Math.min(written.length, findings.length)
  const ttdFinding: number[] = []
  const ttdMetrics: number[] = []
  const ttdPoll: number[] = []
  let merged = 0
  for (let i = 0; i < n; i++) {
    const w = written[i]!
    ttdFinding.push(findings[i]! - w)
    const m = metricSeen.find((s) => s.value >= baseline + i + 1)
    if (m) ttdMetrics.push(m.at - w)
    // A poll shows this event once State.FinishedAt is at or after the line was written (the
    // container exits right after writing it, and the next event is written >= 1.5 s later).
    const p = polls.find((q) => q.finishedAt >= w)
    if (p) {
      ttdPoll.push(p.at - w)
      if (i + 1 < n && p.finishedAt >= written[i + 1]!) merged++
    }
  }

  figure('ttd_events', n)
  figure('ttd_p50_ms', percentile(ttdFinding, 50), 1)
  figure('ttd_p95_ms', percentile(ttdFinding, 95), 1)
  figure('ttd_max_ms', Math.max(...ttdFinding), 1)
  figure('ttd_metrics_p50_ms', percentile(ttdMetrics, 50), 1)
  figure('ttd_metrics_p95_ms', percentile(ttdMetrics, 95), 1)
  figure('poll5s_p50_ms', percentile(ttdPoll, 50), 0)
  figure('poll5s_p95_ms', percentile(ttdPoll, 95), 0)
  figure('poll5s_events_merged', merged)
  figure('ttd_vs_poll5s_ratio', percentile(ttdFinding, 50) / percentile(ttdPoll, 50), 4)
  figure('ttd_p95_vs_poll5s_p95_ratio', percentile(ttdFinding, 95) / percentile(ttdPoll, 95), 4)
  note(
    `written = engine log timestamp; finding = watchdog log time; metrics scraped every ${scrapeIntervalMs} ms; ` +
      'poll5s_events_merged = events a 5 s poller saw only as part of a later crash',
  )

  // The floors: the same lines, as the reference followers received them.
  const writtenTs = (await timestampedLogs(name)).filter((l) => l.text === fatalLine)
  const floorStart = delaysOf(
    startFloor.of(fatalLine),
    writtenTs.map((l) => l.ts),
  )
  const running = (await timestampedLogs(runningName)).filter((l) => l.text === erroLine)
  const floorRunning = delaysOf(
    runningFloor.of(erroLine),
    running.map((l) => l.ts),
  )
  const runningTtd = (w: Watchdog): number[] => {
    const found = w.records.filter(isRunningFinding).map((r) => Date.parse(r.time))
    return running.slice(0, found.length).map((l, i) => found[i]! - l.at)
  }
  const ttdRunning = runningTtd(watchdog)
  if (floorStart.length !== n || floorRunning.length !== running.length) {
    note(
      `floor lines missing: start ${floorStart.length} of ${n}, running ${floorRunning.length} of ${running.length}`,
    )
  }
  figure('log_floor_start_p50_ms', percentile(floorStart, 50), 1)
  figure('log_floor_start_p95_ms', percentile(floorStart, 95), 1)
  figure('ttd_vs_start_floor_p95_ratio', percentile(ttdFinding, 95) / percentile(floorStart, 95), 2)
  // Paired, event by event: what the daemon adds to the floor (its own work, and the scheduling of
  // one more process); the p95 ratio above also carries the engine's own spread.
  const floorByTs = new Map(startFloor.of(fatalLine).map((a) => [a.ts, delayOf(a)]))
  const over = writtenTs.slice(0, n).flatMap((l, i) => {
    const floor = floorByTs.get(l.ts)
    return floor === undefined ? [] : [ttdFinding[i]! - floor]
  })
  figure('ttd_over_start_floor_p5_ms', percentile(over, 5), 1)
  figure('ttd_over_start_floor_p50_ms', percentile(over, 50), 1)
  figure('ttd_over_start_floor_p95_ms', percentile(over, 95), 1)
  note(
    'target: ttd_vs_start_floor_p95_ratio <= 1.2 (the crash-loop case; ttd_p95_ms over the floor)',
  )
  figure('ttd_running_events', ttdRunning.length)
  figure('log_floor_running_p50_ms', percentile(floorRunning, 50), 2)
  figure('log_floor_running_p95_ms', percentile(floorRunning, 95), 2)
  figure('ttd_running_p50_ms', percentile(ttdRunning, 50), 2)
  figure('ttd_running_p95_ms', percentile(ttdRunning, 95), 2)
  figure(
    'ttd_running_vs_floor_p95_ratio',
    percentile(ttdRunning, 95) / percentile(floorRunning, 95),
    2,
  )
  note(
    'target: ttd_running_vs_floor_p95_ratio <= 2 (a container that stays up, NetBird v0.65.2+; ' +
      'finding times have 1 ms resolution, the floor sub-millisecond)',
  )
  if (wdOther && other) {
    // The same events and lines, seen by the same code on the other runtime.
    const found = wdOther.records.filter(isFinding).map((r) => Date.parse(r.time))
    const ttdOther = written.slice(0, found.length).map((w, i) => found[i]! - w)
    const runningOther = runningTtd(wdOther)
    figure(named('ttd_p50_ms', other), percentile(ttdOther, 50), 1)
    figure(named('ttd_p95_ms', other), percentile(ttdOther, 95), 1)
    figure(
      named('ttd_vs_start_floor_p95_ratio', other),
      percentile(ttdOther, 95) / percentile(floorStart, 95),
      2,
    )
    figure(named('ttd_running_p50_ms', other), percentile(runningOther, 50), 2)
    figure(named('ttd_running_p95_ms', other), percentile(runningOther, 95), 2)
    figure(
      named('ttd_running_vs_floor_p95_ratio', other),
      percentile(runningOther, 95) / percentile(floorRunning, 95),
      2,
    )
  }

  // The committed plot (bench/results, shown in BENCHMARKS.md) comes from full runs only; a --quick
  // smoke run writes its plot under bench/out (ignored) instead of overwriting it.
  const resultsDir = quick ? `${repoRoot}bench/out` : `${repoRoot}bench/results`
  mkdirSync(resultsDir, { recursive: true })
  mkdirSync(`${repoRoot}bench/out`, { recursive: true })
  const png = writeCdfPlot(
    {
      title: 'Time to detect NetBird’s fatal line (container wrote it → detected)',
      subtitle: `${n} crash events on the local Docker engine, ${new Date().toISOString().slice(0, 16)}Z`,
      series: [
        { label: 'watchdog finding (log stream)', values: ttdFinding, color: '#1f77b4' },
        { label: 'floor: bare follower attached on start', values: floorStart, color: '#7f7f7f' },
        { label: 'visible on /metrics', values: ttdMetrics, color: '#2ca02c' },
        { label: 'docker inspect poll every 5 s', values: ttdPoll, color: '#ff7f0e' },
      ],
      markers: [{ at: 250, label: 'target: p95 ≤ 250 ms' }],
    },
    `${resultsDir}/ttd-latency.png`,
    `${repoRoot}bench/out/ttd-latency.svg`,
  )
  note(`plot: ${png.slice(repoRoot.length)}`)
  printMachine('machine at end')
} finally {
  stopping = true
  for (const f of floors) f.stop()
  await wdOther?.stop()
  await wd?.stop()
  await removeBenchContainers()
}
