// Cleanups for a test, in the order Go's t.Cleanup runs them. node:test's t.after runs its hooks
// first-registered-first and stops at the first that throws: a test that made a directory, then
// containers mounting it, then a daemon and a Prometheus server removed the directory first, and
// when the engine then failed to remove the containers (restarting, their mount gone), the daemon
// and Prometheus were never stopped, and the file never ended. So every test and helper registers
// through defer().

/** What defer() needs of a test: node:test's TestContext, or a stand-in that collects cleanups. */
export interface CleanupScope {
  after(fn: () => unknown): void
}

const stacks = new WeakMap<CleanupScope, Array<() => unknown>>()

/**
 * Runs `fn` when the test `t` ends: the last registered first (a container is removed before the
 * directory it mounts, a daemon stopped before the server it talks to), every one of them even when
 * an earlier one fails; the failures are then thrown together, so the test still fails for them.
 */
export function defer(t: CleanupScope, fn: () => unknown): void {
  let stack = stacks.get(t)
  if (stack === undefined) {
    const own: Array<() => unknown> = []
    stacks.set(t, own)
    t.after(async () => {
      const failures: unknown[] = []
      // A cleanup may defer another; it runs in turn.
      for (let next = own.pop(); next !== undefined; next = own.pop()) {
        try {
          await next()
        } catch (err) {
          failures.push(err)
        }
      }
      if (failures.length === 1) throw failures[0]
      if (failures.length > 1) {
        throw new AggregateError(failures, `${failures.length} cleanups failed (each listed)`)
      }
    })
    stack = own
  }
  stack.push(fn)
}
