import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  advance,
  closedBreaker,
  isOpen,
  recordRepair,
  recordRestart,
  recordTrouble,
  recordUp,
  requestRepair,
  requestRestart,
  resetBreaker,
  tripBreaker,
  type BreakerPolicy,
} from '../../src/core/breaker.js'

const s = 1000
const min = 60 * s
const h = 60 * min
const policy: BreakerPolicy = {
  maxRepairs: 1,
  windowMs: 6 * h,
  cooldownMs: 24 * h,
  backoffInitialMs: 10 * s,
  backoffMaxMs: 5 * min,
  stableResetMs: 10 * min,
}

test('a closed breaker allows the budgeted repairs, then latches open', () => {
  const two = { ...policy, maxRepairs: 2 }
  let state = closedBreaker
  let asked = requestRepair(state, two, 0)
  assert.deepEqual(asked.verdict, { allowed: true, remaining: 2 })
  state = recordRepair(asked.state, two, 0)
  asked = requestRepair(state, two, 1 * min)
  assert.deepEqual(asked.verdict, { allowed: true, remaining: 1 })
  state = recordRepair(asked.state, two, 1 * min)
  asked = requestRepair(state, two, 2 * min)
  assert.equal(asked.verdict.allowed, false)
  assert.equal(asked.verdict.allowed === false && asked.verdict.openReason, 'budget_exhausted')
  assert.equal(isOpen(asked.state, two, 2 * min), true)
})

test('the latch does not reopen the budget when the window slides: it needs the cooldown', () => {
  let state = recordRepair(closedBreaker, policy, 0)
  state = requestRepair(state, policy, 1 * h).state // budget spent -> open
  assert.equal(isOpen(state, policy, 1 * h), true)
  // The 6 h window has passed, the breaker stays open (latched).
  assert.equal(requestRepair(state, policy, 7 * h).verdict.allowed, false)
  // 24 h after opening with no trouble it closes, with a fresh budget.
  const later = requestRepair(state, policy, 1 * h + 24 * h)
  assert.deepEqual(later.verdict, { allowed: true, remaining: 1 })
})

test('trouble while open restarts the cooldown: only a long stable period closes it', () => {
  let state = tripBreaker(closedBreaker, policy, 'rolled_back', 0)
  state = recordTrouble(state, policy, 20 * h)
  assert.equal(isOpen(state, policy, 24 * h), true)
  const verdict = requestRepair(state, policy, 30 * h).verdict
  assert.equal(verdict.allowed, false)
  assert.equal(verdict.allowed === false && verdict.closesAt, 44 * h)
  assert.equal(isOpen(state, policy, 44 * h), false)
})

test('within the window a second repair is refused even after the first succeeded', () => {
  let state = recordRepair(closedBreaker, policy, 0)
  state = recordUp(state, policy, 1 * min)
  const asked = requestRepair(state, policy, 5 * h)
  assert.equal(asked.verdict.allowed, false)
})

test('once the window has slid past a repair, a closed breaker allows another', () => {
  const state = recordRepair(closedBreaker, policy, 0)
  assert.equal(requestRepair(state, policy, 6 * h).verdict.allowed, true)
})

test('operator reset closes an open breaker and clears the budget and backoff', () => {
  const open = recordRestart(
    tripBreaker(recordRepair(closedBreaker, policy, 0), policy, 'rolled_back', 0),
    policy,
    0,
  )
  assert.equal(isOpen(open, policy, 1), true)
  const state = resetBreaker()
  assert.deepEqual(requestRepair(state, policy, 1).verdict, { allowed: true, remaining: 1 })
  assert.deepEqual(requestRestart(state, policy, 1), { allowed: true })
})

test('restart backoff: immediate, then 10 s doubling to a 5 min cap', () => {
  let state = closedBreaker
  let now = 0
  const waits: number[] = []
  for (let i = 0; i < 8; i++) {
    const verdict = requestRestart(state, policy, now)
    if (!verdict.allowed) {
      waits.push(verdict.waitMs)
      now = verdict.notBefore
      assert.deepEqual(requestRestart(state, policy, now), { allowed: true })
    } else waits.push(0)
    state = recordRestart(state, policy, now)
  }
  assert.deepEqual(waits, [0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s])
})

test('restart backoff resets after the target stayed up for the stable period', () => {
  let state = recordRestart(closedBreaker, policy, 0)
  state = recordRestart(state, policy, 10 * s)
  state = recordUp(state, policy, 11 * s)
  assert.equal(requestRestart(state, policy, 12 * s).allowed, false)
  // 10 min up: back to an immediate restart, then 10 s again.
  const later = 11 * s + 10 * min
  assert.deepEqual(requestRestart(state, policy, later), { allowed: true })
  state = recordRestart(advance(state, policy, later), policy, later)
  const verdict = requestRestart(state, policy, later + 1)
  assert.equal(verdict.allowed === false && verdict.waitMs, 10 * s - 1)
})

test('trouble interrupts the stable period', () => {
  let state = recordRestart(closedBreaker, policy, 0)
  state = recordUp(state, policy, 1 * s)
  state = recordTrouble(state, policy, 5 * min)
  state = recordRestart(state, policy, 5 * min)
  // Not reset to immediate: the delay doubled to 20 s.
  const verdict = requestRestart(state, policy, 5 * min + 15 * s)
  assert.equal(verdict.allowed === false && verdict.waitMs, 5 * s)
})

test('a zero initial backoff (tests) never waits', () => {
  const fast = { ...policy, backoffInitialMs: 0 }
  let state = recordRestart(closedBreaker, fast, 0)
  state = recordRestart(state, fast, 0)
  assert.deepEqual(requestRestart(state, fast, 0), { allowed: true })
})
