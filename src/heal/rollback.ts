// Undoing a repair that made things worse, and only what it changed (docs/self-healing.md, "Rolling
// back"): `rollbackRepair` puts each repaired value back in the IdP store where the connector still
// holds it (after a fresh verified backup; a store that fails its check gets the whole pre-repair backup
// back) and undoes management.json's static-connector edits the same way; `rollBack` is the healer's
// step around it — undo, restart, latch the breaker, and the outcome to report.
import { resolve } from 'node:path'
import type { RepairChange, StaleChange } from '../core/edit-plan.js'
import type { DockerPort } from '../docker/engine.js'
import { errorMessage, isDamagedStore } from '../errors.js'
import type { Logger } from '../log.js'
import { revertStaticConnectors } from '../netbird/static-connectors.js'
import { editIssuers } from '../store/issuer-edits.js'
import type { IdpStore } from '../store/port.js'
import type { HealOutcome } from './outcome.js'
import { asChange, type RepairResult, type StaticResult } from './repair.js'
import { restartTarget } from './restart.js'
import type { Target } from './target.js'

export interface RollbackResult {
  /** `values`: the repaired values were put back; `restored`: the store failed its check and the pre-repair backup was restored whole. */
  readonly how: 'values' | 'restored'
  readonly reverted: readonly RepairChange[]
  /** Connectors left alone because they no longer held the repaired value. */
  readonly stale: readonly StaleChange[]
  /** The fresh verified backup taken before undoing (or before the whole restore). */
  readonly backup: string | null
  readonly managementJson?: StaticResult
}

/**
 * Undo a repair that made things worse, and only what it changed: in one transaction after a fresh
 * verified backup, put back each value the repair wrote where the connector still holds it — every
 * other row (refresh tokens, signing keys, users, connectors edited since) stays as Dex wrote it. Only
 * a store that fails its check gets the whole pre-repair backup back.
 */
export async function rollbackRepair(
  store: IdpStore,
  repair: Pick<RepairResult, 'backup' | 'changes' | 'managementJson'>,
  opts: { backupDir: string; version: string; logger?: Logger },
): Promise<RollbackResult> {
  const request = { dir: resolve(opts.backupDir), version: opts.version }
  // management.json first: NetBird copies its static connectors into the store on every start, so a
  // store put back under a management.json that still holds the repair would be overwritten again. If
  // this fails, neither was touched; if the store's step fails after it, NetBird's next start writes
  // management.json's (previous) value into the store.
  const mj = repair.managementJson
  let managementJson: StaticResult | undefined
  if (mj !== undefined && mj.changes.length > 0) {
    const undone = revertStaticConnectors(
      mj.path,
      mj.changes.map((c) => ({ connectorId: c.connectorId, from: c.from, to: c.to })),
      { backupDir: request.dir },
    )
    managementJson = { path: mj.path, backup: undone.backup, changes: undone.edits.map(asChange) }
  }
  // Only a damaged store is restored whole. A store that cannot be asked right now (unreachable,
  // locked, an I/O error) is no evidence of damage: that error ends the rollback, nothing restored.
  const health = await store.check().catch((err: unknown) => {
    if (isDamagedStore(err)) return errorMessage(err)
    throw err
  })
  let result: RollbackResult
  if (health !== 'ok' && repair.backup !== null) {
    const restored = await store.restore(repair.backup, { ...request, reason: 'pre-restore' })
    result = {
      how: 'restored',
      reverted: repair.changes,
      stale: [],
      backup: restored.preRestoreBackup,
    }
  } else {
    const undo = await editIssuers(
      store,
      repair.changes.map((c) => ({ connectorId: c.connectorId, to: c.from, expectFrom: c.to })),
      {
        backup: { ...request, reason: 'pre-rollback' },
        isUndo: true,
        ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      },
    )
    result = {
      how: 'values',
      reverted: undo.changes,
      stale: undo.stale,
      backup: undo.backup?.path ?? null,
    }
  }
  return managementJson !== undefined ? { ...result, managementJson } : result
}

/** The healer's rollback step: undo, restart, latch the breaker; the outcome to report. */
export async function rollBack(o: {
  store: IdpStore
  docker: DockerPort
  target: Target
  repair: RepairResult
  why: string
  backupDir: string
  version: string
  stopTimeoutSeconds: number
  signal: AbortSignal
  logger: Logger
  log: Logger
  /**
   * Restart the container after undoing (default). A repair that was loaded live is undone live too:
   * the undo writes yet another resource_version, and Dex reopens the connector at the next login.
   */
  restart?: boolean
}): Promise<HealOutcome> {
  const { target: t, repair, why, log } = o
  log.error(
    { why, backup: repair.backup?.path ?? null },
    'REPAIR DID NOT HOLD: undoing exactly what it changed',
  )
  t.trip('rolled_back')
  try {
    const rollback = await rollbackRepair(o.store, repair, {
      backupDir: o.backupDir,
      version: o.version,
      logger: o.logger,
    })
    const restart = o.restart !== false
    if (restart) {
      try {
        await restartTarget({
          docker: o.docker,
          target: t,
          stopTimeoutSeconds: o.stopTimeoutSeconds,
          signal: o.signal,
          log,
        })
      } catch (err) {
        log.error({ err }, 'restart after rollback failed')
      }
    }
    const how =
      rollback.how === 'restored'
        ? `the store failed its check, so it was restored whole from ${repair.backup?.path ?? '?'}`
        : `the previous issuer${rollback.reverted.length === 1 ? ' was' : 's were'} put back${rollback.stale.length > 0 ? ` (not on ${rollback.stale.map((s) => s.connectorId).join(', ')}, changed since)` : ''}`
    return {
      kind: 'repaired',
      result: 'rolled_back',
      detail: `ROLLED BACK: ${why}; ${how}, ${restart ? 'container restarted' : 'Dex reopens the connector at the next login (no restart)'}, circuit breaker OPEN (no more automatic repairs until POST /reset or a long quiet period)`,
      repair,
      rollback,
      breakerOpened: true,
    }
  } catch (err) {
    return {
      kind: 'repaired',
      result: 'failed',
      detail: `ROLLBACK FAILED: ${why}; undoing the repair failed: ${errorMessage(err)}; circuit breaker OPEN — restore by hand: netbird-watchdog backups restore`,
      repair,
      error: err,
      breakerOpened: true,
    }
  }
}
