// Restart accounting and restart-loop detection. Pure: the watcher feeds it engine events and
// inspect results and applies what comes back.
//
// Restarts are counted from `start` events, not from RestartCount (which misses manual restarts and
// resets on recreate: moby/moby#37596, docs/reference/conventions.md). A restart is a start of a container
// that had started before; the first start of a new container is not one. When the event stream was
// interrupted, `reconcileStart` compares the inspected State.StartedAt with what was accounted, so a
// start whose event is lost is still counted once, and the replayed event of a start already counted
// that way is recognised and not counted again.
//
// A loop is K deaths within W (defaults 3 in 5 min), cleared once the container has gone a stable
// period (default 10 min) without dying: the kubelet's CrashLoopBackOff semantics (anchors §4).

/** How long after an inspected StartedAt the engine's `start` event of that same start may carry. */
export const startEventSlackNs = 2_000_000_000n

/** What has been accounted of one container's starts (absent until it has been seen started). */
export interface StartLedger {
  /** The latest start accounted (event time or inspected StartedAt), ns since the epoch. */
  readonly accountedNs: bigint
  /**
   * Set when the latest start was accounted from inspect and its `start` event may still arrive: the
   * first start event at or after `accountedNs` and no later than this is that start's own event.
   */
  readonly pendingUntilNs?: bigint
}

export interface StartVerdict {
  readonly ledger: StartLedger
  /** Count one restart. */
  readonly restart: boolean
}

/**
 * Whether a `start` event at `timeNs` falls in the window where it may be the own event of a start
 * accounted from inspect. Then the watcher inspects again and passes the current StartedAt to
 * `recordStartEvent`, which tells that start's own event from a quick restart after it.
 */
export function startEventIsAmbiguous(ledger: StartLedger | undefined, timeNs: bigint): boolean {
  return (
    ledger?.pendingUntilNs !== undefined &&
    timeNs >= ledger.accountedNs &&
    timeNs <= ledger.pendingUntilNs
  )
}

/**
 * A `start` event at engine time `timeNs`. Events reach this once each (the watcher deduplicates).
 * `startedAtNs` is the container's StartedAt inspected on arrival of an ambiguous event (see
 * `startEventIsAmbiguous`); without it such an event is taken for the accounted start's own.
 */
export function recordStartEvent(
  ledger: StartLedger | undefined,
  timeNs: bigint,
  startedAtNs?: bigint,
): StartVerdict {
  if (ledger === undefined) return { ledger: { accountedNs: timeNs }, restart: false }
  if (startEventIsAmbiguous(ledger, timeNs)) {
    // StartedAt unchanged: no start since the accounted one, so this is its own event.
    if (startedAtNs === undefined || startedAtNs <= ledger.accountedNs) {
      return { ledger: { accountedNs: timeNs }, restart: false }
    }
    // The container started again after the accounted start (whose own event may have fallen
    // before the stream's `since`): that is one restart. If this event is older than the newer
    // start, the newer start's own event is still to come.
    return timeNs >= startedAtNs
      ? { ledger: { accountedNs: timeNs }, restart: true }
      : {
          ledger: { accountedNs: startedAtNs, pendingUntilNs: startedAtNs + startEventSlackNs },
          restart: true,
        }
  }
  // An event older than what inspect accounted is a start that happened in between: count it, but
  // keep the newer mark (and its pending event).
  if (timeNs < ledger.accountedNs) return { ledger, restart: true }
  return { ledger: { accountedNs: timeNs }, restart: true }
}

/**
 * An inspected State.StartedAt (undefined: never started). `eventsFromNs` is where the current event
 * stream starts (its `since`): a start at or after it (less the slack) will still have its event
 * delivered, so that event must not count again.
 */
export function reconcileStart(
  ledger: StartLedger | undefined,
  startedAtNs: bigint | undefined,
  eventsFromNs: bigint,
): StartVerdict | undefined {
  if (startedAtNs === undefined) return undefined
  const pending = startedAtNs + startEventSlackNs >= eventsFromNs
  const next: StartLedger = pending
    ? { accountedNs: startedAtNs, pendingUntilNs: startedAtNs + startEventSlackNs }
    : { accountedNs: startedAtNs }
  if (ledger === undefined) return { ledger: next, restart: false }
  if (startedAtNs > ledger.accountedNs) return { ledger: next, restart: true }
  return undefined
}

export interface LoopPolicy {
  /** Deaths within the window that make a loop (K). */
  readonly deaths: number
  readonly windowMs: number
  /** A loop clears after this long without a death. */
  readonly stableMs: number
}

export interface LoopState {
  /** Death times (ms) within the window, oldest first. */
  readonly deaths: readonly number[]
  readonly lastDeathMs?: number
  readonly lastStartMs?: number
  readonly active: boolean
}

export const initialLoopState: LoopState = { deaths: [], active: false }

function prune(deaths: readonly number[], policy: LoopPolicy, nowMs: number): number[] {
  return deaths.filter((t) => nowMs - t < policy.windowMs)
}

/** A death (`die` event, or a start whose death went unseen). */
export function recordDeath(state: LoopState, policy: LoopPolicy, atMs: number): LoopState {
  const deaths = [...prune(state.deaths, policy, atMs), atMs]
  return {
    ...state,
    deaths,
    lastDeathMs: atMs,
    active: state.active || deaths.length >= policy.deaths,
  }
}

export function recordStart(state: LoopState, atMs: number): LoopState {
  return { ...state, lastStartMs: atMs }
}

/**
 * When time passing next changes what a loop reports: the moment an active loop clears (deaths leaving
 * the window change nothing visible until the next death, which prunes them itself). Undefined when
 * nothing will change by waiting, so an idle watcher sets no timer.
 */
export function nextLoopChangeMs(state: LoopState, policy: LoopPolicy): number | undefined {
  if (!state.active) return undefined
  return Math.max(state.lastDeathMs ?? 0, state.lastStartMs ?? 0) + policy.stableMs
}

/**
 * Time passing: clears an active loop once the container has gone `stableMs` without dying (whether
 * it has been up since, or was stopped and stayed down), and forgets deaths outside the window.
 */
export function evaluateLoop(state: LoopState, policy: LoopPolicy, nowMs: number): LoopState {
  const deaths = prune(state.deaths, policy, nowMs)
  if (state.active) {
    const quietSince = Math.max(state.lastDeathMs ?? 0, state.lastStartMs ?? 0)
    if (nowMs - quietSince >= policy.stableMs) {
      return { ...state, deaths: [], active: false }
    }
  }
  return deaths.length === state.deaths.length ? state : { ...state, deaths }
}
