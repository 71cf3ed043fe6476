// How one run of the self-healing flow ended, and the one place that reports it: the metrics, the log
// line and the webhook for every outcome come from `report`, never from the steps themselves.
import { statSync } from 'node:fs'
import type { SkipReason } from '../core/heal-decision.js'
import type { EvidenceKind } from '../core/recovery.js'
import type { Logger } from '../log.js'
import type { HealMetrics, RepairResultLabel } from './metrics.js'
import type { RepairResult } from './repair.js'
import type { RollbackResult } from './rollback.js'
import type { Notifier } from './webhook.js'

export type HealOutcome =
  | {
      readonly kind: 'skipped'
      readonly reason: SkipReason
      readonly detail: string
      /** The skip opened the circuit breaker (the budget was spent just now). */
      readonly breakerOpened?: boolean
    }
  | {
      readonly kind: 'repaired'
      readonly result: RepairResultLabel
      readonly detail: string
      readonly repair?: RepairResult
      readonly rollback?: RollbackResult
      /** The error behind a `failed` result (logged with its stack). */
      readonly error?: unknown
      /** A rollback or a failure latched the breaker open. */
      readonly breakerOpened?: boolean
      /** How the fix was loaded: live (Dex reopened the connector, no restart) or by a restart. */
      readonly activation?: 'live' | 'restart'
      /** What a rollback (or a failed one) rested on. */
      readonly evidence?: EvidenceKind
    }

export interface OutcomeReporter {
  /** Metrics, one log line and (for repairs) a webhook, for one outcome of `container`. */
  report(container: string, outcome: HealOutcome): void
  /** A detection worth telling (once per episode: the caller decides). */
  detected(container: string, text: string, details?: Readonly<Record<string, unknown>>): void
  /** A verified backup was taken (pre-repair, pre-rollback, scheduled). */
  backedUp(path: string, createdAtMs: number): void
}

export function createOutcomeReporter(opts: {
  metrics: HealMetrics
  notifier: Notifier
  logger: Logger
}): OutcomeReporter {
  const { metrics: m, notifier } = opts
  const log = opts.logger.child({ component: 'healer' })
  return {
    report(container, o) {
      if (o.kind === 'skipped') {
        m.repairsSkipped.inc({ container, reason: o.reason })
        const quiet =
          o.reason === 'observe' || o.reason === 'in_progress' || o.reason === 'no_drift'
        log[quiet ? 'info' : 'warn']({ container, reason: o.reason }, `not repairing: ${o.detail}`)
        if (o.breakerOpened === true) {
          log.error({ container }, `CIRCUIT BREAKER OPEN: ${o.detail}`)
          notifier.notify({ event: 'breaker', container, text: `${container}: ${o.detail}` })
        }
        return
      }
      m.repairs.inc({ container, result: o.result })
      const details = {
        ...(o.repair !== undefined
          ? { backup: o.repair.backup?.path ?? null, changes: o.repair.changes }
          : {}),
        ...(o.rollback !== undefined ? { rollback: o.rollback } : {}),
        ...(o.activation !== undefined ? { activation: o.activation } : {}),
        ...(o.evidence !== undefined ? { evidence: o.evidence } : {}),
      }
      switch (o.result) {
        case 'success':
          m.lastRepair.set(Date.now() / 1000)
          log.info({ container, ...details }, o.detail)
          break
        case 'unconfirmed':
          log.warn({ container, ...details }, o.detail)
          break
        case 'rolled_back':
          m.rollbacks.inc({ container })
          if (o.evidence !== undefined) m.rollbackEvidence.inc({ container, evidence: o.evidence })
          m.repairFailures.inc({ container })
          log.error({ container, ...details }, o.detail)
          break
        case 'failed':
          m.repairFailures.inc({ container })
          log.error({ container, err: o.error, ...details }, o.detail)
          break
      }
      notifier.notify({
        event: o.result === 'rolled_back' ? 'rollback' : 'repair',
        container,
        text: `${container}: ${o.detail}`,
        ...(Object.keys(details).length > 0 ? { details } : {}),
      })
      if (o.breakerOpened === true) {
        notifier.notify({ event: 'breaker', container, text: `${container}: breaker open` })
      }
    },
    detected(container, text, details) {
      notifier.notify({ event: 'detection', container, text, ...(details ? { details } : {}) })
    },
    backedUp(path, createdAtMs) {
      m.backups.inc()
      m.lastBackup.set(createdAtMs / 1000)
      try {
        m.lastBackupSize.set(statSync(path).size)
      } catch {
        m.lastBackupSize.set(0)
      }
    },
  }
}
