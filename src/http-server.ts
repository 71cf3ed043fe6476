// The HTTP endpoint: GET /metrics (the Registry), /healthz (the process answers), /readyz (engine
// reachable and targets resolved), a landing page at /, plus routes other components add (the
// healer's POST /reset). Binds the configured host:port; ":9464" means every interface.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { WatchdogError, errorMessage } from './errors.js'
import type { Logger } from './log.js'
import { http } from './node-http.js'

export interface Readiness {
  readonly ready: boolean
  /** Why not (shown in the 503 body). */
  readonly reason: string
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export interface HttpServerOptions {
  /** `host:port`; an empty host means every interface. */
  readonly address: string
  readonly registry: Registry
  readonly readiness: () => Readiness
  readonly logger: Logger
}

export function parseAddress(address: string): { host: string | undefined; port: number } {
  const i = address.lastIndexOf(':')
  const rawHost = address.slice(0, i)
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost
  return { host: host === '' ? undefined : host, port: Number(address.slice(i + 1)) }
}

export class HttpServer {
  readonly #options: HttpServerOptions
  readonly #routes = new Map<string, RouteHandler>()
  #server: Server | undefined

  constructor(options: HttpServerOptions) {
    this.#options = options
  }

  /** Adds a route (`method` upper case, exact path). */
  addRoute(method: string, path: string, handler: RouteHandler): void {
    this.#routes.set(`${method.toUpperCase()} ${path}`, handler)
  }

  /** The bound address once listening (port 0 gets a free port). */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined
    return a ? { host: a.address, port: a.port } : undefined
  }

  async listen(): Promise<void> {
    const { host, port } = parseAddress(this.#options.address)
    const server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#options.logger.error({ err, url: req.url }, 'http handler failed')
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end('internal error\n')
      })
    })
    server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new WatchdogError(
            'CONFIG_INVALID',
            `cannot listen on ${this.#options.address}: ${errorMessage(err)}`,
            { cause: err },
          ),
        ),
      )
      server.listen({ port, ...(host !== undefined ? { host } : {}) }, () => resolve())
    })
    this.#server = server
    this.#options.logger.info({ address: this.address }, 'http server listening')
  }

  async close(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const method = req.method ?? 'GET'
    const custom = this.#routes.get(`${method} ${path}`)
    if (custom) return custom(req, res)
    const read = method === 'GET' || method === 'HEAD'
    if (path === '/metrics' && read) {
      const { registry } = this.#options
      const body = await registry.metrics()
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(method === 'HEAD' ? undefined : body)
      return
    }
    if (path === '/healthz' && read) {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok\n')
      return
    }
    if (path === '/readyz' && read) {
      const r = this.#options.readiness()
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' })
      res.end(r.ready ? 'ready\n' : `not ready: ${r.reason}\n`)
      return
    }
    if (path === '/' && read) {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(
        '<html><head><title>netbird-watchdog</title></head><body><h1>netbird-watchdog</h1>' +
          '<p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a></p></body></html>\n',
      )
      return
    }
    const allowed = [...this.#routes.keys()]
      .filter((key) => key.slice(key.indexOf(' ') + 1) === path)
      .map((key) => key.slice(0, key.indexOf(' ')))
    if (['/metrics', '/healthz', '/readyz', '/'].includes(path)) allowed.push('GET', 'HEAD')
    if (allowed.length > 0) {
      res.writeHead(405, { 'content-type': 'text/plain', allow: allowed.join(', ') })
      res.end('method not allowed\n')
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found\n')
  }
}
