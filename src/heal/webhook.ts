// Optional webhook notifications: one JSON POST per detection, repair, rollback or breaker event to the
// URL from NETBIRD_WATCHDOG_WEBHOOK_URL[_FILE]. Best effort: a failing webhook is logged (never its URL,
// which may carry a token) and never blocks or fails the healing itself.
import type { Logger } from '../log.js'
import { errorMessage } from '../errors.js'

export type WebhookEvent = 'detection' | 'repair' | 'rollback' | 'breaker'

export interface Notification {
  readonly event: WebhookEvent
  readonly container: string
  /** One human sentence, for chat tools that show `text`. */
  readonly text: string
  readonly details?: Readonly<Record<string, unknown>>
}

export interface Notifier {
  notify(n: Notification): void
  /** Resolves when every POST started so far has finished (shutdown, tests). */
  flush(): Promise<void>
}

export function createNotifier(opts: {
  url: string | undefined
  events: readonly WebhookEvent[]
  timeoutMs: number
  version: string
  logger: Logger
  fetch?: typeof fetch
}): Notifier {
  const pending = new Set<Promise<void>>()
  const doFetch = opts.fetch ?? fetch
  const log = opts.logger.child({ component: 'webhook' })
  return {
    notify(n) {
      if (opts.url === undefined || !opts.events.includes(n.event)) return
      const body = JSON.stringify({
        source: 'netbird-watchdog',
        version: opts.version,
        time: new Date().toISOString(),
        ...n,
      })
      const sent = doFetch(opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs),
      })
        .then(async (res) => {
          await res.body?.cancel()
          if (!res.ok) log.warn({ event: n.event, status: res.status }, 'webhook rejected')
        })
        .catch((err: unknown) => {
          // The message only, never the error object: its cause chain can carry the URL, and the URL
          // can carry a token.
          log.warn({ event: n.event, err: errorMessage(err) }, 'webhook failed')
        })
        .finally(() => pending.delete(sent))
      pending.add(sent)
    },
    async flush() {
      await Promise.all([...pending])
    },
  }
}
