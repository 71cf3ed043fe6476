// The SSO login probe, for each OIDC connector in the IdP store: does a login through it get to the
// provider? Two requests, each bounded by `timeoutMs`, no cookies, no redirect ever followed:
// 1. Dex: `GET <sso url>/auth/<connector>?client_id=…&redirect_uri=…&response_type=code&scope=…&state=…`
//    as NetBird's CLI or dashboard starts a login (NetBird's public clients: no secret is sent). Dex
//    reads the connector's row, opens it if it has to (live discovery included), stores one
//    auth_request row (deleted by Dex's garbage collection after 24 h) and answers a 302 to the
//    provider — which must be the provider's live `authorization_endpoint`, with the connector's
//    client id and redirect URI (core/sso-probe.ts judges it);
// 2. the provider (unless switched off): that URL fetched once — reachable, valid TLS, not a 5xx.
// Never throws for NetBird or a provider; every failure is a ProbeResult with a reason.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { connectorIssuer, isOidcConnector, type ConnectorRow } from '../core/connectors.js'
import {
  judgeDexStatus,
  judgeLocation,
  judgeProviderStatus,
  type DexVerdict,
  type ProbeResult,
} from '../core/sso-probe.js'
import { classifyNetworkError, fetchDiscovery } from './discovery.js'

export interface SsoProbeOptions {
  /** NetBird's embedded IdP as the watchdog reaches it, e.g. http://netbird-server/oauth2. */
  readonly url: string
  /** A Dex client NetBird defines: netbird-cli (default) or netbird-dashboard. */
  readonly clientId: string
  /** One of that client's registered redirect URIs (NetBird's CLI default http://localhost:53000/). */
  readonly redirectUri: string
  /** Per request: Dex, the provider's discovery, the provider's login page. */
  readonly timeoutMs: number
  /** Fetch the login URL Dex redirects to (off for providers that must not see the probe). */
  readonly checkProvider: boolean
  /** Plain-http providers (labs and tests). */
  readonly allowInsecure: boolean
  /** Stops every request at once (shutdown). */
  readonly signal?: AbortSignal
}

/** Largest part of an answer read: Dex's error pages are a few hundred bytes. */
const maxBodyBytes = 16 * 1024

/** The connectors the probe covers: every OIDC-type connector (NetBird stores every OIDC flavour as `oidc`). */
export function probedConnectors(rows: readonly ConnectorRow[]): ConnectorRow[] {
  return rows.filter((r) => isOidcConnector(r))
}

/** One round: every OIDC connector, one after the other. */
export async function probeConnectors(
  rows: readonly ConnectorRow[],
  o: SsoProbeOptions,
): Promise<ProbeResult[]> {
  const results: ProbeResult[] = []
  for (const row of probedConnectors(rows)) results.push(await probeConnector(row, o))
  return results
}

/** The login URL the probe asks Dex for (exported for messages and tests). */
export function loginUrl(base: string, connectorId: string, o: SsoProbeOptions): URL {
  const url = new URL(`${base.replace(/\/+$/, '')}/auth/${encodeURIComponent(connectorId)}`)
  url.searchParams.set('client_id', o.clientId)
  url.searchParams.set('redirect_uri', o.redirectUri)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', 'openid profile email')
  url.searchParams.set('state', randomBytes(12).toString('hex'))
  return url
}

export async function probeConnector(row: ConnectorRow, o: SsoProbeOptions): Promise<ProbeResult> {
  const started = performance.now()
  const done = (v: DexVerdict): ProbeResult => {
    const ms = Math.round(performance.now() - started)
    return v.ok
      ? { connectorId: row.id, ok: true, ms }
      : { connectorId: row.id, ok: false, reason: v.reason, detail: v.detail, ms }
  }

  // 1. Dex.
  const dex = await get(loginUrl(o.url, row.id, o), o)
  if (!dex.ok) {
    return done({ ok: false, reason: 'netbird_unreachable', detail: `NetBird: ${dex.message}` })
  }
  const answered = judgeDexStatus(dex)
  if (!answered.ok) return done(answered)

  // The 302 against the provider's live discovery, at the issuer Dex opened the connector with.
  const issuer = connectorIssuer(row)
  const clientId = row.config?.clientID
  const redirectUri = row.config?.redirectURI
  if (issuer !== undefined && typeof clientId === 'string' && typeof redirectUri === 'string') {
    const discovered = await fetchDiscovery(issuer, {
      timeoutMs: o.timeoutMs,
      allowInsecure: o.allowInsecure,
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    })
    if (!discovered.ok) {
      return done({
        ok: false,
        reason: 'provider_unreachable',
        detail: `the provider's discovery does not answer (${discovered.message})`,
      })
    }
    const endpoint = discovered.document.authorization_endpoint
    if (typeof endpoint !== 'string') {
      return done({
        ok: false,
        reason: 'provider_unreachable',
        detail: "the provider's discovery document has no authorization_endpoint",
      })
    }
    const located = judgeLocation(answered.location, {
      authorizationEndpoint: endpoint,
      clientId,
      redirectUri,
    })
    if (!located.ok) return done(located)
  }

  // 2. The provider: the login page Dex sent the browser to, fetched once.
  if (o.checkProvider) {
    let target: URL
    try {
      target = new URL(answered.location)
    } catch {
      return done({ ok: false, reason: 'redirect_mismatch', detail: 'the redirect is not a URL' })
    }
    if (target.protocol !== 'https:' && !(o.allowInsecure && target.protocol === 'http:')) {
      return done({
        ok: false,
        reason: 'redirect_mismatch',
        detail: `Dex sends the browser to a ${target.protocol} URL (${target.origin}); providers must use https`,
      })
    }
    const provider = await get(target, o)
    if (!provider.ok) {
      return done({
        ok: false,
        reason: 'provider_unreachable',
        detail: `the provider: ${provider.message}`,
      })
    }
    const bad = judgeProviderStatus(provider.status)
    if (bad !== undefined) return done(bad)
  }
  return done({ ok: true, location: answered.location })
}

type Answer =
  { ok: true; status: number; location?: string; body: string } | { ok: false; message: string }

/** One GET: no cookies (fetch keeps none), no redirect followed, a bounded body, a deadline. */
async function get(url: URL, o: SsoProbeOptions): Promise<Answer> {
  const deadline = AbortSignal.timeout(o.timeoutMs)
  const signal = o.signal !== undefined ? AbortSignal.any([o.signal, deadline]) : deadline
  let res: Response
  try {
    res = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      headers: { accept: 'text/html' },
      signal,
    })
  } catch (err) {
    return {
      ok: false,
      message: classifyNetworkError(err, url, deadline.aborted, o.timeoutMs).message,
    }
  }
  let body = ''
  try {
    body = await readSome(res, signal)
  } catch {
    // The status is what matters; a body cut short only loses the page's text.
  }
  const location = res.headers.get('location')
  return { ok: true, status: res.status, ...(location !== null ? { location } : {}), body }
}

async function readSome(res: Response, signal: AbortSignal): Promise<string> {
  if (res.body === null) return ''
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < maxBodyBytes && !signal.aborted) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
  return Buffer.concat(chunks).toString('utf8')
}
