// OIDC discovery exactly as NetBird's go-oidc performs it: GET discoveryUrl(issuer) (src/core/issuer.ts)
// and hand back the RAW `issuer` string the provider returned, for an exact comparison by the caller.
// openid-client v6 drives the request (given the full .well-known URL it fetches that URL as is and does
// no issuer comparison of its own, so its `https://host` == `https://host/` normalisation never hides the
// JumpCloud case, docs/reference/netbird.md, "The issuer check"). Every failure is a value with a distinct, readable reason.
import type { CustomFetch } from 'openid-client'
import { discoveryUrl } from '../core/issuer.js'
import { redactValues } from '../core/redact.js'
import { errorMessage } from '../errors.js'
import { httpRequest } from './http-request.js'

export type DiscoveryFailureReason =
  'dns' | 'tcp' | 'tls' | 'timeout' | 'http-status' | 'not-json' | 'invalid-document' | 'insecure'

export type DiscoveryResult =
  | {
      ok: true
      /** The URL fetched: discoveryUrl(issuer), what go-oidc fetches. */
      url: string
      /** The `issuer` the provider returned, exactly as sent (never normalised). */
      issuer: string
      document: Record<string, unknown>
      ms: number
    }
  | {
      ok: false
      url: string
      /**
       * dns: the host name does not resolve. tcp: connection refused, reset or unreachable. tls: the TLS
       * handshake or certificate failed. timeout: no complete answer within timeoutMs. http-status: not
       * 200 (also a redirect to another host, which is never followed). not-json: the body is not JSON.
       * invalid-document: JSON, but not an object with a string `issuer`. insecure: not fetched, because
       * the URL is plain http (without allowInsecure) or not an http(s) URL at all.
       */
      reason: DiscoveryFailureReason
      message: string
      status?: number
      ms: number
    }

export interface DiscoveryOptions {
  timeoutMs: number
  /** Permit http:// issuers (tests and lab setups only). */
  allowInsecure: boolean
  /** Injected for tests; defaults to `httpRequest` (oidc/http-request.ts: an abort ends the socket). */
  fetch?: typeof fetch
  /** Abandons the request (a CLI stopped by a signal); reported like a timeout. */
  signal?: AbortSignal
}

/** Largest discovery document accepted (real ones are a few KiB). */
const maxBodyBytes = 1024 * 1024
/** Same-host redirects followed before giving up (go-oidc's net/http follows up to 10). */
const maxRedirects = 5

type Failure = Extract<DiscoveryResult, { ok: false }>
type Captured =
  | { kind: 'response'; status: number; statusText: string; contentType: string; body: string }
  | { kind: 'failure'; reason: Failure['reason']; message: string; status?: number }

/**
 * Fetch `<issuer without trailing slash>/.well-known/openid-configuration` and return the document and
 * its raw `issuer`. Never throws for network or provider problems; never logs.
 */
export async function fetchDiscovery(
  issuer: string,
  opts: DiscoveryOptions,
): Promise<DiscoveryResult> {
  return fetchDiscoveryDocument(discoveryUrl(issuer), opts, issuer)
}

/**
 * Fetch a discovery document from an explicit URL (management.json `OIDCConfigEndpoint`, which NetBird's
 * legacy management GETs as written). `issuer`, when given, only names the issuer in messages.
 */
export async function fetchDiscoveryDocument(
  url: string,
  opts: DiscoveryOptions,
  issuer: string = url,
): Promise<DiscoveryResult> {
  // Loaded on the first discovery, not at start: a daemon whose checks never run does not carry it.
  const client = await import('openid-client')
  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  const fail = (reason: Failure['reason'], message: string, status?: number): Failure => ({
    ok: false,
    url,
    reason,
    message,
    ...(status !== undefined ? { status } : {}),
    ms: elapsed(),
  })

  let target: URL
  try {
    target = new URL(url)
  } catch {
    return fail('insecure', `issuer ${JSON.stringify(issuer)} is not an absolute URL; not fetched`)
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    return fail('insecure', `issuer ${JSON.stringify(issuer)} is not an http(s) URL; not fetched`)
  }
  if (target.protocol === 'http:' && !opts.allowInsecure) {
    return fail(
      'insecure',
      `plain-http issuer refused (${target.origin}); providers must use https (labs only: oidc.allowInsecure or --allow-insecure)`,
    )
  }

  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), opts.timeoutMs)
  const stop = (): void => deadline.abort()
  opts.signal?.addEventListener('abort', stop, { once: true })
  if (opts.signal?.aborted === true) deadline.abort()
  let captured: Captured | undefined
  const doFetch = opts.fetch ?? httpRequest
  // Always the URL go-oidc fetches, whatever openid-client derives (it appends .well-known only to a URL
  // without one, and the document's URL is what we must judge).
  const capturingFetch: CustomFetch = async (_input, init) => {
    captured = await fetchFollowingSameHost(
      doFetch,
      target.href,
      init.headers,
      deadline.signal,
      opts,
    )
    if (captured.kind === 'failure') throw new Error(captured.message)
    return new Response(captured.body, {
      status: captured.status,
      headers: captured.contentType !== '' ? { 'content-type': captured.contentType } : {},
    })
  }
  let libraryError: unknown
  try {
    await client.discovery(target, 'netbird-watchdog-doctor', undefined, undefined, {
      [client.customFetch]: capturingFetch,
      // Seconds, for openid-client's own signal; ours (timeoutMs) fires first.
      timeout: Math.ceil(opts.timeoutMs / 1000) + 1,
      ...(target.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
    })
  } catch (err) {
    libraryError = err
  } finally {
    clearTimeout(timer)
    opts.signal?.removeEventListener('abort', stop)
  }

  // Our own classification is authoritative; openid-client's verdict only confirms it.
  if (captured === undefined) {
    return fail('invalid-document', `discovery was not attempted: ${errorMessage(libraryError)}`)
  }
  if (captured.kind === 'failure') return fail(captured.reason, captured.message, captured.status)
  const { status, statusText, contentType, body } = captured
  if (status !== 200) {
    return fail('http-status', `HTTP ${status}${statusText ? ' ' + statusText : ''}`, status)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    // go-oidc: "oidc: failed to decode provider discovery object".
    const type = contentType !== '' ? contentType : 'no content-type'
    return fail('not-json', `the response is not JSON (${type}, ${body.length} bytes)`, status)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return fail('invalid-document', 'the discovery document is not a JSON object', status)
  }
  const document = parsed as Record<string, unknown>
  if (typeof document.issuer !== 'string' || document.issuer === '') {
    return fail('invalid-document', 'the discovery document has no "issuer" string', status)
  }
  return { ok: true, url, issuer: document.issuer, document, ms: elapsed() }
}

async function fetchFollowingSameHost(
  doFetch: typeof fetch,
  input: string,
  headers: Record<string, string>,
  deadline: AbortSignal,
  opts: DiscoveryOptions,
): Promise<Captured> {
  let current = new URL(input)
  for (let hop = 0; ; hop++) {
    let res: Response
    try {
      res = await doFetch(current.href, {
        method: 'GET',
        headers,
        redirect: 'manual',
        signal: deadline,
      })
    } catch (err) {
      return classifyNetworkError(err, current, deadline.aborted, opts.timeoutMs)
    }
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location')
      await res.body?.cancel()
      if (location === null) {
        return {
          kind: 'failure',
          reason: 'http-status',
          status: res.status,
          message: `HTTP ${res.status} redirect without a Location`,
        }
      }
      const next = new URL(location, current)
      const sameHost = next.hostname === current.hostname && next.port === current.port
      const schemeOk =
        next.protocol === 'https:' || (next.protocol === 'http:' && opts.allowInsecure)
      if (!sameHost || !schemeOk) {
        return {
          kind: 'failure',
          reason: 'http-status',
          status: res.status,
          message: `HTTP ${res.status} redirect to ${next.origin}${next.pathname} (another host or scheme): not followed`,
        }
      }
      if (hop >= maxRedirects) {
        return {
          kind: 'failure',
          reason: 'http-status',
          status: res.status,
          message: `more than ${maxRedirects} redirects`,
        }
      }
      current = next
      continue
    }
    try {
      const body = await readLimited(res)
      return {
        kind: 'response',
        status: res.status,
        statusText: res.statusText,
        contentType: res.headers.get('content-type') ?? '',
        body,
      }
    } catch (err) {
      return classifyNetworkError(err, current, deadline.aborted, opts.timeoutMs)
    }
  }
}

async function readLimited(res: Response): Promise<string> {
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  for (;;) {
    const { done, value: chunk } = await reader.read()
    if (done) break
    size += chunk.byteLength
    if (size > maxBodyBytes) {
      throw new BodyTooLarge()
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

class BodyTooLarge extends Error {
  override name = 'BodyTooLarge'
}

const dnsCodes = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA'])
const tcpCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
])
const timeoutCodes = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/**
 * Map a fetch failure (undici wraps the socket error as `cause`) to a reason and a readable message.
 * The library's own text is quoted only for a failure it does not classify, and only after every
 * value in `secrets` (a token sent, a URL with one in it) was cut out of it — before anything else
 * rewrites that text, so a secret holding whitespace is still found.
 */
export function classifyNetworkError(
  err: unknown,
  url: URL,
  deadlineHit: boolean,
  timeoutMs: number,
  secrets: readonly string[] = [],
): Extract<Captured, { kind: 'failure' }> {
  const where = url.host
  if (err instanceof BodyTooLarge) {
    return {
      kind: 'failure',
      reason: 'not-json',
      message: `the response from ${where} is larger than ${maxBodyBytes} bytes`,
    }
  }
  if (deadlineHit) {
    return {
      kind: 'failure',
      reason: 'timeout',
      message: `no complete answer from ${where} within ${timeoutMs} ms`,
    }
  }
  const code = errorCode(err)
  const detail = rootMessage(err, secrets)
  if (code !== undefined && dnsCodes.has(code)) {
    return {
      kind: 'failure',
      reason: 'dns',
      message: `cannot resolve host ${url.hostname} (${code})`,
    }
  }
  if (code !== undefined && timeoutCodes.has(code)) {
    return { kind: 'failure', reason: 'timeout', message: `no answer from ${where} (${code})` }
  }
  if (code !== undefined && tcpCodes.has(code)) {
    const what =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED'
          ? 'connection closed by the server'
          : 'host unreachable'
    return { kind: 'failure', reason: 'tcp', message: `${what}: ${where} (${code})` }
  }
  if (code !== undefined && isTlsCode(code)) {
    return {
      kind: 'failure',
      reason: 'tls',
      message: `TLS with ${where} failed: ${detail} (${code})`,
    }
  }
  if (url.protocol === 'https:' && /ssl|tls|certificate/i.test(detail)) {
    return { kind: 'failure', reason: 'tls', message: `TLS with ${where} failed: ${detail}` }
  }
  return {
    kind: 'failure',
    reason: 'tcp',
    message: `cannot connect to ${where}: ${detail}${code ? ` (${code})` : ''}`,
  }
}

function isTlsCode(code: string): boolean {
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT') ||
    code === 'EPROTO' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT'
  )
}

/** The innermost `code` along the `cause` chain (undici: TypeError('fetch failed', { cause: sysErr })). */
function errorCode(err: unknown): string | undefined {
  let code: string | undefined
  let e: unknown = err
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if ('code' in e && typeof e.code === 'string') code = e.code
    e = e.cause
  }
  return code
}

function rootMessage(err: unknown, secrets: readonly string[]): string {
  let e: unknown = err
  while (e instanceof Error && e.cause instanceof Error) e = e.cause
  const text = redactValues(errorMessage(e), secrets)
  // OpenSSL: "…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…/ssl3_record.c:350:"
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(text)
  return (openssl?.[1] ?? text).replace(/\s+/g, ' ').trim()
}
