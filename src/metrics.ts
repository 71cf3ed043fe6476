// The watcher's Prometheus metrics, on the Registry the composition root passes in (never the global
// one). Conventions (docs/reference/conventions.md, "Prometheus"): prefix netbird_watchdog_, counters end in _total,
// timestamps in _timestamp_seconds, 0/1 gauges are explicit and stay present, every per-container
// series (and every rule of the catalogue) exists with 0 from the moment the container is known.
// Labels are low-cardinality: the container name and the rule id, never ids or messages.
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client'
import { ruleIds, type RuleId } from './core/rules.js'

const p = 'netbird_watchdog_'

export const healthStatuses = ['none', 'starting', 'healthy', 'unhealthy'] as const
export type HealthStatus = (typeof healthStatuses)[number]

export interface WatchMetrics {
  readonly restarts: Counter<'container'>
  readonly restartCount: Gauge<'container'>
  readonly up: Gauge<'container'>
  readonly lastExitCode: Gauge<'container'>
  readonly oomEvents: Counter<'container'>
  readonly deaths: Counter<'container'>
  readonly restartLoop: Gauge<'container'>
  readonly health: Gauge<'container' | 'status'>
  readonly findings: Counter<'container' | 'rule'>
  readonly lastFinding: Gauge<'container' | 'rule'>
  readonly logLines: Counter<'container'>
  readonly logTruncatedLines: Counter<'container'>
  readonly dockerUp: Gauge
  readonly dockerReconnects: Counter
  readonly targets: Gauge
  readonly buildInfo: Gauge<'version'>
  /** Creates every series of a container with 0 (idempotent). */
  addContainer(container: string): void
  setHealth(container: string, status: HealthStatus): void
}

export function createWatchMetrics(
  registry: Registry,
  options: { version: string; defaults?: boolean },
): WatchMetrics {
  const registers = [registry]
  if (options.defaults !== false) {
    // prom-client samples event-loop delay with a 10 ms timer by default: 100 wake-ups a second,
    // about 1 % of a core on an idle sidecar (measured by bench/footprint.ts), and every 100 ms still
    // cost a tenth of a percent. Once a second: a stall of a second or more always shows, a shorter
    // one when it covers a sample (BENCHMARKS.md, "Idle CPU").
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 })
  }
  const known = new Set<string>()
  const m = {
    restarts: new Counter({
      name: `${p}container_restarts_total`,
      help: 'Restarts of the container counted from Docker start events (restart policy, docker restart, docker start after a stop); unlike RestartCount it includes manual restarts.',
      labelNames: ['container'] as const,
      registers,
    }),
    restartCount: new Gauge({
      name: `${p}container_restart_count`,
      help: "Docker's own RestartCount of the container (restart-policy restarts only; resets when the container is recreated).",
      labelNames: ['container'] as const,
      registers,
    }),
    up: new Gauge({
      name: `${p}container_up`,
      help: 'Whether the container is running (1) or not (0: exited, restarting, created, missing).',
      labelNames: ['container'] as const,
      registers,
    }),
    lastExitCode: new Gauge({
      name: `${p}container_last_exit_code`,
      help: 'Exit code of the last time the container died.',
      labelNames: ['container'] as const,
      registers,
    }),
    oomEvents: new Counter({
      name: `${p}container_oom_events_total`,
      help: 'Runs of the container that ran out of memory (Docker oom events, at most one per run).',
      labelNames: ['container'] as const,
      registers,
    }),
    deaths: new Counter({
      name: `${p}container_deaths_total`,
      help: 'Times the container died (Docker die events).',
      labelNames: ['container'] as const,
      registers,
    }),
    restartLoop: new Gauge({
      name: `${p}restart_loop`,
      help: 'Whether the container is in a restart loop (1): enough deaths within the window, until it stays up (or down) for the stable period.',
      labelNames: ['container'] as const,
      registers,
    }),
    health: new Gauge({
      name: `${p}container_health_status`,
      help: 'Docker health status of the container as a state set (1 on the current status; none when it has no HEALTHCHECK).',
      labelNames: ['container', 'status'] as const,
      registers,
    }),
    findings: new Counter({
      name: `${p}log_findings_total`,
      help: 'Log lines of the container that matched a rule of the failure catalogue, by rule id (every rule present from the start).',
      labelNames: ['container', 'rule'] as const,
      registers,
    }),
    lastFinding: new Gauge({
      name: `${p}last_finding_timestamp_seconds`,
      help: 'Unix time of the last log line of the container that matched the rule (absent until the first one).',
      labelNames: ['container', 'rule'] as const,
      registers,
    }),
    logLines: new Counter({
      name: `${p}log_lines_total`,
      help: 'Log lines of the container read and classified (stdout and stderr).',
      labelNames: ['container'] as const,
      registers,
    }),
    logTruncatedLines: new Counter({
      name: `${p}log_truncated_lines_total`,
      help: 'Log lines of the container longer than 64 KiB; only their first 64 KiB were classified.',
      labelNames: ['container'] as const,
      registers,
    }),
    dockerUp: new Gauge({
      name: `${p}docker_up`,
      help: 'Whether the Docker engine answers (1) or not (0).',
      registers,
    }),
    dockerReconnects: new Counter({
      name: `${p}docker_reconnects_total`,
      help: 'Times the watcher reconnected to the Docker engine after losing it.',
      registers,
    }),
    targets: new Gauge({
      name: `${p}targets`,
      help: 'Containers currently selected as targets (existing, running or not).',
      registers,
    }),
    buildInfo: new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the version label is the running netbird-watchdog version.',
      labelNames: ['version'] as const,
      registers,
    }),
    addContainer(container: string): void {
      if (known.has(container)) return
      known.add(container)
      const c = { container }
      m.restarts.inc(c, 0)
      m.restartCount.set(c, 0)
      m.up.set(c, 0)
      m.lastExitCode.set(c, 0)
      m.oomEvents.inc(c, 0)
      m.deaths.inc(c, 0)
      m.restartLoop.set(c, 0)
      m.logLines.inc(c, 0)
      m.logTruncatedLines.inc(c, 0)
      for (const rule of ruleIds) m.findings.inc({ container, rule: rule satisfies RuleId }, 0)
      m.setHealth(container, 'none')
    },
    setHealth(container: string, status: HealthStatus): void {
      for (const s of healthStatuses) m.health.set({ container, status: s }, s === status ? 1 : 0)
    },
  }
  m.dockerUp.set(0)
  m.targets.set(0)
  m.buildInfo.set({ version: options.version }, 1)
  return m
}
