// After a repair committed: proving it held, and rolling it back only on evidence that it made things
// worse (docs/self-healing.md, "Restart only when needed" and "Confirming, and rolling back only on
// evidence"). `confirmLive` proves a repair NetBird loaded live with the SSO login probe;
// `settleAfterRestart` confirms one loaded by a restart — the fresh run stays up, the store checks
// out, and where the probe runs it has the last word. The decisions are pure (core/recovery.ts,
// core/sso-probe.ts); the healer (healer.ts) calls these and reports what they return.
import type { Config } from '../config/schema.js'
import type { EvidenceKind } from '../core/recovery.js'
import { conclusiveFailures, newFailure } from '../core/sso-probe.js'
import { quoteText } from '../core/issuer.js'
import type { DockerPort } from '../docker/engine.js'
import { delay } from '../delay.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import type { IdpStore } from '../store/port.js'
import { checkStore, confirmRecovery, viewTarget } from './confirm.js'
import type { HealOutcome } from './outcome.js'
import type { RepairResult } from './repair.js'
import { rollbackRepair } from './rollback.js'
import { restartTarget } from './restart.js'
import type { FailedProbe, SsoProbe } from './sso-monitor.js'
import type { PendingConfirm, Target } from './target.js'

/** What confirming a repair needs of the daemon. */
export interface SettleContext {
  readonly config: Config
  readonly docker: DockerPort
  readonly store: IdpStore
  readonly sso?: SsoProbe
  readonly backupDir: string
  readonly version: string
  readonly logger: Logger
  readonly now: () => number
  /** Aborted on shutdown. */
  readonly signal: AbortSignal
  /** How often the confirm loop looks at the container. */
  readonly pollMs?: number
  /** How long a restarted (or Docker-restarting) container may take to come up. */
  readonly startTimeoutMs?: number
}

/** Confirm the pending repair of `t`; roll it back only on evidence that it made things worse. */
export async function settleAfterRestart(
  ctx: SettleContext,
  t: Target,
  log: Logger,
): Promise<HealOutcome> {
  const pending = t.pending
  if (pending === null) {
    return { kind: 'skipped', reason: 'no_drift', detail: 'no repair waits for confirmation' }
  }
  const { repair, committedAt } = pending
  const verdict = await confirmRecovery({
    docker: ctx.docker,
    container: t.name,
    store: ctx.store,
    committedAt,
    confirmMs: ctx.config.repair.confirmSeconds * 1000,
    startTimeoutMs: ctx.startTimeoutMs ?? 90_000,
    pollMs: ctx.pollMs ?? 250,
    evidence: () => t.evidence,
    now: ctx.now,
    signal: ctx.signal,
  })
  switch (verdict.kind) {
    case 'recovered': {
      const stayed = `${t.name} stayed up for ${ctx.config.repair.confirmSeconds}s with no new failure after setting ${describeChanges(repair)}`
      const sso = ctx.sso
      if (sso?.available(t.name) !== true) {
        t.pending = null
        t.noteUp()
        return {
          kind: 'repaired',
          result: 'success',
          detail: `recovered: ${stayed}`,
          repair,
          activation: 'restart',
        }
      }
      // Staying up proves nothing on NetBird v0.65.2+ (it stays up with a connector it cannot
      // open): the login probe has the last word.
      const proof = await probeUntil(
        ctx,
        t,
        pending,
        ctx.now() + ctx.config.repair.confirmSeconds * 1000,
      )
      switch (proof.kind) {
        case 'worse':
          t.pending = null
          return await rollBackOnEvidence(
            ctx,
            t,
            repair,
            { text: proof.evidence, kind: 'probe' },
            log,
            true,
          )
        case 'passes':
          t.pending = null
          t.noteUp()
          return {
            kind: 'repaired',
            result: 'success',
            detail: `recovered: ${stayed}, and SSO login through ${repairedIds(repair)} reaches the provider again (login probe)`,
            repair,
            activation: 'restart',
          }
        case 'still-fails':
        case 'no-answer':
          if (pending.upProves) {
            t.pending = null
            t.noteUp()
            return {
              kind: 'repaired',
              result: 'success',
              detail: `recovered: ${stayed} (the crash loop is over; the login probe ${proof.kind === 'still-fails' ? `still fails: ${proof.why}` : `could not tell: ${proof.why}`})`,
              repair,
              activation: 'restart',
            }
          }
          if (proof.kind === 'no-answer') {
            // Kept pending: the confirmation resumes when the container starts again.
            return unconfirmed(
              repair,
              `${stayed}, but the login probe could not tell whether SSO works (${proof.why}): the repair stays in place, unconfirmed`,
            )
          }
          t.pending = null
          t.trip('repair_failed')
          return {
            kind: 'repaired',
            result: 'failed',
            detail: `the repair did not make SSO work: ${stayed}, but the login probe still fails (${proof.why}); it is left in place (no worse than before), circuit breaker opened`,
            repair,
            activation: 'restart',
            breakerOpened: true,
          }
      }
      break
    }
    case 'interrupted':
      if (verdict.shutdown === true) t.pending = null
      return unconfirmed(
        repair,
        verdict.shutdown === true
          ? `${verdict.why}: the repair stays in place, unconfirmed`
          : `${verdict.why}: the repair stays in place, unconfirmed; confirmation resumes when the engine and the container are back`,
      )
    case 'worse':
      t.pending = null
      return await rollBackOnEvidence(
        ctx,
        t,
        repair,
        { text: verdict.evidence, kind: verdict.evidenceKind },
        log,
        true,
      )
  }
}

/**
 * The live activation's proof: the login probe, right after the commit and then backing off within
 * the confirm window, until every repaired connector passes (then the store's check: success without
 * a restart), a connector that passed before the repair fails conclusively (evidence: roll back,
 * live), or the window closes (the caller falls back to a restart).
 */
export async function confirmLive(
  ctx: SettleContext,
  t: Target,
  pending: PendingConfirm,
  log: Logger,
): Promise<{ kind: 'outcome'; outcome: HealOutcome } | { kind: 'fallback'; why: string }> {
  const { repair } = pending
  const deadline = ctx.now() + ctx.config.repair.confirmSeconds * 1000
  const proof = await probeUntil(ctx, t, pending, deadline)
  switch (proof.kind) {
    case 'worse':
      t.pending = null
      return {
        kind: 'outcome',
        outcome: await rollBackOnEvidence(
          ctx,
          t,
          repair,
          { text: proof.evidence, kind: 'probe' },
          log,
          false,
        ),
      }
    case 'still-fails':
      // Dex still refuses the connector, readably: it did not pick the fix up. A restart will.
      return { kind: 'fallback', why: proof.why }
    case 'no-answer':
      // NetBird, its store or the provider does not answer: nothing says the fix is not loaded,
      // and a restart would not help (a store locked by someone else would fail NetBird's start
      // too). The repair stays; the confirmation resumes when the container starts again.
      return {
        kind: 'outcome',
        outcome: unconfirmed(
          repair,
          `the login probe could not tell whether SSO works within ${ctx.config.repair.confirmSeconds}s (${proof.why}): the repair stays in place, unconfirmed; confirmation resumes when the container starts again`,
        ),
      }
    case 'passes':
      break
  }
  const health = await checkStore(ctx.store)
  if (health.kind === 'failed') {
    t.pending = null
    return {
      kind: 'outcome',
      outcome: await rollBackOnEvidence(
        ctx,
        t,
        repair,
        { text: `the IdP store fails its check: ${health.problem}`, kind: 'store' },
        log,
        false,
      ),
    }
  }
  t.pending = null
  return {
    kind: 'outcome',
    outcome: {
      kind: 'repaired',
      result: 'success',
      detail: `recovered without a restart: SSO login through ${repairedIds(repair)} reaches the provider again (login probe) after setting ${describeChanges(repair)}${health.kind === 'unanswered' ? ` (the store's check got no answer: ${health.why})` : ''}`,
      repair,
      activation: 'live',
    },
  }
}

/**
 * Login probes until the repaired connectors pass, evidence shows, or `deadline`: right away, then
 * after 1, 2, 4… s (each round stores one auth_request row per connector in Dex's store).
 */
async function probeUntil(
  ctx: SettleContext,
  t: Target,
  pending: PendingConfirm,
  deadline: number,
): Promise<
  | { kind: 'passes' }
  | { kind: 'worse'; evidence: string }
  | { kind: 'still-fails'; why: string }
  | { kind: 'no-answer'; why: string }
> {
  const ids = new Set(pending.repair.changes.map((c) => c.connectorId))
  let wait = 1000
  for (;;) {
    const view = await viewTarget(ctx.docker, t.name, ctx.signal)
    if (view.kind !== 'container' || view.status !== 'running') {
      return {
        kind: 'no-answer',
        why: `the container is ${view.kind === 'container' ? view.status : view.kind}`,
      }
    }
    const results = await ctx.sso?.probe(t.name)
    if (results === undefined) return { kind: 'no-answer', why: 'the login probe is off' }
    const worse = newFailure(pending.baseline ?? [], results)
    if (worse !== undefined) {
      return {
        kind: 'worse',
        evidence: `the login probe through ${worse.connectorId}, which passed before the repair, now fails (${worse.reason}: ${worse.detail})`,
      }
    }
    const repaired = results.filter((r) => ids.has(r.connectorId))
    const failing = repaired.filter((r): r is FailedProbe => !r.ok)
    if (repaired.length > 0 && failing.length === 0) return { kind: 'passes' }
    const last: { kind: 'still-fails' | 'no-answer'; why: string } =
      failing.length > 0 && failing.every((f) => conclusiveFailures.has(f.reason))
        ? { kind: 'still-fails', why: failing.map(describeProbe).join('; ') }
        : {
            kind: 'no-answer',
            why:
              failing.length > 0
                ? failing.map(describeProbe).join('; ')
                : 'the repaired connector is no longer in the store',
          }
    if (ctx.signal.aborted || ctx.now() + wait > deadline) return last
    await delay(wait, ctx.signal)
    wait *= 2
  }
}

/**
 * Evidence was seen: undo exactly what the repair changed (rollback.ts), restart the container when the
 * repair was loaded by a restart (a live one is undone live: the undo writes yet another
 * resource_version, and Dex reopens the connector at the next login), latch the breaker; the outcome.
 */
async function rollBackOnEvidence(
  ctx: SettleContext,
  t: Target,
  repair: RepairResult,
  evidence: Evidence,
  log: Logger,
  restart: boolean,
): Promise<HealOutcome> {
  const why = evidence.text
  log.error(
    { why, evidence: evidence.kind, backup: repair.backup?.path ?? null },
    'REPAIR DID NOT HOLD: undoing exactly what it changed',
  )
  t.trip('rolled_back')
  try {
    const rollback = await rollbackRepair(ctx.store, repair, {
      backupDir: ctx.backupDir,
      version: ctx.version,
      logger: ctx.logger,
    })
    if (restart) {
      try {
        await restartTarget({
          docker: ctx.docker,
          target: t,
          stopTimeoutSeconds: ctx.config.repair.stopTimeoutSeconds,
          signal: ctx.signal,
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
      evidence: evidence.kind,
      breakerOpened: true,
    }
  } catch (err) {
    return {
      kind: 'repaired',
      result: 'failed',
      detail: `ROLLBACK FAILED: ${why}; undoing the repair failed: ${errorMessage(err)}; circuit breaker OPEN — restore by hand: netbird-watchdog backups restore`,
      repair,
      error: err,
      evidence: evidence.kind,
      breakerOpened: true,
    }
  }
}

/** Evidence that a repair made things worse: what was seen, and its kind (core/recovery.ts). */
interface Evidence {
  readonly text: string
  readonly kind: EvidenceKind
}

export function unconfirmed(repair: RepairResult, detail: string): HealOutcome {
  return { kind: 'repaired', result: 'unconfirmed', detail, repair }
}

function describeChanges(repair: RepairResult): string {
  return repair.changes.map((c) => `${c.connectorId} issuer to ${quoteText(c.to)}`).join(', ')
}

function repairedIds(repair: RepairResult): string {
  return repair.changes.map((c) => c.connectorId).join(', ')
}

function describeProbe(f: FailedProbe): string {
  return `${f.connectorId}: ${f.reason}`
}
