// The HTTP requests a command waits for (OIDC discovery, the JumpCloud API) over node:http/https,
// with fetch's calling convention and a web Response, for one reason: an aborted request really ends.
// fetch (undici) rejects on abort, but a connection still in its TLS handshake stays open until
// undici's own 10 s connect timeout, and that socket keeps a one-shot command's process alive after a
// signal or after its --timeout-ms. Here the abort destroys the request and its socket at once.
//
// What it does not do: follow redirects (a 3xx is returned as it is; every caller asks for
// `redirect: 'manual'` and decides itself), reuse connections (one socket per request, closed when
// the answer has been read or the request ends), or read a proxy from the environment (neither does
// Node's fetch by default).
import type { ClientRequest } from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'
import { http } from '../node-http.js'

/** Statuses whose response has no body (fetch: a "null body status"). */
const nullBodyStatus: ReadonlySet<number> = new Set([101, 103, 204, 205, 304])

export const httpRequest: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : input)
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined
  if (client === undefined) {
    return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`))
  }
  const method = (init?.method ?? 'GET').toUpperCase()
  const headers = Object.fromEntries(new Headers(init?.headers).entries())
  const body = requestBody(init?.body)
  const signal = init?.signal ?? undefined
  return new Promise<Response>((resolve, reject) => {
    let req: ClientRequest
    try {
      req = client.request(
        url,
        { method, headers, agent: false, ...(signal !== undefined ? { signal } : {}) },
        (res) => {
          const status = res.statusCode ?? 0
          const responseHeaders = new Headers()
          for (const [name, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v)
            else if (value !== undefined) responseHeaders.set(name, value)
          }
          const empty = nullBodyStatus.has(status) || method === 'HEAD'
          if (empty) res.resume()
          try {
            resolve(
              new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
                status,
                statusText: res.statusMessage ?? '',
                headers: responseHeaders,
              }),
            )
          } catch (err) {
            // A status a Response cannot carry (outside 200–599): an answer we cannot use.
            res.destroy()
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        },
      )
    } catch (err) {
      // An invalid header (Node names the header, never its value) or an already used signal.
      reject(err instanceof Error ? err : new Error(String(err)))
      return
    }
    req.on('error', reject)
    req.end(body)
  })
}

function requestBody(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string' || body instanceof Uint8Array) return body
  throw new TypeError('only a string or bytes can be sent as a request body')
}
