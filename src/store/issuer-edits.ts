// Changing connector issuers in the IdP store, the one way every writer does it (repair, rollback,
// both engines): one transaction with the rows locked -> plan (compare-and-set, core/edit-plan.ts) ->
// a verified backup of exactly the locked state -> write only the planned values, each with a new
// resource_version so a running Dex picks it up -> re-read and verify
// inside the transaction -> durable commit -> re-read through a fresh connection and check the store.
// Nothing is written when there is nothing to change. A store that fails its check after the commit is
// restored whole from the backup just taken (the only case for a whole restore); any other failure
// after the commit is undone value by value, only where the row still holds what was written.
import { sameConnectors, connectorIssuer, type ConnectorRow } from '../core/connectors.js'
import {
  expectedAfter,
  planEdits,
  revertChanges,
  toChange,
  type EditPlan,
  type IssuerChange,
  type RepairChange,
  type StaleChange,
} from '../core/edit-plan.js'
import { delay } from '../delay.js'
import { WatchdogError, changeOf, errorMessage, isWatchdogError } from '../errors.js'
import type { Logger } from '../log.js'
import type { BackupInfo } from './backup-files.js'
import type { BackupRequest, IdpStore } from './port.js'

export interface EditResult {
  /** The verified backup taken before the write (null when nothing was written). */
  readonly backup: BackupInfo | null
  readonly changes: readonly RepairChange[]
  /** Compare-and-set changes not made: the row no longer held the expected value. */
  readonly stale: readonly StaleChange[]
}

export interface EditOptions {
  /** Where the pre-write backup goes, why it is taken (`pre-repair`, `pre-rollback`), by which version. */
  readonly backup: BackupRequest
  readonly logger?: Logger
  /**
   * How long to keep asking the store, when a commit's answer was lost, whether it landed (default
   * 60 s: a PostgreSQL server that restarts or a network that flaps usually answers again by then).
   */
  readonly settleMs?: number
  /** Stops that asking early (a one-shot command stopped by a signal); the outcome is then unknown. */
  readonly signal?: AbortSignal
  /**
   * This edit is itself an undo (a rollback, or undoing a change that failed after its commit): when it
   * fails after its commit it reports that and stops, instead of undoing the undo (which would put back
   * the very change being taken away).
   */
  readonly isUndo?: boolean
}

/** The plan against the current rows, writing nothing (dry runs). */
export async function planIssuerEdits(
  store: IdpStore,
  changes: readonly IssuerChange[],
): Promise<EditResult> {
  const plan = planEdits(await store.readConnectors(), changes)
  return { backup: null, changes: plan.edits.map(toChange), stale: plan.stale }
}

/** Make the changes (see the header). Throws a WatchdogError; nothing is half-applied. */
export async function editIssuers(
  store: IdpStore,
  changes: readonly IssuerChange[],
  opts: EditOptions,
): Promise<EditResult> {
  const log = opts.logger?.child({ component: 'store', store: store.label })
  let plan: EditPlan | undefined
  let before: ConnectorRow[] = []
  let expected: ConnectorRow[] = []
  let backup: BackupInfo | null = null
  try {
    await store.transaction(async (tx) => {
      before = await tx.readConnectors()
      plan = planEdits(before, changes)
      if (plan.edits.length === 0) return
      backup = await tx.backup(opts.backup)
      log?.info({ backup: backup.path }, 'verified backup taken')
      for (const e of plan.edits) await tx.writeConfig(e.row, e.newBytes, e.resourceVersion)
      expected = expectedAfter(before, plan.edits)
      const now = await tx.readConnectors()
      const problem = compare(now, expected) ?? notOk(await tx.check())
      if (problem !== undefined) {
        throw new WatchdogError('REPAIR_FAILED', `verification before commit failed: ${problem}`)
      }
    })
  } catch (err) {
    // The commit's answer was lost: the store itself says which state it is in, once it answers.
    if (isWatchdogError(err) && err.change === 'unknown' && plan !== undefined) {
      await settleUnknownCommit(store, plan, before, expected, err, opts)
      log?.warn('the commit was confirmed by reading the store back after its answer was lost')
    } else {
      throw rolledBack(err)
    }
  }
  const done: EditPlan = plan ?? { edits: [], stale: [] }
  const result: EditResult = { backup, changes: done.edits.map(toChange), stale: done.stale }
  if (done.edits.length === 0) return result
  log?.info({ changes: result.changes }, 'change committed')

  // After the commit: what a fresh connection (NetBird's) sees, and the store's own check. A store
  // that cannot be asked right now (a server that went away) is no evidence against a change that was
  // verified inside its transaction: the change stands.
  let problem: { text: string; integrity: boolean } | undefined
  try {
    problem = await verifyCommitted(store, done, expected)
  } catch (err) {
    log?.warn({ err }, 'the change is committed, but the store could not be re-read to check it')
    return result
  }
  if (problem === undefined) return result
  if (opts.isUndo === true) {
    throw new WatchdogError(
      'REPAIR_FAILED',
      `the undo committed but does not check out (${problem.text}); it was left as it is (backup taken before it: ${result.backup?.path ?? 'none'})`,
      { change: 'kept' },
    )
  }
  return await undoAfterFailure(store, result, problem, opts)
}

/** The transaction rolled back (its contract: nothing it wrote is kept): say so, on the error and in words. */
function rolledBack(err: unknown): WatchdogError {
  if (isWatchdogError(err) && err.change === 'none') return err
  // Typed errors keep their code (the CLI's exit status depends on it).
  if (isWatchdogError(err) && err.code !== 'REPAIR_FAILED') {
    return new WatchdogError(err.code, `${err.message} (rolled back: nothing was changed)`, {
      cause: err,
      change: 'none',
    })
  }
  return new WatchdogError(
    'REPAIR_FAILED',
    `the change failed and was rolled back, nothing changed: ${errorMessage(err)}`,
    { cause: err, change: 'none' },
  )
}

/**
 * A commit whose answer was lost (the connection cut during COMMIT, the server unreachable since):
 * read the rows back, as soon as the store answers, until they show which state it is in — every
 * edited row as written (text and the new resource_version, which nobody else writes): committed, the
 * caller carries on; every edited row as before: not committed, nothing changed. Bounded by
 * `settleMs`; still unknown then (or the rows hold something else: another writer came in between),
 * the error says exactly that — never "nothing was changed".
 */
async function settleUnknownCommit(
  store: IdpStore,
  plan: EditPlan,
  before: readonly ConnectorRow[],
  expected: readonly ConnectorRow[],
  lost: WatchdogError,
  opts: EditOptions,
): Promise<void> {
  const ids = plan.edits.map((e) => e.row.id)
  const pick = (rows: readonly ConnectorRow[]) => rows.filter((r) => ids.includes(r.id))
  const deadline = Date.now() + (opts.settleMs ?? 60_000)
  let waitMs = 250
  let lastProblem: string
  for (;;) {
    try {
      const now = pick(await store.readConnectors())
      if (sameConnectors(now, pick(expected))) return
      if (sameConnectors(now, pick(before))) {
        throw new WatchdogError(
          lost.code,
          `${lost.message}; read back since: it was not committed, nothing was changed`,
          { cause: lost, change: 'none' },
        )
      }
      throw new WatchdogError(
        'REPAIR_FAILED',
        `${lost.message}; read back since, connector(s) ${ids.join(', ')} hold neither the old nor the new values (another writer changed them): check them (doctor)`,
        { cause: lost, change: 'unknown' },
      )
    } catch (err) {
      if (isWatchdogError(err) && err.cause === lost) throw err
      lastProblem = errorMessage(err)
    }
    if (Date.now() >= deadline || opts.signal?.aborted === true) break
    await delay(Math.min(waitMs, Math.max(0, deadline - Date.now())), opts.signal)
    waitMs = Math.min(waitMs * 2, 5000)
  }
  throw new WatchdogError(
    lost.code,
    `${lost.message}, and the store could not be read back to tell which (${lastProblem}): the change is there whole or not at all — read the connectors again (doctor) to see which`,
    { cause: lost, change: 'unknown' },
  )
}

/**
 * A problem description, or undefined when the touched rows read back as written and the store checks
 * out. Throws when the store cannot be asked at all.
 */
async function verifyCommitted(
  store: IdpStore,
  plan: EditPlan,
  expected: readonly ConnectorRow[],
): Promise<{ text: string; integrity: boolean } | undefined> {
  const health = await store.check()
  if (health !== 'ok') return { text: health, integrity: true }
  const now = await store.readConnectors()
  for (const e of plan.edits) {
    const got = now.find((r) => r.id === e.row.id)
    const want = expected.find((r) => r.id === e.row.id)
    if (got === undefined || want === undefined || !sameConnectors([got], [want])) {
      return { text: `connector ${e.row.id} does not read back as written`, integrity: false }
    }
    if (connectorIssuer(got) !== e.to) {
      return { text: `connector ${e.row.id} issuer reads back differently`, integrity: false }
    }
  }
  return undefined
}

/**
 * The commit happened but what followed failed. A store that fails its own check gets the verified
 * backup back whole; otherwise each written value is put back where it still holds what was written.
 * Always throws REPAIR_FAILED saying what was done.
 */
export async function undoAfterFailure(
  store: IdpStore,
  result: EditResult,
  problem: { text: string; integrity: boolean },
  opts: EditOptions,
): Promise<never> {
  const log = opts.logger?.child({ component: 'store', store: store.label })
  log?.error({ problem: problem.text }, 'the change failed after commit; undoing it')
  const backup = result.backup
  let what: string
  try {
    if (problem.integrity && backup !== null) {
      await store.restore(backup, { ...opts.backup, reason: 'pre-restore' })
      what = `${store.label} was restored from ${backup.path}`
    } else {
      const undone = await editIssuers(store, revertChanges(result.changes), {
        ...opts,
        backup: { ...opts.backup, reason: 'pre-rollback' },
        isUndo: true,
      })
      const left = undone.stale.map((s) => s.connectorId)
      what = `it was undone${left.length > 0 ? `, except on ${left.join(', ')}, which changed since` : ''} (backup: ${backup?.path ?? 'none'})`
    }
  } catch (err) {
    throw new WatchdogError(
      'REPAIR_FAILED',
      `the change failed after commit (${problem.text}) and undoing it failed too: ${errorMessage(err)}; restore ${backup?.path ?? 'a backup'} by hand (netbird-watchdog backups restore)`,
      // An undo whose own outcome is unknown leaves the whole question open; any other failure of
      // the undo leaves the committed change in place.
      { cause: err, change: changeOf(err) === 'unknown' ? 'unknown' : 'kept' },
    )
  }
  throw new WatchdogError(
    'REPAIR_FAILED',
    `the change failed after commit (${problem.text}); ${what}`,
    { change: 'undone' },
  )
}

function notOk(health: string): string | undefined {
  return health === 'ok' ? undefined : health
}

function compare(
  now: readonly ConnectorRow[],
  expected: readonly ConnectorRow[],
): string | undefined {
  // The stored bytes and text decide: the same bytes parse to the same config. (No comparison of
  // parsed values: a config Dex accepts may nest 10,000 levels, past JSON.stringify's stack.)
  return sameConnectors(now, expected) ? undefined : 'connector rows differ from the plan'
}
