// core/restart-loop.ts: restart accounting from start events and inspect, and loop detection.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  evaluateLoop,
  initialLoopState,
  nextLoopChangeMs,
  reconcileStart,
  recordDeath,
  recordStart,
  recordStartEvent,
  startEventIsAmbiguous,
  startEventSlackNs,
  type LoopPolicy,
  type StartLedger,
} from '../../src/core/restart-loop.js'

const s = (seconds: number): bigint => BigInt(seconds) * 1_000_000_000n

test('the first start of a container is not a restart; every later start is', () => {
  let ledger: StartLedger | undefined
  let restarts = 0
  for (const t of [10, 11, 13, 20]) {
    const v = recordStartEvent(ledger, s(t))
    ledger = v.ledger
    if (v.restart) restarts++
  }
  assert.equal(restarts, 3)
})

test('a start seen by inspect before its event arrives is counted once', () => {
  // Known container, started at 10; the stream breaks; it restarts at 20; inspect sees it first.
  let ledger: StartLedger | undefined = recordStartEvent(undefined, s(10)).ledger
  const r = reconcileStart(ledger, s(20), s(15))
  assert.ok(r)
  assert.equal(r.restart, true)
  ledger = r.ledger
  // The replayed event of that same start (a few ms later) is recognised.
  const e = recordStartEvent(ledger, s(20) + 3_000_000n)
  assert.equal(e.restart, false)
  // The next real start counts again.
  assert.equal(recordStartEvent(e.ledger, s(30)).restart, true)
})

test('an earlier start replayed after inspect counted a later one is counted too', () => {
  const ledger = recordStartEvent(undefined, s(10)).ledger
  const r = reconcileStart(ledger, s(30), s(12))!
  assert.equal(r.restart, true)
  // Replay: the start at 20 (never seen), then the one at 30 (already counted by inspect).
  const a = recordStartEvent(r.ledger, s(20))
  assert.equal(a.restart, true)
  const b = recordStartEvent(a.ledger, s(30) + 1_000_000n)
  assert.equal(b.restart, false)
})

test('inspect at the first sight of a container sets the baseline without counting', () => {
  // Started long before the event stream begins: its event will not come, the next start counts.
  const old = reconcileStart(undefined, s(100), s(1000))!
  assert.equal(old.restart, false)
  assert.equal(old.ledger.pendingUntilNs, undefined)
  assert.equal(recordStartEvent(old.ledger, s(1001)).restart, true)
  // Started just as the stream begins: its event will come and must not count.
  const fresh = reconcileStart(undefined, s(1000), s(1000) + startEventSlackNs / 2n)!
  assert.equal(fresh.restart, false)
  assert.equal(recordStartEvent(fresh.ledger, s(1000) + 5_000_000n).restart, false)
  // Never started: nothing to account.
  assert.equal(reconcileStart(undefined, undefined, s(1)), undefined)
})

test('inspect showing the start already accounted changes nothing', () => {
  const ledger = recordStartEvent(undefined, s(10) + 2_000_000n).ledger
  assert.equal(reconcileStart(ledger, s(10), s(5)), undefined)
})

const policy: LoopPolicy = { deaths: 3, windowMs: 300_000, stableMs: 600_000 }

test('K deaths within W make a loop; fewer, or spread wider than W, do not', () => {
  let st = initialLoopState
  st = recordDeath(st, policy, 0)
  st = recordDeath(st, policy, 100_000)
  assert.equal(st.active, false)
  st = recordDeath(st, policy, 200_000)
  assert.equal(st.active, true)

  let spread = initialLoopState
  for (const t of [0, 200_000, 400_000, 600_000]) spread = recordDeath(spread, policy, t)
  assert.equal(spread.active, false)
  assert.equal(spread.deaths.length, 2)
})

test('a loop clears only after the stable period without a death (up, or down and quiet)', () => {
  let st = initialLoopState
  for (const t of [0, 1000, 2000]) st = recordDeath(st, policy, t)
  st = recordStart(st, 3000)
  assert.equal(evaluateLoop(st, policy, 3000 + 599_999).active, true)
  // Another death restarts the clock.
  const again = recordDeath(st, policy, 500_000)
  assert.equal(evaluateLoop(again, policy, 3000 + 600_000).active, true)
  const cleared = evaluateLoop(st, policy, 3000 + 600_000)
  assert.equal(cleared.active, false)
  assert.deepEqual(cleared.deaths, [])
  // Stopped after the loop and never started again: clears after the stable period too.
  let stopped = initialLoopState
  for (const t of [0, 1000, 2000]) stopped = recordDeath(stopped, policy, t)
  assert.equal(evaluateLoop(stopped, policy, 602_000).active, false)
})

test('the next change by time alone: none without a loop; the end of the stable period with one', () => {
  // The watcher sets a timer only for this moment, so an idle daemon is never woken.
  let st = recordDeath(initialLoopState, policy, 0)
  assert.equal(nextLoopChangeMs(st, policy), undefined)
  for (const t of [1000, 2000]) st = recordDeath(st, policy, t)
  assert.equal(nextLoopChangeMs(st, policy), 2000 + 600_000)
  st = recordStart(st, 3000)
  const due = nextLoopChangeMs(st, policy)!
  assert.equal(due, 3000 + 600_000)
  assert.equal(evaluateLoop(st, policy, due - 1).active, true)
  const cleared = evaluateLoop(st, policy, due)
  assert.equal(cleared.active, false)
  assert.equal(nextLoopChangeMs(cleared, policy), undefined)
})

test('evaluate forgets deaths outside the window and is a no-op otherwise', () => {
  let st = recordDeath(initialLoopState, policy, 0)
  assert.equal(evaluateLoop(st, policy, 1000), st)
  st = evaluateLoop(st, policy, 300_000)
  assert.deepEqual(st.deaths, [])
})

test('a quick restart right after a start accounted from inspect is counted (StartedAt tells)', () => {
  // Started at 100 s, 1 s before the event stream's `since` (its own event is not replayed); the
  // container dies and starts again 0.5 s later, inside the slack after the accounted start.
  const accounted = reconcileStart(undefined, s(100), s(101))!.ledger
  const quick = s(100) + 500_000_000n
  assert.equal(startEventIsAmbiguous(accounted, quick), true)
  // Inspect on arrival shows the newer StartedAt: one restart, and it is this event's own start.
  const v = recordStartEvent(accounted, quick + 1_000_000n, quick)
  assert.equal(v.restart, true)
  assert.deepEqual(v.ledger, { accountedNs: quick + 1_000_000n })
  assert.equal(startEventIsAmbiguous(v.ledger, quick + 2_000_000n), false)
  // Without the inspect (it failed) the event is taken for the accounted start's own, as before.
  assert.equal(recordStartEvent(accounted, quick + 1_000_000n).restart, false)
})

test('the accounted start’s own late event, with a newer start already inspected, counts once', () => {
  const accounted = reconcileStart(undefined, s(100), s(100))!.ledger
  const newer = s(101)
  // Own event of the 100 s start arrives 3 ms late; by then the container has started again at 101 s.
  const own = recordStartEvent(accounted, s(100) + 3_000_000n, newer)
  assert.equal(own.restart, true)
  assert.deepEqual(own.ledger, { accountedNs: newer, pendingUntilNs: newer + startEventSlackNs })
  // The newer start's own event then arrives and StartedAt is unchanged: not counted again.
  const second = recordStartEvent(own.ledger, newer + 2_000_000n, newer)
  assert.equal(second.restart, false)
  // The start event of an unchanged StartedAt is its own (the old behaviour, kept).
  assert.equal(recordStartEvent(accounted, s(100) + 3_000_000n, s(100)).restart, false)
})
