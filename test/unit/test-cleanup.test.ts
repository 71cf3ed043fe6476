// The suite's cleanup order (test/helpers/cleanup.ts): every test tears its peers down through it, so
// an engine failure in one cleanup must not leave a daemon or a server running (that held a test
// file open until CI's timeout once).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

/** A scope that keeps the hooks defer() registers, to run them as node:test would. */
function scope(): CleanupScope & { hooks: Array<() => unknown> } {
  const hooks: Array<() => unknown> = []
  return { hooks, after: (fn) => hooks.push(fn) }
}

test('cleanups run last registered first, through one hook', async () => {
  const s = scope()
  const ran: string[] = []
  defer(s, () => ran.push('directory removed'))
  defer(s, async () => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    ran.push('container removed')
  })
  defer(s, () => ran.push('daemon stopped'))
  assert.equal(s.hooks.length, 1)
  await s.hooks[0]!()
  assert.deepEqual(ran, ['daemon stopped', 'container removed', 'directory removed'])
})

test('a failing cleanup does not stop the others; its error fails the test', async () => {
  const s = scope()
  const ran: string[] = []
  defer(s, () => ran.push('directory removed'))
  defer(s, () => {
    throw new Error('docker rm -f failed: Could not kill running container')
  })
  defer(s, () => ran.push('prometheus stopped'))
  await assert.rejects(() => s.hooks[0]!() as Promise<void>, /Could not kill running container/)
  assert.deepEqual(ran, ['prometheus stopped', 'directory removed'])
})

test('several failing cleanups are thrown together, each kept', async () => {
  const s = scope()
  const ran: string[] = []
  defer(s, () => Promise.reject(new Error('first registered')))
  defer(s, () => ran.push('between'))
  defer(s, () => {
    throw new Error('last registered')
  })
  await assert.rejects(
    () => s.hooks[0]!() as Promise<void>,
    (err: unknown) => {
      assert.ok(err instanceof AggregateError)
      assert.deepEqual(
        err.errors.map((e: Error) => e.message),
        ['last registered', 'first registered'],
      )
      return true
    },
  )
  assert.deepEqual(ran, ['between'])
})

test('a cleanup that defers another runs it too; separate scopes keep separate lists', async () => {
  const a = scope()
  const b = scope()
  const ran: string[] = []
  defer(a, () => defer(a, () => ran.push('deferred by a cleanup')))
  defer(b, () => ran.push('b'))
  await a.hooks[0]!()
  assert.deepEqual(ran, ['deferred by a cleanup'])
  await b.hooks[0]!()
  assert.deepEqual(ran, ['deferred by a cleanup', 'b'])
})
