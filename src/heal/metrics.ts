// Self-healing metrics, registered on the Registry the composition root passes in (never the global one).
// Conventions (docs/reference/conventions.md, "Prometheus"): counters end in _total, failures are their own counter,
// 0/1 state gauges stay present with 0, every label set the alerts use is initialised up front.
import { Counter, Gauge, type Registry } from 'prom-client'
import { modes, type Mode } from '../core/mode.js'
import { skipReasons } from '../core/heal-decision.js'
import { evidenceKinds } from '../core/recovery.js'
import type { StoreEngine } from '../store/port.js'

export const repairResults = ['success', 'rolled_back', 'failed', 'unconfirmed'] as const
export type RepairResultLabel = (typeof repairResults)[number]

export const checkNames = ['doctor', 'issuer-drift', 'backup', 'integrity'] as const
export type CheckName = (typeof checkNames)[number]

export const jobNames = ['doctor', 'backup', 'integrity'] as const
export type JobName = (typeof jobNames)[number]

const p = 'netbird_watchdog_'

export interface HealMetrics {
  readonly repairs: Counter<'container' | 'result'>
  readonly repairFailures: Counter<'container'>
  readonly rollbacks: Counter<'container'>
  readonly rollbackEvidence: Counter<'container' | 'evidence'>
  readonly repairsSkipped: Counter<'container' | 'reason'>
  readonly breakerOpen: Gauge<'container'>
  readonly lastRepair: Gauge
  readonly backups: Counter
  readonly backupFailures: Counter
  readonly lastBackup: Gauge
  readonly lastBackupSize: Gauge
  readonly checkSuccess: Gauge<'check'>
  readonly checkDuration: Gauge<'check'>
  readonly mode: Gauge<'mode'>
  readonly scheduledRuns: Counter<'task'>
  readonly scheduledRunsSkipped: Counter<'task'>
  readonly storeInfo: Gauge<'engine'>
  readonly storeUp: Gauge
  /** Initialise every series of a target, so alerts see 0 rather than nothing. */
  addTarget(container: string): void
  /**
   * Where breaker_open reads each target's breaker at scrape time (the healer): a breaker closes by
   * itself when its cooldown ends, with no event to set a gauge.
   */
  breakersFrom(read: () => ReadonlyArray<{ container: string; open: boolean }>): void
}

/** `engine`: the IdP store's engine, exported as idp_store_info (the daemon always knows it). */
export function createHealMetrics(
  registry: Registry,
  mode: Mode,
  engine?: StoreEngine,
): HealMetrics {
  const registers = [registry]
  let readBreakers: () => ReadonlyArray<{ container: string; open: boolean }> = () => []
  const m = {
    repairs: new Counter({
      name: `${p}repairs_total`,
      help: 'Self-healing repairs of the IdP store (idp.db or PostgreSQL) finished, by container and result (success, rolled_back, failed, unconfirmed).',
      labelNames: ['container', 'result'] as const,
      registers,
    }),
    repairFailures: new Counter({
      name: `${p}repair_failures_total`,
      help: 'Self-healing repairs that failed or were rolled back.',
      labelNames: ['container'] as const,
      registers,
    }),
    rollbacks: new Counter({
      name: `${p}rollbacks_total`,
      help: 'Repairs undone because a run after the fix showed evidence that it made things worse (the repaired values put back; the whole backup only when the store failed its check).',
      labelNames: ['container'] as const,
      registers,
    }),
    rollbackEvidence: new Counter({
      name: `${p}rollback_evidence_total`,
      help: 'What each rollback rested on: probe (a connector whose SSO login probe passed before the repair fails now), log (a failure logged by a run after the repair), crash (it exited by itself with an error), store (the IdP store fails its check).',
      labelNames: ['container', 'evidence'] as const,
      registers,
    }),
    repairsSkipped: new Counter({
      name: `${p}repairs_skipped_total`,
      help: 'Repairs the watchdog decided not to carry out, by reason (dry_run, breaker_open, discovery_unreachable, ...).',
      labelNames: ['container', 'reason'] as const,
      registers,
    }),
    breakerOpen: new Gauge({
      name: `${p}breaker_open`,
      help: 'Whether the self-healing circuit breaker of a container is open (1) and repairs are suspended.',
      labelNames: ['container'] as const,
      registers,
      collect() {
        for (const b of readBreakers()) this.set({ container: b.container }, b.open ? 1 : 0)
      },
    }),
    lastRepair: new Gauge({
      name: `${p}last_repair_timestamp_seconds`,
      help: 'Unix time of the last successful self-healing repair (0: none yet).',
      registers,
    }),
    backups: new Counter({
      name: `${p}backups_total`,
      help: 'Verified IdP store backups taken by the watchdog (scheduled and pre-repair).',
      registers,
    }),
    backupFailures: new Counter({
      name: `${p}backup_failures_total`,
      help: 'IdP store backups that failed or did not verify.',
      registers,
    }),
    lastBackup: new Gauge({
      name: `${p}last_backup_timestamp_seconds`,
      help: 'Unix time of the last verified IdP store backup (0: none yet).',
      registers,
    }),
    lastBackupSize: new Gauge({
      name: `${p}last_backup_size_bytes`,
      help: 'Size in bytes of the last verified IdP store backup.',
      registers,
    }),
    checkSuccess: new Gauge({
      name: `${p}check_success`,
      help: 'Whether the last run of a scheduled check passed (1) or not (0).',
      labelNames: ['check'] as const,
      registers,
    }),
    checkDuration: new Gauge({
      name: `${p}check_duration_seconds`,
      help: 'How long the last run of a scheduled check took, in seconds.',
      labelNames: ['check'] as const,
      registers,
    }),
    mode: new Gauge({
      name: `${p}mode`,
      help: 'The configured self-healing mode (1 for the active one): observe, dry-run or repair.',
      labelNames: ['mode'] as const,
      registers,
    }),
    scheduledRuns: new Counter({
      name: `${p}scheduled_runs_total`,
      help: 'Scheduled jobs started, by task (label `task`, since `job` belongs to Prometheus).',
      labelNames: ['task'] as const,
      registers,
    }),
    scheduledRunsSkipped: new Counter({
      name: `${p}scheduled_runs_skipped_total`,
      help: 'Scheduled job runs skipped because the previous run of the same job was still going.',
      labelNames: ['task'] as const,
      registers,
    }),
    storeInfo: new Gauge({
      name: `${p}idp_store_info`,
      help: 'Always 1; the engine label is the kind of IdP store the watchdog works on: sqlite (idp.db) or postgres.',
      labelNames: ['engine'] as const,
      registers,
    }),
    storeUp: new Gauge({
      name: `${p}idp_store_up`,
      help: 'Whether the IdP store answered the last time the watchdog used it (1), or could not be reached at all (0: server down or refusing the credentials, idp.db missing); 0 until the first use.',
      registers,
    }),
  }
  if (engine !== undefined) m.storeInfo.set({ engine }, 1)
  m.storeUp.set(0)
  for (const value of modes) m.mode.set({ mode: value }, value === mode ? 1 : 0)
  m.lastRepair.set(0)
  m.lastBackup.set(0)
  m.lastBackupSize.set(0)
  m.backups.inc(0)
  m.backupFailures.inc(0)
  for (const task of jobNames) {
    m.scheduledRuns.inc({ task }, 0)
    m.scheduledRunsSkipped.inc({ task }, 0)
  }
  const known = new Set<string>()
  return {
    ...m,
    addTarget(container: string): void {
      if (known.has(container)) return
      known.add(container)
      for (const result of repairResults) m.repairs.inc({ container, result }, 0)
      for (const reason of skipReasons) m.repairsSkipped.inc({ container, reason }, 0)
      m.repairFailures.inc({ container }, 0)
      m.rollbacks.inc({ container }, 0)
      for (const evidence of evidenceKinds) m.rollbackEvidence.inc({ container, evidence }, 0)
      m.breakerOpen.set({ container }, 0)
    },
    breakersFrom(read): void {
      readBreakers = read
    },
  }
}
