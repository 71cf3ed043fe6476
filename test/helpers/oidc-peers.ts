// Test peers on 127.0.0.1: real OpenID providers (the `oidc-provider` package) with a chosen issuer
// spelling and capabilities, failure peers for what a real provider cannot be made to do on demand
// (500, HTML, never answering, a closed port, a self-signed certificate), and a stand-in for the part
// of the JumpCloud API that NetBird's JumpCloud manager calls.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defer, type CleanupScope } from './cleanup.js'

type ProviderClass = new (
  issuer: string,
  config: Record<string, unknown>,
) => { callback(): (req: http.IncomingMessage, res: http.ServerResponse) => unknown }

async function loadProvider(): Promise<ProviderClass> {
  // oidc-provider ships no types; a computed specifier keeps tsc from looking for them.
  const specifier: string = 'oidc-provider'
  const mod = (await import(specifier)) as { default: ProviderClass }
  return mod.default
}

export interface Peer {
  /** http://127.0.0.1:PORT */
  origin: string
  /** The issuer string as configured (for failure peers: the origin). */
  issuer: string
  close(): Promise<void>
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return (server.address() as AddressInfo).port
}

function closer(server: http.Server | https.Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

export interface OidcPeerOptions {
  /** Path after the origin, exactly as the issuer should read: '' | '/' | '/realms/corp' | … */
  path?: string
  /** token_endpoint_auth_methods_supported (default: client_secret_basic, client_secret_post). */
  clientAuthMethods?: string[]
  /** Advertise a device_authorization_endpoint (default true). */
  deviceFlow?: boolean
  /** Claims per scope; their keys become scopes_supported (default: email, profile). */
  claims?: Record<string, string[]>
}

/**
 * A real OpenID provider. The server listens first (port 0), then the Provider is built for
 * `http://127.0.0.1:PORT<path>` and mounted under `path`, so discovery is at
 * `<issuer without trailing slash>/.well-known/openid-configuration`, as go-oidc fetches it.
 */
export async function startOidcPeer(opts: OidcPeerOptions = {}): Promise<Peer> {
  const server = http.createServer()
  const port = await listen(server)
  const origin = `http://127.0.0.1:${port}`
  const path = opts.path ?? ''
  const issuer = origin + path
  const Provider = await loadProvider()
  const provider = new Provider(issuer, {
    clientAuthMethods: opts.clientAuthMethods ?? ['client_secret_basic', 'client_secret_post'],
    claims: opts.claims ?? { email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access'],
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: opts.deviceFlow ?? true },
    },
  })
  const callback = provider.callback()
  const prefix = path.replace(/\/$/, '')
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (prefix !== '' && req.url?.startsWith(prefix) === true) {
      req.url = req.url.slice(prefix.length) || '/'
    }
    void callback(req, res)
  })
  return { origin, issuer, close: closer(server) }
}

export type FailureKind =
  '500' | 'html' | 'hang' | 'redirect-elsewhere' | 'no-issuer' | 'redirect-same-host'

/** A peer that answers every request in one broken way. */
export async function startFailurePeer(kind: FailureKind): Promise<Peer & { requests: number }> {
  const state = { requests: 0 }
  let origin = ''
  const server = http.createServer((req, res) => {
    state.requests++
    switch (kind) {
      case 'redirect-same-host':
        // A moved document on the same host (followed), its issuer being the origin.
        if (req.url?.startsWith('/moved/') === true) {
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ issuer: origin }))
        } else {
          res.writeHead(301, { location: '/moved' + (req.url ?? '/') }).end()
        }
        break
      case '500':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error')
        break
      case 'html':
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><html><body>Welcome to nginx!</body></html>')
        break
      case 'no-issuer':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"authorization_endpoint":"http://127.0.0.1/auth"}')
        break
      case 'hang':
        // Accept the request and never answer.
        break
      case 'redirect-elsewhere':
        res
          .writeHead(302, { location: 'http://127.0.0.2:9/.well-known/openid-configuration' })
          .end()
        break
    }
  })
  const port = await listen(server)
  origin = `http://127.0.0.1:${port}`
  return {
    origin,
    issuer: origin,
    close: closer(server),
    get requests() {
      return state.requests
    },
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<string> {
  const server = http.createServer()
  const port = await listen(server)
  await closer(server)()
  return `http://127.0.0.1:${port}`
}

/** An https server with a fresh self-signed certificate (openssl), serving a valid discovery document. */
export async function startSelfSignedPeer(): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-tls-'))
  try {
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
    const key = readFileSync(join(dir, 'key.pem'))
    const cert = readFileSync(join(dir, 'cert.pem'))
    let origin = ''
    const server = https.createServer(
      { key, cert },
      (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ issuer: origin }))
      },
    )
    const port = await listen(server)
    origin = `https://127.0.0.1:${port}`
    return { origin, issuer: origin, close: closer(server) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface JumpCloudApiPeer {
  /** What goes into ExtraConfig.ApiUrl (NetBird appends /api). */
  apiUrl: string
  requests: {
    method: string
    path: string
    apiKey: string | undefined
    contentType: string | undefined
    body: string
  }[]
  close(): Promise<void>
}

/**
 * The JumpCloud V1 API contract NetBird's manager relies on (facts §4): POST /api/search/systemusers with
 * `x-api-key`; 200 with {results,totalCount} for the right key, 401 otherwise.
 */
export async function startJumpCloudApi(validToken: string): Promise<JumpCloudApiPeer> {
  const requests: JumpCloudApiPeer['requests'] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const apiKey = req.headers['x-api-key']
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        apiKey: typeof apiKey === 'string' ? apiKey : undefined,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      })
      if (req.method !== 'POST' || req.url !== '/api/search/systemusers') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}')
        return
      }
      if (apiKey !== validToken) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          results: [
            {
              _id: '5f1e2d3c4b5a697887766554',
              email: 'ada@example.com',
              firstname: 'Ada',
              lastname: 'Lovelace',
            },
          ],
          totalCount: 1,
        }),
      )
    })
  })
  const port = await listen(server)
  return { apiUrl: `http://127.0.0.1:${port}`, requests, close: closer(server) }
}

/**
 * A real OpenID provider whose issuer lies about where it lives: built for
 * `http://localhost:PORT<answerPath>` and served both there and under `servedPath` on 127.0.0.1, so
 * discovery at `http://127.0.0.1:PORT<servedPath>` answers an issuer on another origin (the host name
 * differs), which itself answers for itself. `localhost` resolves to 127.0.0.1: nothing leaves the machine.
 */
export async function startOtherOriginPeer(opts: {
  servedPath: string
  answerPath: string
}): Promise<Peer & { answer: string }> {
  const server = http.createServer()
  const port = await listen(server)
  const origin = `http://127.0.0.1:${port}`
  const answer = `http://localhost:${port}${opts.answerPath}`
  const Provider = await loadProvider()
  const callback = new Provider(answer, {
    features: { devInteractions: { enabled: false } },
  }).callback()
  const prefixes = [opts.servedPath, opts.answerPath].map((p) => p.replace(/\/$/, ''))
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const prefix = prefixes.find((p) => p !== '' && req.url?.startsWith(p) === true)
    if (prefix !== undefined) req.url = req.url!.slice(prefix.length) || '/'
    void callback(req, res)
  })
  return { origin, issuer: origin + opts.servedPath, answer, close: closer(server) }
}

/**
 * A discovery endpoint that answers every request with a JSON document whose `issuer` is
 * `issuerFor(origin)`, whatever it is (a hostile or broken provider: control characters, another
 * origin, a query…). Counts the requests it served.
 */
export async function startIssuerAnswerPeer(
  issuerFor: (origin: string) => string,
): Promise<Peer & { requests: number }> {
  const state = { requests: 0 }
  let origin = ''
  const server = http.createServer((_req, res) => {
    state.requests++
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ issuer: issuerFor(origin), authorization_endpoint: `${origin}/auth` }))
  })
  const port = await listen(server)
  origin = `http://127.0.0.1:${port}`
  return {
    origin,
    issuer: origin,
    close: closer(server),
    get requests() {
      return state.requests
    },
  }
}

/**
 * A JumpCloud-like provider for one test: its issuer is the origin with a trailing slash, like
 * https://oauth.id.jumpcloud.com/; no device authorization. Closed after the test.
 */
export async function startJumpCloudLike(t: CleanupScope): Promise<Peer> {
  const p = await startOidcPeer({ path: '/', deviceFlow: false })
  defer(t, () => p.close())
  return p
}
