// Checks of the embedded IdP's connectors (the IdP store): config usable, issuer as the issuer policy
// judges it (core/issuer-policy.ts), redirect URI, scopes, client authentication method. Pure.
// Remedies follow NetBird's JumpCloud guide (netbirdio/docs selfhosted/identity-providers/managed/
// jumpcloud.mdx) and docs/reference/netbird.md.
import {
  fail,
  pass,
  q,
  shellQuote,
  skip,
  subject,
  warn,
  type CheckResult,
  type DiscoveryOutcome,
} from './check.js'
import { describeIssuerDifference } from '../issuer.js'
import type { IssuerVerdict } from '../issuer-policy.js'

/** Where NetBird sends the IdP back to: idp/dex/connector.go resolveRedirectURI (facts §1.7). */
export function expectedRedirectUri(netbirdIssuer: string): string {
  let base = netbirdIssuer.replace(/\/$/, '')
  if (!base.endsWith('/oauth2')) base += '/oauth2'
  return base + '/callback'
}
export interface ConnectorRef {
  id: string
  name: string
  /** The store for a suggested command: its `--db …` arguments, shell-quoted, and what they stand for. */
  store: SuggestedStore
  /** The connector is also declared in management.json EmbeddedIdP.StaticConnectors. */
  isStatic: boolean
}

export interface SuggestedStore {
  /** `--db '/var/lib/netbird/idp.db'`, or for PostgreSQL placeholders (the DSN holds a password). */
  readonly args: string
  /** '' or a sentence saying what the placeholders stand for. */
  readonly note: string
}

/** How a suggested command names the store doctor read: never with a password. */
export function suggestedStore(store: {
  engine: 'sqlite' | 'postgres'
  label: string
}): SuggestedStore {
  if (store.engine === 'sqlite') return { args: `--db ${shellQuote(store.label)}`, note: '' }
  return {
    args: '--db "$IDP_DSN" --backup-dir BACKUP_DIR',
    note: ` (IDP_DSN: the DSN of ${store.label}, password and sslmode included; BACKUP_DIR: a private directory for the backup)`,
  }
}

export function connectorTarget(c: { id: string; name: string }): string {
  return c.name !== '' && c.name !== c.id ? `connector ${c.id} (${c.name})` : `connector ${c.id}`
}

/**
 * A connector whose stored config is not a JSON object (e.g. a botched manual `sqlite3` edit): Dex logs
 * `failed to parse connector` and skips it, so nobody can log in with it. `problem` never quotes the
 * config (it may hold a client secret).
 */
export function evaluateConnectorConfig(
  c: { id: string; name: string; store: SuggestedStore },
  problem: string,
): CheckResult {
  return fail(
    subject('connector-config', 'embedded-idp', connectorTarget(c)),
    problem,
    `Dex skips this connector. Restore a backup taken before the edit (netbird-watchdog backups list ${c.store.args}, then netbird-watchdog backups restore <id> ${c.store.args}) or delete and re-create the connector in the NetBird dashboard (Settings → Identity Providers), then restart NetBird.${c.store.note}`,
  )
}

/** The flag a suggested repair command needs for a plain-http (lab) issuer. */
function lab(issuer: string): string {
  return /^http:/i.test(issuer) ? ' --allow-insecure' : ''
}

/**
 * issuer-matches-discovery, from the issuer policy's verdict for the connector (the same verdict the
 * repair command and the self-healing flow act on). `verdict` is undefined for an OIDC connector that
 * was not looked at (no config).
 */
export function evaluateIssuerMatch(c: ConnectorRef, verdict: IssuerVerdict): CheckResult {
  const s = subject('issuer-matches-discovery', 'embedded-idp', connectorTarget(c))
  const restart =
    'then restart NetBird (docker restart netbird-management, or netbird-server on v0.65+)'
  const staticNote = c.isStatic
    ? ` It is a static connector: also fix EmbeddedIdP.StaticConnectors in management.json (add --management-json PATH --fix-management-json), or NetBird restores the old value on its next start.`
    : ''
  const consequence =
    'NetBird compares them character for character, so this connector fails to open (≤ v0.65.1 the management container crash-loops, ≥ v0.65.2 SSO with it is broken)'
  switch (verdict.kind) {
    case 'skipped':
      if (verdict.reason === 'no_issuer') {
        return fail(
          s,
          `the OIDC connector has no usable issuer (${verdict.detail}): Dex cannot open it`,
          'Edit the provider in Dashboard → Settings → Identity Providers and set its Issuer, then restart NetBird.',
        )
      }
      return skip(s, `not checked: ${verdict.detail}`)
    case 'unreachable':
      return skip(
        s,
        `not compared: discovery of ${q(verdict.stored)} failed (see discovery-reachable)`,
      )
    case 'match':
      return pass(s, `issuer ${q(verdict.stored)} is exactly what the provider returns`)
    case 'fix':
      return fail(
        s,
        `stored issuer ${q(verdict.from)} but the provider returns ${q(verdict.to)} (${verdict.why}); ${consequence}`,
        `Set the issuer to exactly ${q(verdict.to)}: netbird-watchdog repair ${c.store.args} --connector ${shellQuote(c.id)} --issuer ${shellQuote(verdict.to)}${lab(verdict.to)} (or, if the dashboard still works, Settings → Identity Providers → edit → Issuer ${q(verdict.to)}), ${restart}.${staticNote}${c.store.note}`,
      )
    case 'refuse':
      return fail(
        s,
        `stored issuer ${q(verdict.stored)} but the provider returns ${q(verdict.returned)} (${describeIssuerDifference(verdict.stored, verdict.returned)}); ${consequence}. Not repaired automatically: ${verdict.detail}`,
        `Check the provider's issuer setting and the URL stored for this connector: the watchdog does not follow a provider to another origin or to a value it does not stand by. If ${q(verdict.returned)} is right, set it yourself: netbird-watchdog repair ${c.store.args} --connector ${shellQuote(c.id)} --issuer ${shellQuote(verdict.returned)}${lab(verdict.returned)}, ${restart}.${staticNote}${c.store.note}`,
      )
  }
}

export function evaluateRedirectUri(
  c: { id: string; name: string },
  redirectUri: unknown,
  netbirdIssuer: string | undefined,
): CheckResult {
  const target = connectorTarget(c)
  const id = 'redirect-uri'
  if (netbirdIssuer === undefined || netbirdIssuer === '') {
    return skip(
      subject(id, 'embedded-idp', target),
      "NetBird's own issuer is unknown: give --management-json (EmbeddedIdP.Issuer) or --config-yaml (server.auth.issuer)",
    )
  }
  const expected = expectedRedirectUri(netbirdIssuer)
  const remedy = `The connector's redirectURI and the Redirect URI registered at the provider (JumpCloud: SSO tab → Redirect URIs) must both be exactly ${expected} — no trailing slash. Re-saving the provider in Dashboard → Settings → Identity Providers rewrites the connector's value.`
  if (typeof redirectUri !== 'string' || redirectUri === '') {
    return fail(subject(id, 'embedded-idp', target), 'the connector has no redirectURI', remedy)
  }
  if (redirectUri === expected) {
    return pass(subject(id, 'embedded-idp', target), `redirectURI is ${expected}`)
  }
  const why =
    redirectUri === expected + '/'
      ? 'it has a trailing slash'
      : redirectUri.toLowerCase() === expected.toLowerCase()
        ? 'it differs in letter case'
        : `NetBird serves its callback at ${q(expected)}`
  return fail(
    subject(id, 'embedded-idp', target),
    `redirectURI is ${q(redirectUri)}, but ${why}`,
    remedy,
  )
}

const requiredScopes = ['openid', 'profile', 'email'] as const

/** The scopes Dex's OIDC connector asks for (deduplicated): openid always, then `scopes`, or profile+email when empty. */
export function requestedScopes(scopes: unknown): string[] {
  const list = Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : []
  return [...new Set(['openid', ...(list.length > 0 ? list : ['profile', 'email'])])]
}

export function evaluateScopes(
  c: { id: string; name: string },
  scopes: unknown,
  d: DiscoveryOutcome | undefined,
): CheckResult {
  const target = connectorTarget(c)
  const id = 'scopes'
  const requested = requestedScopes(scopes)
  const missing = requiredScopes.filter((s) => !requested.includes(s))
  if (missing.length > 0) {
    return fail(
      subject(id, 'embedded-idp', target),
      `the connector does not request ${missing.join(', ')} (it asks for: ${requested.join(' ')}); NetBird needs the e-mail and profile claims`,
      'Add "profile" and "email" to the connector\'s scopes (NetBird writes ["openid","profile","email"]; re-saving the provider in the dashboard restores them).',
    )
  }
  if (d === undefined || !d.ok) {
    return pass(
      subject(id, 'embedded-idp', target),
      `requests ${requested.join(' ')} (the provider's scopes were not checked: discovery failed)`,
    )
  }
  const supported = d.document.scopes_supported
  if (!Array.isArray(supported)) {
    return pass(
      subject(id, 'embedded-idp', target),
      `requests ${requested.join(' ')}; the provider does not publish scopes_supported`,
    )
  }
  const unadvertised = requiredScopes.filter((s) => !supported.includes(s))
  if (unadvertised.length > 0) {
    return warn(
      subject(id, 'embedded-idp', target),
      `the provider does not advertise ${unadvertised.join(', ')} in scopes_supported`,
      'Enable the Email and Profile scopes for the application at the provider (JumpCloud: SSO application → Attribute Mapping → Email and Profile; remove duplicate attributes such as a second email).',
    )
  }
  return pass(
    subject(id, 'embedded-idp', target),
    `requests ${requested.join(' ')}; the provider supports openid, profile and email`,
  )
}

/** True for JumpCloud's OIDC issuer host (its apps must use Client Secret POST, per the guide). */
export function isJumpCloudIssuer(issuer: string | undefined): boolean {
  if (issuer === undefined) return false
  return /^https?:\/\/oauth\.id\.jumpcloud\.com(?:[/:]|$)/i.test(issuer)
}

export function evaluateClientAuthMethod(
  c: { id: string; name: string },
  config: Record<string, unknown>,
  d: DiscoveryOutcome | undefined,
): CheckResult {
  const target = connectorTarget(c)
  const id = 'client-auth-method'
  if (d === undefined || !d.ok) {
    return skip(subject(id, 'embedded-idp', target), 'not checked: discovery failed')
  }
  const advertised = d.document.token_endpoint_auth_methods_supported
  // OpenID Connect Discovery 1.0 §3: "If omitted, the default is client_secret_basic".
  const methods = Array.isArray(advertised)
    ? advertised.filter((m): m is string => typeof m === 'string')
    : ['client_secret_basic']
  const hasPost = methods.includes('client_secret_post')
  const hasBasic = methods.includes('client_secret_basic')
  const basicUnsupported = config.basicAuthUnsupported === true
  const list = methods.length > 0 ? methods.join(', ') : '(none)'
  const jumpcloud = isJumpCloudIssuer(typeof config.issuer === 'string' ? config.issuer : undefined)
  const postRemedy =
    'Allow client_secret_post for this client at the provider (JumpCloud: SSO tab → Client Authentication Type → Client Secret POST).'
  if (hasPost) {
    return pass(
      subject(id, 'embedded-idp', target),
      `the token endpoint accepts client_secret_post${hasBasic && !basicUnsupported ? ' and client_secret_basic' : ''}`,
    )
  }
  if (!hasBasic) {
    return fail(
      subject(id, 'embedded-idp', target),
      `the token endpoint accepts none of the methods Dex can use (client_secret_basic, client_secret_post); it advertises: ${list}`,
      postRemedy,
    )
  }
  if (basicUnsupported || jumpcloud) {
    return fail(
      subject(id, 'embedded-idp', target),
      `the token endpoint does not accept client_secret_post (advertises: ${list}), which ${basicUnsupported ? 'this connector needs (basicAuthUnsupported)' : 'JumpCloud applications must use'}`,
      postRemedy,
    )
  }
  return warn(
    subject(id, 'embedded-idp', target),
    `the token endpoint does not advertise client_secret_post (only: ${list}); Dex will send the secret with HTTP Basic`,
    'Fine if the application at the provider accepts client_secret_basic; if it is set to Client Secret POST, token exchange fails — allow client_secret_post at the provider.',
  )
}

/**
 * The dashboard's login callbacks registered with the embedded IdP. Dex accepts only a listed
 * redirect URI, compared exactly (netbirdio/dex server/oauth2.go validateRedirectURI: NetBird always
 * registers some URIs, so the public-client localhost exception never applies), and logs any other as
 * `failed to parse authorization request` with `Unregistered redirect_uri` (rule
 * authorization-request-invalid). The quickstart dashboard runs on the issuer's origin and comes back
 * to /nb-auth and /nb-silent-auth (infrastructure_files/getting-started.sh AUTH_REDIRECT_URI,
 * AUTH_SILENT_REDIRECT_URI). NetBird adds no dashboard default (management/server/idp/embedded.go).
 */
export function evaluateDashboardRedirectUris(
  source: { label: string; field: string },
  issuer: string | undefined,
  uris: readonly string[] | undefined,
): CheckResult {
  const id = 'dashboard-redirect-uris'
  const target = `${source.label} ${source.field}`
  const registered = uris ?? []
  let origin: string | undefined
  try {
    if (issuer !== undefined && issuer !== '') origin = new URL(issuer).origin
  } catch {
    origin = undefined // not a URL: the issuer checks report it
  }
  const expected =
    origin !== undefined && origin !== 'null'
      ? [`${origin}/nb-auth`, `${origin}/nb-silent-auth`]
      : []
  const examples =
    expected.length > 0
      ? expected.join(' and ')
      : 'https://<dashboard host>/nb-auth and /nb-silent-auth'
  if (registered.length === 0) {
    return fail(
      subject(id, 'embedded-idp', target),
      `no dashboard redirect URI is registered: Dex refuses every dashboard login with "Unregistered redirect_uri"`,
      `List the dashboard's callback URLs in ${source.field} (${examples}) and restart management.`,
    )
  }
  const missing = expected.filter((u) => !registered.includes(u))
  if (expected.length === 0) {
    return pass(
      subject(id, 'embedded-idp', target),
      `${registered.length} dashboard redirect URI(s) registered (no issuer to compare them with)`,
    )
  }
  if (missing.length === 0) {
    return pass(
      subject(id, 'embedded-idp', target),
      `a dashboard on ${origin} can log in: ${expected.join(' and ')} are registered`,
    )
  }
  return warn(
    subject(id, 'embedded-idp', target),
    `${missing.map(q).join(' and ')} not registered: a dashboard served from ${origin} gets "Unregistered redirect_uri" from Dex (fine if the dashboard runs on another host whose URLs are listed: ${registered.map(q).join(', ')})`,
    `Add ${missing.join(' and ')} to ${source.field} (exactly as the dashboard sends it, trailing slash included) and restart management.`,
  )
}
