// Repairing connector issuers, and undoing a repair, as `netbird-watchdog repair` and the self-healing
// flow both do it: the IdP store's edit (store/issuer-edits.ts: verified backup, one transaction,
// compare-and-set, verify) plus management.json's static connectors, which NetBird writes back into
// the store on every start (netbird/static-connectors.ts). Order: refuse before anything is written if
// a static connector would undo the fix; change the store; then management.json; if that fails, the
// store's change is undone value by value, so the pair is never left half changed. Undoing a repair
// that made things worse is rollback.ts.
import { resolve } from 'node:path'
import type { IssuerChange, RepairChange, StaleChange } from '../core/edit-plan.js'
import { validateChanges } from '../core/edit-plan.js'
import { quoteText } from '../core/issuer.js'
import { WatchdogError, errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import {
  checkStaticConnectors,
  fixStaticConnectors,
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

export function asChange(e: StaticIssuerEdit): RepairChange {
  return { connectorId: e.connectorId, field: 'issuer', from: e.from, to: e.to }
}
