import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  closedBreaker,
  recordRepair,
  tripBreaker,
  type BreakerPolicy,
} from '../../src/core/breaker.js'
import {
  decideGate,
  decideRepair,
  decideRestart,
  type HealTrigger,
  type RepairDecision,
  type TargetStatus,
} from '../../src/core/heal-decision.js'
import { judgeIssuer } from '../../src/core/issuer-policy.js'
import type { BreakerState } from '../../src/core/breaker.js'
import type { Mode } from '../../src/core/mode.js'

/** One connector's live discovery, as the cases below state it. */
interface ConnectorDiscovery {
  connectorId: string
  stored: string
  result:
    | { ok: true; returned: string; selfConsistent?: boolean }
    | { ok: false; reason: string; message: string }
}

interface HealInput {
  mode: Mode
  trigger: HealTrigger
  status: TargetStatus
  inFlight: boolean
  discovery?: ConnectorDiscovery[]
  breaker: BreakerState
  policy: BreakerPolicy
  now: number
}

/**
 * The two decisions the healer takes, composed as it composes them: the gate, then (with discovery
 * judged by the issuer policy) the repair decision. `discover` stands for "the gate let it through and
 * discovery has not run yet".
 */
function decideHeal(input: HealInput): {
  decision: RepairDecision | { action: 'discover' }
  breaker: BreakerState
} {
  const gate = decideGate(input)
  if (gate.action === 'skip') return { decision: gate, breaker: input.breaker }
  if (input.discovery === undefined)
    return { decision: { action: 'discover' }, breaker: input.breaker }
  const verdicts = input.discovery.map((d) =>
    judgeIssuer(
      {
        connectorId: d.connectorId,
        stored: d.stored,
        first: d.result.ok ? { ok: true, issuer: d.result.returned } : d.result,
        ...(d.result.ok && d.result.selfConsistent !== undefined
          ? {
              second: {
                ok: true,
                issuer: d.result.selfConsistent ? d.result.returned : `${d.result.returned}#other`,
              },
            }
          : {}),
      },
      { allowInsecure: false },
    ),
  )
  return decideRepair({ ...input, verdicts })
}

const policy: BreakerPolicy = {
  maxRepairs: 1,
  windowMs: 6 * 3600_000,
  cooldownMs: 24 * 3600_000,
  backoffInitialMs: 10_000,
  backoffMaxMs: 300_000,
  stableResetMs: 600_000,
}
const jc = 'd1c9q2ll0fgs73cunqsg'
const drift: ConnectorDiscovery = {
  connectorId: jc,
  stored: 'https://oauth.id.jumpcloud.com',
  result: { ok: true, returned: 'https://oauth.id.jumpcloud.com/', selfConsistent: true },
}
const base: HealInput = {
  mode: 'repair',
  trigger: { kind: 'finding', connectorId: jc },
  status: 'restarting',
  inFlight: false,
  discovery: [drift],
  breaker: closedBreaker,
  policy,
  now: 1_000,
}

test('the JumpCloud trailing-slash case is repaired towards what discovery returns', () => {
  const { decision, breaker } = decideHeal(base)
  assert.equal(decision.action, 'repair')
  assert.deepEqual(decision.action === 'repair' && decision.fixes, [
    {
      connectorId: jc,
      from: 'https://oauth.id.jumpcloud.com',
      to: 'https://oauth.id.jumpcloud.com/',
      why: 'the provider returns it with a trailing slash',
    },
  ])
  assert.equal(breaker.open, null)
})

test('without discovery facts the decision asks for them', () => {
  assert.deepEqual(decideHeal({ ...base, discovery: undefined }).decision, { action: 'discover' })
})

const skips: Array<[string, Partial<HealInput>, string]> = [
  ['in flight', { inFlight: true }, 'in_progress'],
  ['observe mode', { mode: 'observe' }, 'observe'],
  ['operator stopped it', { status: 'exited' }, 'container_stopped'],
  ['created, never started', { status: 'created' }, 'container_stopped'],
  ['paused', { status: 'paused' }, 'container_stopped'],
  ['gone', { status: 'missing' }, 'container_missing'],
  ['dry run', { mode: 'dry-run' }, 'dry_run'],
  [
    'discovery of the named connector failed',
    {
      discovery: [
        {
          connectorId: jc,
          stored: drift.stored,
          result: { ok: false, reason: 'timeout', message: 'x' },
        },
      ],
    },
    'discovery_unreachable',
  ],
  [
    'scheduled check, every provider unreachable',
    {
      trigger: { kind: 'drift' },
      discovery: [
        {
          connectorId: jc,
          stored: drift.stored,
          result: { ok: false, reason: 'http', message: '500' },
        },
      ],
    },
    'discovery_unreachable',
  ],
  [
    'discovery agrees',
    { discovery: [{ ...drift, result: { ok: true, returned: drift.stored } }] },
    'no_drift',
  ],
  [
    'provider points at another origin',
    {
      discovery: [
        { ...drift, result: { ok: true, returned: 'https://evil.example/', selfConsistent: true } },
      ],
    },
    'unsafe_issuer',
  ],
  [
    'the returned issuer does not answer for itself',
    {
      discovery: [
        {
          ...drift,
          result: { ok: true, returned: 'https://oauth.id.jumpcloud.com/x', selfConsistent: false },
        },
      ],
    },
    'unsafe_issuer',
  ],
  ['budget spent', { breaker: recordRepair(closedBreaker, policy, 0) }, 'breaker_open'],
]

for (const [name, patch, reason] of skips) {
  test(`skip: ${name} -> ${reason}`, () => {
    const { decision } = decideHeal({ ...base, ...patch })
    assert.equal(decision.action, 'skip')
    assert.equal(decision.action === 'skip' && decision.reason, reason)
  })
}

test('an open breaker skips before any discovery request; dry run still discovers', () => {
  const open = tripBreaker(closedBreaker, policy, 'rolled_back', 0)
  const undiscovered = { ...base, discovery: undefined, breaker: open }
  const { decision } = decideHeal(undiscovered)
  assert.equal(decision.action === 'skip' && decision.reason, 'breaker_open')
  assert.deepEqual(decideHeal({ ...undiscovered, mode: 'dry-run' }).decision, {
    action: 'discover',
  })
})

test('dry run carries the plan it would have run', () => {
  const { decision } = decideHeal({ ...base, mode: 'dry-run' })
  assert.equal(
    decision.action === 'skip' && decision.fixes?.[0]?.to,
    drift.result.ok && drift.result.returned,
  )
})

test('a spent budget latches the breaker in the returned state; dry run never touches it', () => {
  const spent = recordRepair(closedBreaker, policy, 0)
  assert.equal(decideHeal({ ...base, breaker: spent }).breaker.open?.reason, 'budget_exhausted')
  assert.equal(decideHeal({ ...base, breaker: spent, mode: 'dry-run' }).breaker.open, null)
  assert.equal(
    decideHeal({
      ...base,
      breaker: spent,
      discovery: [{ ...drift, result: { ok: true, returned: drift.stored } }],
    }).breaker.open,
    null,
  )
})

test('an unreachable second connector does not block fixing the drifted one', () => {
  const other: ConnectorDiscovery = {
    connectorId: 'okta-x',
    stored: 'https://okta.example',
    result: { ok: false, reason: 'connect', message: 'ECONNREFUSED' },
  }
  const { decision } = decideHeal({ ...base, discovery: [drift, other] })
  assert.equal(decision.action, 'repair')
  assert.deepEqual(decision.action === 'repair' && decision.unreachable.map((d) => d.connectorId), [
    'okta-x',
  ])
})

test('restart: never fight Docker, never start a stopped container, wait out the backoff', () => {
  assert.deepEqual(decideRestart('restarting', { allowed: true }), { action: 'let-docker' })
  assert.deepEqual(decideRestart('running', { allowed: true }), { action: 'restart' })
  assert.deepEqual(decideRestart('running', { allowed: false, waitMs: 5 }), {
    action: 'wait',
    waitMs: 5,
  })
  assert.equal(decideRestart('exited', { allowed: true }).action, 'leave')
  assert.equal(decideRestart('missing', { allowed: true }).action, 'leave')
})
