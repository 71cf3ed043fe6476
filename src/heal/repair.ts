// Repairing connector issuers, and undoing a repair, as `netbird-watchdog repair` and the self-healing
// flow both do it: the IdP store's edit (store/issuer-edits.ts: verified backup, one transaction,
// compare-and-set, verify) plus management.json's static connectors, which NetBird writes back into
// the store on every start (netbird/static-connectors.ts). Order: refuse before anything is written if
// a static connector would undo the fix; change the store; then management.json; if that fails, the
// store's change is undone value by value, so the pair is never left half changed.
import { resolve } from 'node:path'
import type { IssuerChange, RepairChange, StaleChange } from '../core/edit-plan.js'
import { validateChanges } from '../core/edit-plan.js'
import { quoteText } from '../core/issuer.js'
import { WatchdogError, errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import {
  checkStaticConnectors,
  fixStaticConnectors,
  revertStaticConnectors,
  type StaticIssuerEdit,
} from '../netbird/static-connectors.js'
import type { BackupInfo } from '../store/backup-files.js'
import { editIssuers, planIssuerEdits, undoAfterFailure } from '../store/issuer-edits.js'
import type { IdpStore } from '../store/port.js'

export interface RepairRequest {
  readonly store: IdpStore
  readonly changes: readonly IssuerChange[]
  readonly dryRun: boolean
  readonly backupDir: string
  /** Plain-http issuers may be written (labs and tests). */
  readonly allowInsecure: boolean
  /** management.json to check for EmbeddedIdP.StaticConnectors (v0.67.2+). */
  readonly managementJsonPath?: string
  /**
   * When a changed connector is a static one: true fixes management.json too (backup first, in
   * place); false refuses, since NetBird would rewrite the store from management.json on its next start.
   */
  readonly fixStaticConnectors: boolean
  readonly version: string
  readonly logger?: Logger
}

export interface StaticResult {
  readonly path: string
  readonly backup: string | null
  readonly changes: readonly RepairChange[]
}

export interface RepairResult {
  /** The store's label (a path, or postgres://user@host/db). */
  readonly db: string
  readonly dryRun: boolean
  /** The verified pre-repair backup (null when nothing was written). */
  readonly backup: BackupInfo | null
  readonly changes: readonly RepairChange[]
  /** Compare-and-set changes not made: the connector changed since it was looked at. */
  readonly stale: readonly StaleChange[]
  /** management.json static-connector edits, when a management.json was given and needed a fix. */
  readonly managementJson?: StaticResult
}

export async function repairIssuers(req: RepairRequest): Promise<RepairResult> {
  validateChanges(req.changes, { allowInsecure: req.allowInsecure })
  const backupDir = resolve(req.backupDir)
  // Refuse before anything is written if a static connector would undo the fix.
  const staticPlan = checkStatic(req)
  if (req.dryRun) {
    const plan = await planIssuerEdits(req.store, req.changes)
    return {
      db: req.store.label,
      dryRun: true,
      backup: null,
      changes: plan.changes,
      stale: plan.stale,
      ...(staticPlan !== undefined ? { managementJson: { ...staticPlan, backup: null } } : {}),
    }
  }
  const backupRequest = { dir: backupDir, reason: 'pre-repair', version: req.version }
  const edit = await editIssuers(req.store, req.changes, {
    backup: backupRequest,
    ...(req.logger !== undefined ? { logger: req.logger } : {}),
  })
  const result: RepairResult = {
    db: req.store.label,
    dryRun: false,
    backup: edit.backup,
    changes: edit.changes,
    stale: edit.stale,
  }
  if (staticPlan === undefined || req.managementJsonPath === undefined) return result
  const path = resolve(req.managementJsonPath)
  try {
    const fixed = fixStaticConnectors(path, staticChanges(req.changes), { backupDir })
    return {
      ...result,
      managementJson: { path, backup: fixed.backup, changes: fixed.edits.map(asChange) },
    }
  } catch (err) {
    // The store changed but management.json did not: undo the store's change, so NetBird does not
    // start on one half of the repair.
    return await undoAfterFailure(
      req.store,
      edit,
      { text: `management.json: ${errorMessage(err)}`, integrity: false },
      { backup: backupRequest, ...(req.logger !== undefined ? { logger: req.logger } : {}) },
    )
  }
}

/** The static-connector edits the repair needs (undefined: none), or a refusal. */
function checkStatic(req: RepairRequest): Omit<StaticResult, 'backup'> | undefined {
  if (req.managementJsonPath === undefined) return undefined
  const path = resolve(req.managementJsonPath)
  // Every requested change, not only the ones the store still needs: a static entry that keeps the
  // old issuer would be written back into the store on NetBird's next start.
  const edits = checkStaticConnectors(path, staticChanges(req.changes))
  if (edits.length === 0) return undefined
  if (!req.fixStaticConnectors) {
    throw new WatchdogError(
      'REPAIR_REFUSED',
      `connector(s) ${edits.map((e) => quoteText(e.connectorId)).join(', ')} are static connectors in ${path} (EmbeddedIdP.StaticConnectors) with another issuer: NetBird rewrites the IdP store from that file on every start, so fixing the store alone would be undone. Fix the issuer there too (--fix-management-json), or edit ${path} yourself.`,
    )
  }
  return { path, changes: edits.map(asChange) }
}

function staticChanges(changes: readonly IssuerChange[]): IssuerChange[] {
  // A static entry is fixed towards the new value whatever it holds (NetBird overwrites the store with it).
  return changes.map((c) => ({ connectorId: c.connectorId, to: c.to }))
}

function asChange(e: StaticIssuerEdit): RepairChange {
  return { connectorId: e.connectorId, field: 'issuer', from: e.from, to: e.to }
}

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
  const health = await store.check().catch((err: unknown) => errorMessage(err))
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
  const mj = repair.managementJson
  if (mj !== undefined && mj.changes.length > 0) {
    const undone = revertStaticConnectors(
      mj.path,
      mj.changes.map((c) => ({ connectorId: c.connectorId, from: c.from, to: c.to })),
      { backupDir: request.dir },
    )
    result = {
      ...result,
      managementJson: { path: mj.path, backup: undone.backup, changes: undone.edits.map(asChange) },
    }
  }
  return result
}
