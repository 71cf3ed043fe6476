// The per-target circuit breaker for self-healing, as a pure state machine: every transition takes the
// current time as an argument (the caller's injected clock), nothing here reads a clock or sets a timer.
// Conventions from docs/reference/conventions.md (kubelet, Monit, systemd):
// - repair budget: at most `maxRepairs` data-mutating repairs per sliding `windowMs`;
// - restart backoff: the first watchdog restart is immediate, each further one waits twice as long as
//   the previous wait (from `backoffInitialMs`, capped at `backoffMaxMs`), like CrashLoopBackOff's
//   10 s → 5 min; the delay goes back to zero after the target has stayed up for `stableResetMs`;
// - latch: once open (budget spent, or a repair rolled back) the breaker stays open: it never half-opens
//   on its own while the target keeps misbehaving. It closes after `cooldownMs` with no trouble noted
//   (a long stable period), or when an operator resets it (POST /reset).

export interface BreakerPolicy {
  readonly maxRepairs: number
  readonly windowMs: number
  readonly cooldownMs: number
  readonly backoffInitialMs: number
  readonly backoffMaxMs: number
  readonly stableResetMs: number
}

export type OpenReason = 'budget_exhausted' | 'rolled_back' | 'repair_failed'

export interface BreakerState {
  /** Start times of the repairs that still count against the window (oldest first). */
  readonly repairs: readonly number[]
  readonly open: { readonly since: number; readonly reason: OpenReason } | null
  /** Last time trouble (a death, a fatal finding, drift) was noted; the cooldown counts from here. */
  readonly lastTroubleAt: number | null
  /** Delay the next watchdog restart must wait after the previous one (0: none yet). */
  readonly restartDelayMs: number
  readonly lastRestartAt: number | null
  /** Since when the target has been up without trouble (null: not known to be up). */
  readonly upSince: number | null
}

export const closedBreaker: BreakerState = {
  repairs: [],
  open: null,
  lastTroubleAt: null,
  restartDelayMs: 0,
  lastRestartAt: null,
  upSince: null,
}

export type RepairVerdict =
  | { readonly allowed: true; readonly remaining: number }
  | {
      readonly allowed: false
      readonly reason: 'breaker_open'
      readonly openReason: OpenReason
      /** When the breaker would close by itself if no further trouble is noted. */
      readonly closesAt: number
    }

export type RestartVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly waitMs: number; readonly notBefore: number }

/** Apply the time-driven transitions: window expiry, cooldown close, stable-period backoff reset. */
export function advance(state: BreakerState, policy: BreakerPolicy, now: number): BreakerState {
  let next = state
  const repairs = state.repairs.filter((t) => now - t < policy.windowMs)
  if (repairs.length !== state.repairs.length) next = { ...next, repairs }
  if (next.open !== null) {
    const quietSince = Math.max(next.open.since, next.lastTroubleAt ?? next.open.since)
    if (now - quietSince >= policy.cooldownMs) next = { ...next, open: null, repairs: [] }
  }
  if (
    next.upSince !== null &&
    now - next.upSince >= policy.stableResetMs &&
    (next.restartDelayMs !== 0 || next.lastRestartAt !== null)
  ) {
    next = { ...next, restartDelayMs: 0, lastRestartAt: null }
  }
  return next
}

/**
 * May a repair start now? When the budget is spent this latches the breaker open (returned in `state`),
 * so the caller stores the new state whatever the verdict.
 */
export function requestRepair(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
): { state: BreakerState; verdict: RepairVerdict } {
  let next = advance(state, policy, now)
  if (next.open === null && next.repairs.length >= policy.maxRepairs) {
    next = { ...next, open: { since: now, reason: 'budget_exhausted' } }
  }
  if (next.open !== null) {
    const quietSince = Math.max(next.open.since, next.lastTroubleAt ?? next.open.since)
    return {
      state: next,
      verdict: {
        allowed: false,
        reason: 'breaker_open',
        openReason: next.open.reason,
        closesAt: quietSince + policy.cooldownMs,
      },
    }
  }
  return {
    state: next,
    verdict: { allowed: true, remaining: policy.maxRepairs - next.repairs.length },
  }
}

/** A repair was started (it counts against the budget whatever its outcome). */
export function recordRepair(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
): BreakerState {
  const next = advance(state, policy, now)
  return { ...next, repairs: [...next.repairs, now], upSince: null }
}

/** May the watchdog restart the target now, or how long must it wait? */
export function requestRestart(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
): RestartVerdict {
  const next = advance(state, policy, now)
  if (next.lastRestartAt === null) return { allowed: true }
  const notBefore = next.lastRestartAt + next.restartDelayMs
  return now >= notBefore
    ? { allowed: true }
    : { allowed: false, waitMs: notBefore - now, notBefore }
}

/** The watchdog restarted the target: the next restart waits longer (10 s, 20 s, … capped). */
export function recordRestart(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
): BreakerState {
  const next = advance(state, policy, now)
  const delay =
    next.lastRestartAt === null
      ? policy.backoffInitialMs
      : Math.min(Math.max(next.restartDelayMs * 2, policy.backoffInitialMs), policy.backoffMaxMs)
  return { ...next, lastRestartAt: now, restartDelayMs: delay, upSince: null }
}

/** The target was seen up (started, or confirmed healthy). */
export function recordUp(state: BreakerState, policy: BreakerPolicy, now: number): BreakerState {
  const next = advance(state, policy, now)
  return next.upSince === null ? { ...next, upSince: now } : next
}

/** The target died, logged a fatal finding, or drifted: the stable clock and the cooldown restart. */
export function recordTrouble(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
): BreakerState {
  const next = advance(state, policy, now)
  return { ...next, lastTroubleAt: now, upSince: null }
}

/** Latch the breaker open (a rollback, a failed repair). */
export function tripBreaker(
  state: BreakerState,
  policy: BreakerPolicy,
  reason: OpenReason,
  now: number,
): BreakerState {
  const next = advance(state, policy, now)
  return { ...next, open: { since: now, reason }, lastTroubleAt: now }
}

/** Operator reset (POST /reset): closed, budget and backoff cleared. */
export function resetBreaker(): BreakerState {
  return closedBreaker
}

export function isOpen(state: BreakerState, policy: BreakerPolicy, now: number): boolean {
  return advance(state, policy, now).open !== null
}
