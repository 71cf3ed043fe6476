// Undoing a repair that made things worse, and only what it changed (docs/self-healing.md, "Rolling
// back"): `rollbackRepair` puts each repaired value back in the IdP store where the connector still
// holds it (after a fresh verified backup; a store that fails its check gets the whole pre-repair backup
// back) and undoes management.json's static-connector edits the same way. The healer's step around it
// (undo, restart, latch the breaker, the outcome to report) is settle.ts `rollBackOnEvidence`.
import { resolve } from 'node:path'
import type { RepairChange, StaleChange } from '../core/edit-plan.js'
import { errorMessage, isDamagedStore } from '../errors.js'
import type { Logger } from '../log.js'
import { revertStaticConnectors } from '../netbird/static-connectors.js'
import { editIssuers } from '../store/issuer-edits.js'
import type { IdpStore } from '../store/port.js'
import { asChange, type RepairResult, type StaticResult } from './repair.js'

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
