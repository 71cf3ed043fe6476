// The SSO login probe's judgement, pure: what NetBird's embedded Dex answered to a login request for
// one connector (`GET <dex>/auth/<connector>?client_id=…&redirect_uri=…&response_type=code&scope=…`,
// no cookies, no redirect followed), and what the provider answered to the URL Dex sent the browser
// to — turned into a pass or a failure with one reason. Also: which failures start the self-healing
// flow, and whether a round of probes after a repair shows a failure that was not there before it.
// The answers are Dex's, read in its source (docs/reference/netbird.md, "Dex at login"):
//   302 to the provider's authorization endpoint   the connector opened: login can start
//   400 "Connector failed to initialize"           the connector cannot open (the issuer mismatch…)
//   500 "Login error."                              the stored redirectURI is not <issuer>/callback
//   404 "Invalid client_id"                         the probe's client id is not a Dex client
//   400 "Unregistered redirect_uri"                 the probe's redirect URI is not the client's
// The I/O is oidc/sso-probe.ts.

export const probeFailureReasons = [
  /** Dex cannot open the connector (400 "Connector failed to initialize"). */
  'connector_failed',
  /** Dex opened it, but its stored redirectURI is not `<issuer>/callback` (500 "Login error."). */
  'login_error',
  /** Dex redirects, but not to the provider's live authorization endpoint with the connector's client id and redirect URI. */
  'redirect_mismatch',
  /** The probe's own client id is not one of Dex's clients (a probe configuration error). */
  'probe_client_unknown',
  /** The probe's redirect URI is not registered for its client (a probe configuration error). */
  'probe_redirect_unregistered',
  /** NetBird (Dex) did not answer: refused, unreachable, timed out. */
  'netbird_unreachable',
  /** NetBird answered something Dex's login endpoint never does (another status, not Dex at that URL). */
  'netbird_error',
  /**
   * Dex could not use its store (500 "Failed to connect to the database."), or said it cannot open the
   * connector while the store cannot be read by the watchdog either (locked, down): Dex's
   * "Connector failed to initialize" then says nothing about the connector.
   */
  'store_unavailable',
  /** The provider could not be reached (DNS, TCP, TLS, timeout), or its discovery did not answer. */
  'provider_unreachable',
  /** The provider answered the login URL with a server error (5xx). */
  'provider_error',
] as const
export type ProbeFailureReason = (typeof probeFailureReasons)[number]

export type ProbeResult =
  | { readonly connectorId: string; readonly ok: true; readonly ms: number }
  | {
      readonly connectorId: string
      readonly ok: false
      readonly reason: ProbeFailureReason
      /** One line for logs and the CLI; never a secret (no client secret is ever sent or read). */
      readonly detail: string
      readonly ms: number
    }

/** Dex's answer to the login request, as read off the wire (the body only its first KiB). */
export interface DexAnswer {
  readonly status: number
  readonly location?: string
  readonly body: string
}

/** What the 302 must carry: the provider's live endpoint, and the connector's own settings. */
export interface ExpectedLogin {
  /** `authorization_endpoint` of the provider's live discovery document. */
  readonly authorizationEndpoint: string
  /** The connector's stored `clientID`. */
  readonly clientId: string
  /** The connector's stored `redirectURI` (Dex sends it to the provider as it is stored). */
  readonly redirectUri: string
}

export type DexVerdict =
  | { readonly ok: true; readonly location: string }
  | { readonly ok: false; readonly reason: ProbeFailureReason; readonly detail: string }

/** Dex's answer before the Location is compared (the comparison needs live discovery, asked only then). */
export function judgeDexStatus(a: DexAnswer): DexVerdict {
  const has = (text: string): boolean => a.body.includes(text)
  if (a.status === 302 && a.location !== undefined && a.location !== '') {
    return { ok: true, location: a.location }
  }
  if (a.status === 400 && has('Connector failed to initialize')) {
    return {
      ok: false,
      reason: 'connector_failed',
      detail:
        'Dex cannot open the connector (400 "Connector failed to initialize"; its log says why: "Failed to get connector")',
    }
  }
  if (a.status === 500 && has('Login error')) {
    return {
      ok: false,
      reason: 'login_error',
      detail:
        'Dex opened the connector but refuses to start a login (500 "Login error."): its stored redirectURI is not <issuer>/callback',
    }
  }
  if (a.status === 500 && has('Failed to connect to the database')) {
    return {
      ok: false,
      reason: 'store_unavailable',
      detail: 'Dex cannot use its store (500 "Failed to connect to the database."): locked or down',
    }
  }
  if (a.status === 404 && has('Invalid client_id')) {
    return {
      ok: false,
      reason: 'probe_client_unknown',
      detail:
        "the probe's client id is not one of Dex's clients (404): set sso.clientId to netbird-cli or netbird-dashboard",
    }
  }
  if (a.status === 400 && has('Unregistered redirect_uri')) {
    return {
      ok: false,
      reason: 'probe_redirect_unregistered',
      detail:
        "the probe's redirect URI is not registered for its client (400): set sso.redirectUri to one of NetBird's CLI redirect URIs (http://localhost:53000/ by default)",
    }
  }
  return {
    ok: false,
    reason: 'netbird_error',
    detail: `not an answer Dex's login endpoint gives (HTTP ${a.status}${a.status === 404 ? ': is sso.url the embedded IdP, e.g. http://netbird-server/oauth2?' : ''})`,
  }
}

/**
 * The 302's Location against what it must be: the provider's live authorization endpoint (scheme,
 * host, port and path exactly), with the connector's client id and redirect URI. A connector Dex keeps
 * in memory from before a change (same resource_version) still sends the browser where it did then.
 */
export function judgeLocation(location: string, want: ExpectedLogin): DexVerdict {
  let got: URL
  let endpoint: URL
  try {
    got = new URL(location)
    endpoint = new URL(want.authorizationEndpoint)
  } catch {
    return mismatch('the redirect is not an absolute URL')
  }
  if (got.origin !== endpoint.origin || got.pathname !== endpoint.pathname) {
    return mismatch(
      `Dex sends the browser to ${got.origin}${got.pathname}, but the provider's discovery says its authorization endpoint is ${endpoint.origin}${endpoint.pathname} (Dex holds the connector as it was opened before)`,
    )
  }
  if (got.searchParams.get('client_id') !== want.clientId) {
    return mismatch("the redirect carries another client_id than the connector's stored clientID")
  }
  if (got.searchParams.get('redirect_uri') !== want.redirectUri) {
    return mismatch(
      "the redirect carries another redirect_uri than the connector's stored redirectURI",
    )
  }
  if (got.searchParams.get('response_type') !== 'code') {
    return mismatch('the redirect does not ask for response_type=code')
  }
  return { ok: true, location }
}

function mismatch(detail: string): DexVerdict {
  return { ok: false, reason: 'redirect_mismatch', detail }
}

/** The provider's answer to the login URL: reachable, valid TLS, not a server error. */
export function judgeProviderStatus(status: number): DexVerdict | undefined {
  if (status >= 500) {
    return {
      ok: false,
      reason: 'provider_error',
      detail: `the provider answers the login URL with HTTP ${status}`,
    }
  }
  return undefined
}

/**
 * A round's `connector_failed` answers while the store could not be read (Dex reads the connector's row
 * first; a lock held for longer than its busy timeout, or a server that is down, fails it the same
 * way): no conclusion about the connectors.
 */
export function discountStoreFailures(
  results: readonly ProbeResult[],
  storeProblem: string,
): ProbeResult[] {
  return results.map((r) =>
    !r.ok && r.reason === 'connector_failed'
      ? {
          ...r,
          reason: 'store_unavailable' as const,
          detail: `Dex says it cannot open the connector, but the IdP store cannot be read either (${storeProblem}): no conclusion`,
        }
      : r,
  )
}

/** Failures that start the self-healing flow's diagnosis (the issuer policy decides what to change). */
export const repairTriggers: ReadonlySet<ProbeFailureReason> = new Set<ProbeFailureReason>([
  'connector_failed',
  'redirect_mismatch',
])

/**
 * Failures that say something about the connector as Dex holds it — the only ones that count as
 * evidence for or against a repair. A NetBird or provider that does not answer, or a probe that is
 * itself misconfigured, says nothing about the repair.
 */
export const conclusiveFailures: ReadonlySet<ProbeFailureReason> = new Set<ProbeFailureReason>([
  'connector_failed',
  'login_error',
  'redirect_mismatch',
])

/**
 * A round of probes after a repair against the round before it: a connector that fails conclusively
 * now and passed before — the evidence that the repair made things worse. A connector that failed
 * before and still fails was not made worse (the repair did not help); one that was not probed before,
 * or whose probe could not tell, gives no evidence either way.
 */
export function newFailure(
  before: readonly ProbeResult[],
  after: readonly ProbeResult[],
): Extract<ProbeResult, { ok: false }> | undefined {
  for (const r of after) {
    if (r.ok || !conclusiveFailures.has(r.reason)) continue
    if (before.find((b) => b.connectorId === r.connectorId)?.ok === true) return r
  }
  return undefined
}

/**
 * Where the watchdog reaches the target's Dex when `sso.url` is not set: NetBird serves Dex on its own
 * HTTP port under the issuer's path (`/oauth2`), so `http://<container>:<port><path>` on the compose
 * network, or `http://127.0.0.1:<port><path>` for a container on the host's network. The port is the
 * combined server's `server.listenAddress` (":80" in the quickstart), else 80 (management's `--port`
 * default). The caller uses it only once it answers as that issuer.
 */
export function deriveSsoUrl(i: {
  readonly issuer: string
  readonly listenAddress?: string
  readonly container: string
  readonly networkMode: string
}): string | undefined {
  let path: string
  try {
    path = new URL(i.issuer).pathname.replace(/\/+$/, '')
  } catch {
    return undefined
  }
  const port = /:(\d{1,5})$/.exec(i.listenAddress ?? '')?.[1] ?? '80'
  const host = i.networkMode === 'host' ? '127.0.0.1' : i.container
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(host)) return undefined
  return `http://${host}:${port}${path}`
}
