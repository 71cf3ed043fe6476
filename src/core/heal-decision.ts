// What to do about an issuer problem, in two pure steps the healer (heal/healer.ts) takes once each:
// 1. `decideGate` (mode, target state, breaker) — before any network request: never act twice at
//    once, never act in observe mode, never touch a container the operator stopped, and with an open
//    breaker spare the provider a discovery request per crash;
// 2. `decideRepair` (the issuer policy's verdicts, core/issuer-policy.ts) — only fixes the policy
//    allows; a dry run reports the plan it would carry out; only then is the breaker's budget spent.
// Plus, after the store changed, how the new config gets loaded: `decideActivation` (live, proven by
// the SSO login probe — Dex reopens a connector whose resource_version changed — or a restart) and
// `decideRestart` (when a restart is the way).
import type { Mode } from './mode.js'
import { advance, requestRepair, type BreakerPolicy, type BreakerState } from './breaker.js'
import { describeVerdict, type IssuerVerdict } from './issuer-policy.js'
import { quoteText } from './issuer.js'

export type TargetStatus =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'missing'

export type HealTrigger =
  | {
      readonly kind: 'finding'
      readonly connectorId?: string
      /** A fatal line: the process is exiting (NetBird v0.62–v0.65.1's crash loop). */
      readonly fatal?: boolean
    }
  | { readonly kind: 'drift' }
  /** The SSO login probe failed for a connector (core/sso-probe.ts repairTriggers). */
  | { readonly kind: 'probe'; readonly connectorId: string; readonly reason: string }

/** A fix the issuer policy allows: set `connectorId`'s issuer from `from` to `to`. */
export type IssuerFix = Omit<Extract<IssuerVerdict, { kind: 'fix' }>, 'kind'>

export const skipReasons = [
  'in_progress',
  'observe',
  'container_stopped',
  'container_missing',
  'docker_unreachable',
  'store_unreadable',
  'discovery_unreachable',
  'no_drift',
  'unsafe_issuer',
  'dry_run',
  'breaker_open',
] as const
export type SkipReason = (typeof skipReasons)[number]

export type Skip = {
  readonly action: 'skip'
  readonly reason: SkipReason
  readonly detail: string
  /** The plan a dry run would have carried out. */
  readonly fixes?: readonly IssuerFix[]
}

export type GateDecision = { readonly action: 'proceed' } | Skip

export interface GateInput {
  readonly mode: Mode
  readonly status: TargetStatus
  /** A repair (or its confirmation) for this target is already running. */
  readonly inFlight: boolean
  readonly breaker: BreakerState
  readonly policy: BreakerPolicy
  readonly now: number
}

export function decideGate(input: GateInput): GateDecision {
  if (input.inFlight)
    return skip('in_progress', 'a repair for this container is already in progress')
  if (input.mode === 'observe') return skip('observe', 'mode is observe: reporting only')
  if (input.status === 'missing') return skip('container_missing', 'the container is gone')
  if (input.status !== 'running' && input.status !== 'restarting') {
    return skip(
      'container_stopped',
      `the container is ${input.status}: it was stopped on purpose, so it is left alone`,
    )
  }
  const open = advance(input.breaker, input.policy, input.now).open
  if (input.mode === 'repair' && open !== null) {
    return skip('breaker_open', `circuit breaker open (${open.reason}); POST /reset re-arms it`)
  }
  return { action: 'proceed' }
}

export type RepairDecision =
  | {
      readonly action: 'repair'
      readonly fixes: readonly IssuerFix[]
      /** Connectors whose discovery failed; left alone (they may still break the next start). */
      readonly unreachable: readonly IssuerVerdict[]
    }
  | Skip

export interface RepairInput {
  readonly mode: Mode
  readonly trigger: HealTrigger
  readonly verdicts: readonly IssuerVerdict[]
  readonly breaker: BreakerState
  readonly policy: BreakerPolicy
  readonly now: number
}

/** The decision, and the breaker state to keep (asking for a repair may latch it open). */
export function decideRepair(input: RepairInput): {
  decision: RepairDecision
  breaker: BreakerState
} {
  const keep = (decision: RepairDecision) => ({ decision, breaker: input.breaker })
  const fixes: IssuerFix[] = input.verdicts.flatMap((v) =>
    v.kind === 'fix' ? [{ connectorId: v.connectorId, from: v.from, to: v.to, why: v.why }] : [],
  )
  const refused = input.verdicts.filter((v) => v.kind === 'refuse')
  const unreachable = input.verdicts.filter((v) => v.kind === 'unreachable')
  const named = input.trigger.kind === 'drift' ? undefined : input.trigger.connectorId
  const namedUnreachable = unreachable.find((v) => v.connectorId === named)
  if (namedUnreachable !== undefined) {
    return keep(
      skip(
        'discovery_unreachable',
        `cannot confirm the issuer: ${describeVerdict(namedUnreachable)}`,
      ),
    )
  }
  if (fixes.length === 0) {
    if (refused.length > 0) {
      return keep(
        skip(
          'unsafe_issuer',
          `not rewriting automatically: ${refused.map(describeVerdict).join('; ')}`,
        ),
      )
    }
    if (unreachable.length > 0) {
      return keep(
        skip(
          'discovery_unreachable',
          `discovery failed for ${unreachable.map((v) => v.connectorId).join(', ')}; nothing is confirmed`,
        ),
      )
    }
    return keep(skip('no_drift', 'live discovery agrees with every stored issuer'))
  }
  if (input.mode === 'dry-run') {
    return keep({
      action: 'skip',
      reason: 'dry_run',
      detail: `dry-run: would set ${fixes.map((f) => `${f.connectorId} issuer to ${quoteText(f.to)}`).join(', ')}`,
      fixes,
    })
  }
  const asked = requestRepair(input.breaker, input.policy, input.now)
  if (!asked.verdict.allowed) {
    return {
      decision: skip(
        'breaker_open',
        `circuit breaker open (${asked.verdict.openReason}); closes by itself in ${Math.max(1, Math.ceil((asked.verdict.closesAt - input.now) / 60_000))} min if the container stays quiet, or via POST /reset`,
      ),
      breaker: asked.state,
    }
  }
  return { decision: { action: 'repair', fixes, unreachable }, breaker: asked.state }
}

export type Activation =
  /** Dex picks the fix up at the next login (new resource_version): prove it with the login probe. */
  | { readonly how: 'live' }
  /** Restart the container so NetBird loads the fix (NetBird's own restart policy, or ours). */
  | { readonly how: 'restart'; readonly why: string }

export interface ActivationInput {
  /** The SSO login probe can run against this target (a URL is known). */
  readonly probeAvailable: boolean
  readonly status: TargetStatus
  /** The target is in a restart loop, died lately, or the trigger was a fatal line. */
  readonly crashLooping: boolean
}

/**
 * After a repair committed: a restart of NetBird (management, signal and relay; every peer reconnects)
 * is a cost, paid only when nothing else works. A running NetBird that is not crash-looping loads the
 * fix live — Dex rereads the connector at every login and reopens it because its version changed — and
 * the login probe proves it. A crash-looping or stopped container, or no probe to prove anything with,
 * takes the restart path (and a live repair the probe cannot prove falls back to it).
 */
export function decideActivation(i: ActivationInput): Activation {
  if (!i.probeAvailable) {
    return {
      how: 'restart',
      why: 'no SSO login probe to prove a live fix with (sso.url unset and not derivable)',
    }
  }
  if (i.status !== 'running') return { how: 'restart', why: `the container is ${i.status}` }
  if (i.crashLooping) return { how: 'restart', why: 'the container is crash-looping' }
  return { how: 'live' }
}

export type RestartDecision =
  | { readonly action: 'restart' }
  | { readonly action: 'wait'; readonly waitMs: number }
  /** Docker's restart policy is already restarting it: never fight it. */
  | { readonly action: 'let-docker' }
  /** Stopped (by the operator, or gone): never start it. */
  | { readonly action: 'leave'; readonly detail: string }

/** After the store changed: how the new config gets loaded. */
export function decideRestart(
  status: TargetStatus,
  backoff: { readonly allowed: true } | { readonly allowed: false; readonly waitMs: number },
): RestartDecision {
  switch (status) {
    case 'restarting':
      return { action: 'let-docker' }
    case 'running':
      return backoff.allowed ? { action: 'restart' } : { action: 'wait', waitMs: backoff.waitMs }
    case 'created':
    case 'paused':
    case 'removing':
    case 'exited':
    case 'dead':
    case 'missing':
      return { action: 'leave', detail: `the container is ${status}; it is not started` }
  }
}

function skip(reason: SkipReason, detail: string): Skip {
  return { action: 'skip', reason, detail }
}
