// Soak: a target restart-looping (fatal line and exit 1 every 20 s under `--restart unless-stopped`)
// while logging 1,000 lines/s, one finding per second among them, for N minutes. Figures: RSS growth
// (median of the first window after warm-up against the last), descriptor growth, and the watchdog's
// lines, findings and restarts against the engine's own record (no missed findings).
import {
  busyboxImage,
  docker,
  EventRecorder,
  removeBenchContainers,
  runContainer,
} from '../lib/containers.js'
import { sumOf } from '../lib/metrics-text.js'
import { classifyContainerLogs } from '../lib/oracle.js'
import { mb, ProcSampler } from '../lib/proc.js'
import { figure, median, note } from '../lib/report.js'
import { delay, observeConfig, Watchdog } from '../lib/watchdog.js'
import { floodWorkload } from '../lib/workloads.js'

export interface FloodResult {
  ok: boolean
}

export async function soakFlood(minutes: number): Promise<FloodResult> {
  const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
  const name = `nbw-soak-flood-${Date.now().toString(36)}`
  const start = Date.now()
  const flood = floodWorkload({ linesPerSecond: 1000, upSeconds: 20, erroEvery: 1000 })
  let wd: Watchdog | undefined
  try {
    wd = await Watchdog.start({
      config: observeConfig({ names: [name] }),
      waitReady: false,
    })
    const watchdog = wd
    const recorder = await EventRecorder.start([`container=${name}`])
    await runContainer({
      name,
      image,
      cmd: flood.cmd,
      env: flood.env,
      restart: 'unless-stopped',
    })
    const sampler = new ProcSampler(watchdog.pid, 5000).start()
    const totalMs = minutes * 60_000
    let nextReport = Date.now() + 60_000
    while (Date.now() - start < totalMs) {
      await delay(1000)
      if (watchdog.exit) break
      if (Date.now() >= nextReport) {
        const s = sampler.samples.at(-1)!
        note(
          `soak ${((Date.now() - start) / 60_000).toFixed(1)} min: rss ${mb(s.rssBytes).toFixed(1)} MB, fds ${s.fds}`,
        )
        nextReport += 60_000
      }
    }
    // Stop the loop (`docker stop` also cancels a pending policy restart), then let the watchdog
    // drain its stream.
    await docker(['stop', '-t', '1', name])
    const samples = sampler.stop()
    const oracle = await classifyContainerLogs(name)
    const seen = await settle(watchdog, name, oracle.lines)
    await recorder.stop()
    const restartsEngine = recorder.count('start')
    const restartsSeen = sumOf(seen, 'netbird_watchdog_container_restarts_total', {
      container: name,
    })

    // Windows: after a warm-up of 10 % (at least 1 min when the soak allows), first and last 10 %.
    const span = samples.at(-1)!.at - samples[0]!.at
    const warm = samples[0]!.at + Math.max(span * 0.1, Math.min(60_000, span * 0.25))
    const firstWin = samples.filter((s) => s.at >= warm && s.at < warm + span * 0.1)
    const lastWin = samples.filter((s) => s.at >= samples.at(-1)!.at - span * 0.1)
    const rssFirst = median(firstWin.map((s) => s.rssBytes))
    const rssLast = median(lastWin.map((s) => s.rssBytes))
    const fdsFirst = median(firstWin.map((s) => s.fds))
    const fdsLast = median(lastWin.map((s) => s.fds))
    const findingsSeen = sumOf(seen, 'netbird_watchdog_log_findings_total', { container: name })
    const linesSeen = sumOf(seen, 'netbird_watchdog_log_lines_total', { container: name })
    const growth = ((rssLast - rssFirst) / rssFirst) * 100

    figure('soak_minutes', (Date.now() - start) / 60_000, 1)
    figure('soak_lines_engine', oracle.lines)
    figure('soak_lines_seen', linesSeen)
    figure('soak_lines_per_s', oracle.lines / (span / 1000), 0)
    figure('soak_findings_engine', oracle.findings)
    figure('soak_findings_seen', findingsSeen)
    figure('soak_missed_findings', oracle.findings - findingsSeen)
    // A restart is a start after the container's first (the watchdog's definition).
    figure('soak_restarts_engine', restartsEngine - 1)
    figure('soak_restarts_seen', restartsSeen)
    figure('soak_rss_first_mb', mb(rssFirst), 1)
    figure('soak_rss_last_mb', mb(rssLast), 1)
    figure('soak_rss_max_mb', mb(Math.max(...samples.map((s) => s.rssBytes))), 1)
    figure('soak_rss_growth_pct', growth, 1)
    figure('soak_fds_first', fdsFirst)
    figure('soak_fds_last', fdsLast)
    figure('soak_watchdog_alive', watchdog.exit ? 0 : 1)
    const ok =
      !watchdog.exit &&
      growth < 10 &&
      fdsLast <= fdsFirst &&
      findingsSeen === oracle.findings &&
      restartsSeen === restartsEngine - 1 &&
      linesSeen === oracle.lines
    return { ok }
  } finally {
    await wd?.stop()
    await removeBenchContainers()
  }
}

/** Waits until the watchdog's line count for `container` reaches `lines` and stops moving. */
async function settle(
  watchdog: Watchdog,
  container: string,
  lines: number,
): Promise<Awaited<ReturnType<Watchdog['scrape']>>> {
  const deadline = Date.now() + 120_000
  let last = -1
  let stableSince = Date.now()
  for (;;) {
    const samples = await watchdog.scrape()
    const seen = sumOf(samples, 'netbird_watchdog_log_lines_total', { container })
    if (seen !== last) {
      last = seen
      stableSince = Date.now()
    }
    if ((seen >= lines && Date.now() - stableSince > 2000) || Date.now() > deadline) return samples
    if (Date.now() - stableSince > 20_000) return samples
    await delay(250)
  }
}
