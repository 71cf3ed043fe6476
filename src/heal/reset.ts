// POST /reset: the operator closes a latched circuit breaker (all targets, or `?container=NAME`).
// Guarded by the bearer token from NETBIRD_WATCHDOG_RESET_TOKEN[_FILE]; without a token configured the
// endpoint is disabled. Only this endpoint needs the token: /metrics, /healthz and /readyz stay open.
import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../log.js'

export interface Resettable {
  reset(container?: string): string[]
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void

export function createResetHandler(opts: {
  token: string | undefined
  healer: Resettable
  logger: Logger
}): RequestHandler {
  const log = opts.logger.child({ component: 'reset' })
  return (req, res) => {
    const reply = (status: number, body: Record<string, unknown>, headers = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body) + '\n')
    }
    req.resume() // the body is not used; drain it
    if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' })
    if (opts.token === undefined) {
      return reply(404, { error: 'reset is disabled: set NETBIRD_WATCHDOG_RESET_TOKEN(_FILE)' })
    }
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]
    if (given === undefined || !sameSecret(given, opts.token)) {
      log.warn({ remote: req.socket.remoteAddress }, 'reset refused: bad or missing bearer token')
      return reply(401, { error: 'bearer token required' }, { 'www-authenticate': 'Bearer' })
    }
    const container = new URL(req.url ?? '/', 'http://localhost').searchParams.get('container')
    const reset = opts.healer.reset(container ?? undefined)
    log.warn({ containers: reset }, 'breaker reset via POST /reset')
    return reply(200, { reset })
  }
}

/** Constant-time comparison of two secrets of any length (hash first, so lengths do not leak). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(h(a), h(b))
}
