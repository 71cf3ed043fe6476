// Optional webhook notifications: one JSON POST per detection, repair, rollback or breaker event, and
// per IdP store found lost or replaced (and found whole again), to the URL from NETBIRD_WATCHDOG_WEBHOOK_URL[_FILE]. Best effort: a failing webhook is logged by reason
// (never its URL, whose path, query or user information may carry a token, and never the HTTP
// library's own text unfiltered) and never blocks or fails the healing itself.
// User information in the URL (`https://user:token@host/…`) is sent as HTTP Basic credentials, as curl
// sends it, never as part of the URL. The POST goes over node:http/https (oidc/http-request.ts), as
// discovery does: one that times out is torn down with its socket at once (fetch keeps a connection
// in its TLS handshake open for its own connect timeout), and redirects are not followed (a 3xx is
// logged as rejected, as curl without -L would leave it).
import type { Logger } from '../log.js'
import { webhookTarget } from '../config/load.js'
import { classifyNetworkError } from '../oidc/discovery.js'
import { httpRequest } from '../oidc/http-request.js'

export type WebhookEvent = 'detection' | 'repair' | 'rollback' | 'breaker' | 'store'

export interface Notification {
  readonly event: WebhookEvent
  /** The target container; absent for `store` events, which are about the IdP store. */
  readonly container?: string
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
}): Notifier {
  const pending = new Set<Promise<void>>()
  const log = opts.logger.child({ component: 'webhook' })
  const target = opts.url !== undefined ? webhookTarget(opts.url) : undefined
  return {
    notify(n) {
      if (target === undefined || !opts.events.includes(n.event)) return
      const body = JSON.stringify({
        source: 'netbird-watchdog',
        version: opts.version,
        time: new Date().toISOString(),
        ...n,
      })
      const timeout = AbortSignal.timeout(opts.timeoutMs)
      const sent = httpRequest(target.url.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body,
        signal: timeout,
      })
        .then(async (res) => {
          await res.body?.cancel()
          if (!res.ok) log.warn({ event: n.event, status: res.status }, 'webhook rejected')
        })
        .catch((err: unknown) => {
          // A reason and the host, never the error object or its text as such: its cause chain and
          // message can quote the URL, and the URL can carry a token.
          const c = classifyNetworkError(
            err,
            target.url,
            timeout.aborted,
            opts.timeoutMs,
            target.secrets,
          )
          log.warn({ event: n.event, reason: c.reason, err: c.message }, 'webhook failed')
        })
        .finally(() => pending.delete(sent))
      pending.add(sent)
    },
    async flush() {
      await Promise.all([...pending])
    },
  }
}
