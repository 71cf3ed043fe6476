// What to do about an issuer mismatch: (trigger, target state, mode, live discovery, breaker) -> a
// repair plan or a skip with a stable reason (a metric label). Pure: the orchestrator (src/heal/healer.ts)
// gathers the facts and acts. The order of the checks is the safety argument:
// 1. never act twice at once, never act in observe mode, never touch a container the operator stopped;
// 2. never fix towards a value the provider does not return now (live discovery, compared as go-oidc
//    does: raw strings, shared/gotchas.md), and never re-point a connector at another origin;
// 3. dry-run reports the plan it would carry out; only then does the breaker's budget get consulted.

import type { Mode } from '../config/schema.js'
import { advance, requestRepair, type BreakerPolicy, type BreakerState } from './breaker.js'
import { describeIssuerDifference } from './issuer.js'

export type TargetStatus =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'missing'

export type HealTrigger =
  { readonly kind: 'finding'; readonly connectorId?: string } | { readonly kind: 'drift' }

/** Live discovery of one OIDC connector's stored issuer. */
export interface ConnectorDiscovery {
  readonly connectorId: string
  readonly stored: string
  readonly result:
    | {
        readonly ok: true
        readonly returned: string
        /**
         * Discovery at `returned` itself answers `returned` (so NetBird, once fixed, will see the same).
         * Undefined when not checked (no drift).
         */
        readonly selfConsistent?: boolean
      }
    | { readonly ok: false; readonly reason: string; readonly message: string }
}

export interface IssuerFix {
  readonly connectorId: string
  readonly from: string
  readonly to: string
  /** Human explanation ("the provider returns it with a trailing slash"). */
  readonly why: string
}

export const skipReasons = [
  'in_progress',
  'observe',
  'container_stopped',
  'container_missing',
  'discovery_unreachable',
  'no_drift',
  'unsafe_issuer',
  'dry_run',
  'breaker_open',
] as const
export type SkipReason = (typeof skipReasons)[number]

export type HealDecision =
  /** Facts are missing: run live discovery, then decide again with it. */
  | { readonly action: 'discover' }
  | {
      readonly action: 'repair'
      readonly fixes: readonly IssuerFix[]
      /** Connectors whose discovery failed; left alone (they may still break the next start). */
      readonly unreachable: readonly ConnectorDiscovery[]
    }
  | {
      readonly action: 'skip'
      readonly reason: SkipReason
      readonly detail: string
      /** The plan a dry run would have carried out. */
      readonly fixes?: readonly IssuerFix[]
    }

export interface HealInput {
  readonly mode: Mode
  readonly trigger: HealTrigger
  readonly status: TargetStatus
  /** A repair (or its confirmation) for this target is already running. */
  readonly inFlight: boolean
  /** Undefined until discovery has run. */
  readonly discovery?: readonly ConnectorDiscovery[]
  readonly breaker: BreakerState
  readonly policy: BreakerPolicy
  readonly now: number
}

/** The decision, and the breaker state to keep (asking for a repair may latch it open). */
export function decideHeal(input: HealInput): { decision: HealDecision; breaker: BreakerState } {
  const keep = (decision: HealDecision): { decision: HealDecision; breaker: BreakerState } => ({
    decision,
    breaker: input.breaker,
  })
  if (input.inFlight) {
    return keep(skip('in_progress', 'a repair for this container is already in progress'))
  }
  if (input.mode === 'observe') return keep(skip('observe', 'mode is observe: reporting only'))
  if (input.status === 'missing') return keep(skip('container_missing', 'the container is gone'))
  if (!isActive(input.status)) {
    return keep(
      skip(
        'container_stopped',
        `the container is ${input.status}: it was stopped on purpose, so it is left alone`,
      ),
    )
  }
  if (input.discovery === undefined) {
    // An open breaker refuses any repair: spare the provider a discovery request per crash.
    const open = advance(input.breaker, input.policy, input.now).open
    if (input.mode === 'repair' && open !== null) {
      return keep(
        skip('breaker_open', `circuit breaker open (${open.reason}); POST /reset re-arms it`),
      )
    }
    return keep({ action: 'discover' })
  }

  const unreachable = input.discovery.filter((d) => !d.result.ok)
  const fixes: IssuerFix[] = []
  const unsafe: string[] = []
  for (const d of input.discovery) {
    if (!d.result.ok || d.result.returned === d.stored) continue
    const fix = {
      connectorId: d.connectorId,
      from: d.stored,
      to: d.result.returned,
      why: describeIssuerDifference(d.stored, d.result.returned),
    }
    if (!sameOrigin(d.stored, d.result.returned)) {
      unsafe.push(
        `${d.connectorId}: the provider returns an issuer on another origin (${JSON.stringify(fix.to)})`,
      )
    } else if (d.result.selfConsistent === false) {
      unsafe.push(`${d.connectorId}: discovery at ${JSON.stringify(fix.to)} does not return it`)
    } else fixes.push(fix)
  }
  const named = input.trigger.kind === 'finding' ? input.trigger.connectorId : undefined
  const namedUnreachable = unreachable.find((d) => d.connectorId === named)
  if (namedUnreachable !== undefined && !namedUnreachable.result.ok) {
    return keep(
      skip(
        'discovery_unreachable',
        `cannot confirm the issuer of ${namedUnreachable.connectorId}: discovery failed (${namedUnreachable.result.reason}: ${namedUnreachable.result.message})`,
      ),
    )
  }
  if (fixes.length === 0) {
    if (unsafe.length > 0) {
      return keep(skip('unsafe_issuer', `not rewriting automatically: ${unsafe.join('; ')}`))
    }
    if (unreachable.length > 0) {
      return keep(
        skip(
          'discovery_unreachable',
          `discovery failed for ${unreachable.map((d) => d.connectorId).join(', ')}; nothing is confirmed`,
        ),
      )
    }
    return keep(skip('no_drift', 'live discovery agrees with every stored issuer'))
  }
  if (input.mode === 'dry-run') {
    return keep({
      action: 'skip',
      reason: 'dry_run',
      detail: `dry-run: would set ${fixes.map((f) => `${f.connectorId} issuer to ${JSON.stringify(f.to)}`).join(', ')}`,
      fixes,
    })
  }
  const asked = requestRepair(input.breaker, input.policy, input.now)
  if (!asked.verdict.allowed) {
    return {
      decision: skip(
        'breaker_open',
        `circuit breaker open (${asked.verdict.openReason}); closes by itself at ${new Date(asked.verdict.closesAt).toISOString()} if the container stays quiet, or via POST /reset`,
      ),
      breaker: asked.state,
    }
  }
  return { decision: { action: 'repair', fixes, unreachable }, breaker: asked.state }
}

export type RestartDecision =
  | { readonly action: 'restart' }
  | { readonly action: 'wait'; readonly waitMs: number }
  /** Docker's restart policy is already restarting it: never fight it. */
  | { readonly action: 'let-docker' }
  /** Stopped (by the operator, or gone): never start it. */
  | { readonly action: 'leave'; readonly detail: string }

/** After the database changed: how the new config gets loaded. */
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

function isActive(status: TargetStatus): boolean {
  return status === 'running' || status === 'restarting'
}

function skip(reason: SkipReason, detail: string): HealDecision {
  return { action: 'skip', reason, detail }
}

/** Same scheme, host and port: the fix only changes the path's spelling (the trailing-slash case). */
function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}
