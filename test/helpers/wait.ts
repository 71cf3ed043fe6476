// Polling with a deadline, for tests that cannot await an event: the condition is asked every
// `intervalMs` until it holds or `timeoutMs` passes (then a loud failure naming what was awaited).
// Needs no Docker engine, so a test of any tier may use it.

/** Polls `check` until it returns a value other than undefined/false, with a deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last })
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
