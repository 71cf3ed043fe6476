// What the healer keeps per target container: its circuit breaker (core/breaker.ts, held here so no
// step threads the state in and out), the repair in flight, the evidence gathered since the last
// commit, a confirmation waiting to resume, and when it last notified a detection.
import {
  advance,
  closedBreaker,
  recordRepair,
  recordRestart,
  recordTrouble,
  recordUp,
  requestRestart,
  tripBreaker,
  type BreakerPolicy,
  type BreakerState,
  type OpenReason,
  type RestartVerdict,
} from '../core/breaker.js'
import type { ProbeResult } from '../core/sso-probe.js'
import type { RepairResult } from './repair.js'

/** A committed repair waiting for (or resuming) its confirmation. */
export interface PendingConfirm {
  readonly repair: RepairResult
  readonly committedAt: number
  /** The SSO login probe's round just before the repair (undefined: no probe): the baseline for evidence. */
  readonly baseline?: readonly ProbeResult[]
  /**
   * Staying up proves the repair: the container was crash-looping on the failure (NetBird
   * v0.62–v0.65.1 exits on a connector it cannot open). On v0.65.2+ only the probe proves it.
   */
  readonly upProves: boolean
}

/** What the target did since the last commit: what a confirmation judges. */
export interface Evidence {
  readonly failures: Array<{ at: number; what: string }>
  readonly kills: number[]
}

export class Target {
  name: string
  id: string
  inFlight: Promise<unknown> | null = null
  pending: PendingConfirm | null = null
  evidence: Evidence = { failures: [], kills: [] }
  /** Last detection webhook: a crash loop notifies once per episode, not once per crash. */
  notifiedAt = -Infinity
  /** The watcher's restart-loop state of the target. */
  looping = false
  /** Engine time of the target's last death (`die` event). */
  lastDeathAt = -Infinity
  /**
   * The restart after the pending repair was cut short by the engine going away: the engine may have
   * stopped the container and never started it again. Finished when the engine is back.
   */
  restartOwed = false
  #breaker: BreakerState = closedBreaker
  readonly #policy: BreakerPolicy
  readonly #now: () => number

  constructor(name: string, id: string, opts: { policy: BreakerPolicy; now: () => number }) {
    this.name = name
    this.id = id
    this.#policy = opts.policy
    this.#now = opts.now
  }

  /** The breaker as of now (time-driven transitions applied). */
  get breaker(): BreakerState {
    this.#breaker = advance(this.#breaker, this.#policy, this.#now())
    return this.#breaker
  }

  set breaker(next: BreakerState) {
    this.#breaker = next
  }

  get isOpen(): boolean {
    return this.breaker.open !== null
  }

  /** A new commit: evidence starts afresh. */
  armEvidence(): void {
    this.evidence = { failures: [], kills: [] }
  }

  noteTrouble(): void {
    this.#breaker = recordTrouble(this.#breaker, this.#policy, this.#now())
  }

  noteUp(): void {
    this.#breaker = recordUp(this.#breaker, this.#policy, this.#now())
  }

  noteRepair(at: number): void {
    this.#breaker = recordRepair(this.#breaker, this.#policy, at)
  }

  noteRestart(): void {
    this.#breaker = recordRestart(this.#breaker, this.#policy, this.#now())
  }

  restartVerdict(): RestartVerdict {
    return requestRestart(this.#breaker, this.#policy, this.#now())
  }

  trip(reason: OpenReason): void {
    this.#breaker = tripBreaker(this.#breaker, this.#policy, reason, this.#now())
  }

  reset(): void {
    this.#breaker = closedBreaker
  }
}
