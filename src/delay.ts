// The daemon's one abortable wait: resolves after `ms`, or at once when `signal` aborts (never rejects),
// and leaves no timer behind either way. Timing lives in the adapters and the heal flow; core/ takes
// time as an argument.

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
