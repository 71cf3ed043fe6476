// The watcher's Prometheus metrics, on the Registry the composition root passes in (never the global
// one). Conventions (docs/reference/conventions.md, "Prometheus"): prefix netbird_watchdog_, counters end in _total,
// timestamps in _timestamp_seconds, 0/1 gauges are explicit and stay present, every per-container
// series (and every rule of the catalogue) exists with 0 from the moment the container is known.
// Labels are low-cardinality: the container name and the rule id, never ids or messages.
// Counters count events: the watcher increments them where the event happens. The gauges mirror what
// the watcher knows (the engine, the targets, each container by name), and read it at scrape time from
// its WatchState (prom-client `collect()`): nothing copies state into them. Which containers have
// series comes from the same state, counters included.
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { Counter, Gauge, type Registry } from 'prom-client'
import { ruleIds, type RuleId } from './core/rules.js'

const p = 'netbird_watchdog_'

export const healthStatuses = ['none', 'starting', 'healthy', 'unhealthy'] as const
export type HealthStatus = (typeof healthStatuses)[number]

/** What the watcher knows of one container, by name (a container recreated under it continues it). */
export interface ContainerState {
  readonly container: string
  /** A target of this name runs now (false once it stopped, went, or was renamed). */
  readonly up: boolean
  /** Docker's own RestartCount, as last inspected. */
  readonly restartCount: number
  readonly lastExitCode: number
  readonly health: HealthStatus
  readonly restartLoop: boolean
  /** Unix time in seconds of the last log line that matched each rule (rules not seen yet: absent). */
  readonly lastFindings: ReadonlyMap<RuleId, number>
}

/** The watcher's state as the gauges read it (docker/watcher.ts `state()`). */
export interface WatchState {
  readonly dockerUp: boolean
  /** Containers selected as targets now. */
  readonly targets: number
  /**
   * Every container known by name: the named targets from the start, and every target seen since; a
   * container that went stays (its series stay, container_up 0).
   */
  readonly containers: readonly ContainerState[]
}

export interface WatchMetrics {
  readonly restarts: Counter<'container'>
  readonly oomEvents: Counter<'container'>
  readonly deaths: Counter<'container'>
  readonly findings: Counter<'container' | 'rule'>
  readonly logLines: Counter<'container'>
  readonly logTruncatedLines: Counter<'container'>
  readonly dockerReconnects: Counter
  /** Where the gauges read the watcher's state at scrape time (until set: no engine, nothing known). */
  collectFrom(state: () => WatchState): void
}

/**
 * prom-client's default metrics (the list in its lib/defaultMetrics.js, 15.x), all but the
 * event-loop delay histogram, which is the one part of them that costs an idle daemon anything: a
 * timer that wakes it (every 10 ms by default, once a second here before), a 360 KB histogram, and a
 * third of a millisecond of every scrape reading its standard deviation (BENCHMARKS.md, "Idle CPU").
 * In its place two readings that need no timer: the loop's utilisation since the previous scrape,
 * and its lag at the scrape, as prom-client measures it.
 */
const processMetricModules = [
  'processCpuTotal',
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const

function collectProcessMetrics(registry: Registry): void {
  const load = createRequire(import.meta.url)
  for (const name of processMetricModules) {
    const register = load(`prom-client/lib/metrics/${name}.js`) as (
      registry: Registry,
      config: Record<string, never>,
    ) => void
    register(registry, {})
  }
  let previous = performance.eventLoopUtilization()
  new Gauge({
    name: 'nodejs_eventloop_utilization',
    help: 'Fraction of the time since the previous scrape the event loop was busy (0 to 1).',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, previous).utilization)
      previous = now
    },
  })
  const lag = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds (measured at the previous scrape).',
    registers: [registry],
    collect() {
      const start = performance.now()
      setImmediate(() => lag.set((performance.now() - start) / 1000))
    },
  })
}

const nothingKnown: WatchState = { dockerUp: false, targets: 0, containers: [] }

export function createWatchMetrics(
  registry: Registry,
  options: { version: string; defaults?: boolean },
): WatchMetrics {
  const registers = [registry]
  if (options.defaults !== false) collectProcessMetrics(registry)
  let state: () => WatchState = () => nothingKnown
  const known = (): readonly ContainerState[] => state().containers

  /** A counter of a container's events; each known container's series is there, at 0, before the first. */
  const counted = (name: string, help: string): Counter<'container'> =>
    new Counter({
      name,
      help,
      labelNames: ['container'] as const,
      registers,
      collect() {
        for (const c of known()) this.inc({ container: c.container }, 0)
      },
    })
  /** A gauge of each known container, read from the state (a container no longer known leaves it). */
  const mirrored = (name: string, help: string, value: (c: ContainerState) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['container'] as const,
      registers,
      collect() {
        this.reset()
        for (const c of known()) this.set({ container: c.container }, value(c))
      },
    })
  }

  const restarts = counted(
    `${p}container_restarts_total`,
    'Restarts of the container counted from Docker start events (restart policy, docker restart, docker start after a stop); unlike RestartCount it includes manual restarts.',
  )
  mirrored(
    `${p}container_restart_count`,
    "Docker's own RestartCount of the container (restart-policy restarts only; resets when the container is recreated).",
    (c) => c.restartCount,
  )
  mirrored(
    `${p}container_up`,
    'Whether the container is running (1) or not (0: exited, restarting, created, missing).',
    (c) => (c.up ? 1 : 0),
  )
  mirrored(
    `${p}container_last_exit_code`,
    'Exit code of the last time the container died.',
    (c) => c.lastExitCode,
  )
  const oomEvents = counted(
    `${p}container_oom_events_total`,
    'Runs of the container that ran out of memory (Docker oom events, at most one per run).',
  )
  const deaths = counted(
    `${p}container_deaths_total`,
    'Times the container died (Docker die events).',
  )
  mirrored(
    `${p}restart_loop`,
    'Whether the container is in a restart loop (1): enough deaths within the window, until it stays up (or down) for the stable period.',
    (c) => (c.restartLoop ? 1 : 0),
  )
  new Gauge({
    name: `${p}container_health_status`,
    help: 'Docker health status of the container as a state set (1 on the current status; none when it has no HEALTHCHECK).',
    labelNames: ['container', 'status'] as const,
    registers,
    collect() {
      this.reset()
      for (const c of known()) {
        for (const status of healthStatuses) {
          this.set({ container: c.container, status }, status === c.health ? 1 : 0)
        }
      }
    },
  })
  const findings = new Counter({
    name: `${p}log_findings_total`,
    help: 'Log lines of the container that matched a rule of the failure catalogue, by rule id (every rule present from the start).',
    labelNames: ['container', 'rule'] as const,
    registers,
    collect() {
      for (const c of known()) {
        for (const rule of ruleIds) this.inc({ container: c.container, rule }, 0)
      }
    },
  })
  new Gauge({
    name: `${p}last_finding_timestamp_seconds`,
    help: 'Unix time of the last log line of the container that matched the rule (absent until the first one).',
    labelNames: ['container', 'rule'] as const,
    registers,
    collect() {
      this.reset()
      for (const c of known()) {
        for (const [rule, at] of c.lastFindings) this.set({ container: c.container, rule }, at)
      }
    },
  })
  const logLines = counted(
    `${p}log_lines_total`,
    'Log lines of the container read and classified (stdout and stderr).',
  )
  const logTruncatedLines = counted(
    `${p}log_truncated_lines_total`,
    'Log lines of the container longer than 64 KiB; only their first 64 KiB were classified.',
  )
  new Gauge({
    name: `${p}docker_up`,
    help: 'Whether the Docker engine answers (1) or not (0).',
    registers,
    collect() {
      this.set(state().dockerUp ? 1 : 0)
    },
  })
  const dockerReconnects = new Counter({
    name: `${p}docker_reconnects_total`,
    help: 'Times the watcher reconnected to the Docker engine after losing it.',
    registers,
  })
  new Gauge({
    name: `${p}targets`,
    help: 'Containers currently selected as targets (existing, running or not).',
    registers,
    collect() {
      this.set(state().targets)
    },
  })
  new Gauge({
    name: `${p}build_info`,
    help: 'Always 1; the version label is the running netbird-watchdog version.',
    labelNames: ['version'] as const,
    registers,
  }).set({ version: options.version }, 1)
  return {
    restarts,
    oomEvents,
    deaths,
    findings,
    logLines,
    logTruncatedLines,
    dockerReconnects,
    collectFrom(read) {
      state = read
    },
  }
}
