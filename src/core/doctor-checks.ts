// `doctor` checks as pure functions: gathered facts (connector config, discovery outcome, config-file
// values, API answer) -> CheckResult with a stable id, a status, a one-line message and the remedy.
// Pure: no I/O; the adapters in src/doctor/ gather the facts. Remedies follow NetBird's JumpCloud guide
// (netbirdio/docs selfhosted/identity-providers/managed/jumpcloud.mdx) and NetBird's own source
// (netbirdio/netbird idp/dex/connector.go, management/server/idp/embedded.go).
import { describeIssuerDifference, issuersMatch } from './issuer.js'

export const checkIds = [
  'issuer-matches-discovery',
  'discovery-reachable',
  'redirect-uri',
  'scopes',
  'client-auth-method',
  'static-connector-drift',
  'auth-issuer-matches-discovery',
  'audience-client-id',
  'device-auth',
  'jumpcloud-api-token',
  'connector-config',
  'dashboard-redirect-uris',
] as const
export type CheckId = (typeof checkIds)[number]
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'
/** Report grouping: connectors of the embedded IdP (idp.db), or a standalone IdP setup. */
export type CheckArea = 'embedded-idp' | 'standalone'

export interface CheckResult {
  id: CheckId
  status: CheckStatus
  area: CheckArea
  /** What was checked: a connector, a config file section. */
  target: string
  message: string
  remediation?: string
}

/** Structurally the same as src/oidc/discovery.ts DiscoveryResult (core imports no adapter). */
export type DiscoveryOutcome =
  | { ok: true; url: string; issuer: string; document: Record<string, unknown>; ms: number }
  | { ok: false; url: string; reason: string; message: string; status?: number; ms: number }

const q = (s: string): string => JSON.stringify(s)

/** POSIX single-quoting for a value shown inside a suggested command. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

function result(
  id: CheckId,
  area: CheckArea,
  target: string,
  status: CheckStatus,
  message: string,
  remediation?: string,
): CheckResult {
  return remediation === undefined
    ? { id, status, area, target, message }
    : { id, status, area, target, message, remediation }
}

// ---------------------------------------------------------------------------------------------------

/** Where NetBird sends the IdP back to: idp/dex/connector.go resolveRedirectURI. */
export function expectedRedirectUri(netbirdIssuer: string): string {
  let base = netbirdIssuer.replace(/\/$/, '')
  if (!base.endsWith('/oauth2')) base += '/oauth2'
  return base + '/callback'
}

const reasonRemedies: Record<string, string> = {
  dns: 'Check the host name in the issuer, and that the NetBird host resolves it (its DNS resolver).',
  tcp: 'Check that the provider is up and that no firewall or proxy blocks NetBird from reaching it.',
  tls: 'The provider certificate must be valid for this host name and chain to a CA the NetBird container trusts.',
  timeout:
    'The provider did not answer in time: check its health and the network path from NetBird.',
  'http-status':
    'The issuer URL is probably wrong: <issuer>/.well-known/openid-configuration must answer 200 with the discovery document.',
  'not-json':
    'The issuer URL does not point at an OpenID provider (the answer is not a discovery document); use the issuer the provider documents.',
  'invalid-document':
    'The provider answered with a document that has no "issuer": use the issuer the provider documents.',
  insecure:
    "Use the provider's https issuer. Plain http is accepted only with oidc.allowInsecure / --allow-insecure (labs and tests).",
}

export function evaluateDiscoveryReachable(
  area: CheckArea,
  target: string,
  d: DiscoveryOutcome,
): CheckResult {
  if (d.ok) {
    return result('discovery-reachable', area, target, 'pass', `${d.url} answered in ${d.ms} ms`)
  }
  const consequence =
    area === 'embedded-idp'
      ? ' — NetBird cannot open this connector (≤ v0.65.1 the management container crash-loops)'
      : ' — the standalone management server fails to start while OIDCConfigEndpoint is unreachable'
  return result(
    'discovery-reachable',
    area,
    target,
    'fail',
    `${d.url}: ${d.message} [${d.reason}]${consequence}`,
    reasonRemedies[d.reason] ?? 'Check the issuer URL and the provider.',
  )
}

export interface ConnectorRef {
  id: string
  name: string
  /** idp.db path, for the suggested repair command. */
  dbPath: string
  /** The connector is also declared in management.json EmbeddedIdP.StaticConnectors. */
  isStatic: boolean
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
  c: { id: string; name: string; dbPath: string },
  problem: string,
): CheckResult {
  return result(
    'connector-config',
    'embedded-idp',
    connectorTarget(c),
    'fail',
    problem,
    `Dex skips this connector. Restore a backup taken before the edit (netbird-watchdog backups list --db ${shellQuote(c.dbPath)}, then netbird-watchdog backups restore <id> --db ${shellQuote(c.dbPath)}) or delete and re-create the connector in the NetBird dashboard (Settings → Identity Providers), then restart NetBird.`,
  )
}

export function evaluateIssuerMatch(
  c: ConnectorRef,
  stored: string | undefined,
  d: DiscoveryOutcome | undefined,
): CheckResult {
  const target = connectorTarget(c)
  const id = 'issuer-matches-discovery'
  if (stored === undefined || stored === '') {
    return result(
      id,
      'embedded-idp',
      target,
      'fail',
      'the OIDC connector has no "issuer" in its config: Dex cannot open it',
      'Edit the provider in Dashboard → Settings → Identity Providers and set its Issuer, then restart NetBird.',
    )
  }
  if (d === undefined || !d.ok) {
    return result(
      id,
      'embedded-idp',
      target,
      'skip',
      `not compared: discovery of ${q(stored)} failed (see discovery-reachable)`,
    )
  }
  if (issuersMatch(stored, d.issuer)) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `issuer ${q(stored)} is exactly what the provider returns`,
    )
  }
  const how = describeIssuerDifference(stored, d.issuer)
  const staticNote = c.isStatic
    ? ` It is a static connector: also fix EmbeddedIdP.StaticConnectors in management.json (add --management-json PATH --fix-management-json), or NetBird restores the old value on its next start.`
    : ''
  return result(
    id,
    'embedded-idp',
    target,
    'fail',
    `stored issuer ${q(stored)} but the provider returns ${q(d.issuer)} (${how}); NetBird compares them character for character, so this connector fails to open (≤ v0.65.1 the management container crash-loops, ≥ v0.65.2 SSO with it is broken)`,
    `Set the issuer to exactly ${q(d.issuer)}: netbird-watchdog repair --db ${shellQuote(c.dbPath)} --connector ${shellQuote(c.id)} --issuer ${shellQuote(d.issuer)} (or, if the dashboard still works, Settings → Identity Providers → edit → Issuer ${q(d.issuer)}), then restart NetBird (docker restart netbird-management, or netbird-server on v0.65+).${staticNote}`,
  )
}

export function evaluateRedirectUri(
  c: { id: string; name: string },
  redirectUri: unknown,
  netbirdIssuer: string | undefined,
): CheckResult {
  const target = connectorTarget(c)
  const id = 'redirect-uri'
  if (netbirdIssuer === undefined || netbirdIssuer === '') {
    return result(
      id,
      'embedded-idp',
      target,
      'skip',
      "NetBird's own issuer is unknown: give --management-json (EmbeddedIdP.Issuer) or --config-yaml (server.auth.issuer)",
    )
  }
  const expected = expectedRedirectUri(netbirdIssuer)
  const remedy = `The connector's redirectURI and the Redirect URI registered at the provider (JumpCloud: SSO tab → Redirect URIs) must both be exactly ${expected} — no trailing slash. Re-saving the provider in Dashboard → Settings → Identity Providers rewrites the connector's value.`
  if (typeof redirectUri !== 'string' || redirectUri === '') {
    return result(id, 'embedded-idp', target, 'fail', 'the connector has no redirectURI', remedy)
  }
  if (redirectUri === expected) {
    return result(id, 'embedded-idp', target, 'pass', `redirectURI is ${expected}`)
  }
  const why =
    redirectUri === expected + '/'
      ? 'it has a trailing slash'
      : redirectUri.toLowerCase() === expected.toLowerCase()
        ? 'it differs in letter case'
        : `NetBird serves its callback at ${q(expected)}`
  return result(
    id,
    'embedded-idp',
    target,
    'fail',
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
    return result(
      id,
      'embedded-idp',
      target,
      'fail',
      `the connector does not request ${missing.join(', ')} (it asks for: ${requested.join(' ')}); NetBird needs the e-mail and profile claims`,
      'Add "profile" and "email" to the connector\'s scopes (NetBird writes ["openid","profile","email"]; re-saving the provider in the dashboard restores them).',
    )
  }
  if (d === undefined || !d.ok) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `requests ${requested.join(' ')} (the provider's scopes were not checked: discovery failed)`,
    )
  }
  const supported = d.document.scopes_supported
  if (!Array.isArray(supported)) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `requests ${requested.join(' ')}; the provider does not publish scopes_supported`,
    )
  }
  const unadvertised = requiredScopes.filter((s) => !supported.includes(s))
  if (unadvertised.length > 0) {
    return result(
      id,
      'embedded-idp',
      target,
      'warn',
      `the provider does not advertise ${unadvertised.join(', ')} in scopes_supported`,
      'Enable the Email and Profile scopes for the application at the provider (JumpCloud: SSO application → Attribute Mapping → Email and Profile; remove duplicate attributes such as a second email).',
    )
  }
  return result(
    id,
    'embedded-idp',
    target,
    'pass',
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
    return result(id, 'embedded-idp', target, 'skip', 'not checked: discovery failed')
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
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `the token endpoint accepts client_secret_post${hasBasic && !basicUnsupported ? ' and client_secret_basic' : ''}`,
    )
  }
  if (!hasBasic) {
    return result(
      id,
      'embedded-idp',
      target,
      'fail',
      `the token endpoint accepts none of the methods Dex can use (client_secret_basic, client_secret_post); it advertises: ${list}`,
      postRemedy,
    )
  }
  if (basicUnsupported || jumpcloud) {
    return result(
      id,
      'embedded-idp',
      target,
      'fail',
      `the token endpoint does not accept client_secret_post (advertises: ${list}), which ${basicUnsupported ? 'this connector needs (basicAuthUnsupported)' : 'JumpCloud applications must use'}`,
      postRemedy,
    )
  }
  return result(
    id,
    'embedded-idp',
    target,
    'warn',
    `the token endpoint does not advertise client_secret_post (only: ${list}); Dex will send the secret with HTTP Basic`,
    'Fine if the application at the provider accepts client_secret_basic; if it is set to Client Secret POST, token exchange fails — allow client_secret_post at the provider.',
  )
}

// ---------------------------------------------------------------------------------------------------

/** NetBird types stored as Dex `oidc` (idp/dex/connector.go buildStorageConnector). */
const oidcFamily = new Set([
  'oidc',
  'zitadel',
  'entra',
  'okta',
  'pocketid',
  'authentik',
  'keycloak',
  'adfs',
])

export function dexTypeOf(netbirdType: string | undefined): string | undefined {
  if (netbirdType === undefined) return undefined
  const t = netbirdType.toLowerCase()
  return oidcFamily.has(t) ? 'oidc' : t
}

export interface StaticEntryFacts {
  id: string
  type?: string
  name?: string
  config: Record<string, unknown>
}

export interface RowFacts {
  type: string
  name: string
  config: Record<string, unknown> | null
}

function isSecretName(key: string): boolean {
  return /secret|token|password|key$/i.test(key)
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function shortJson(v: unknown): string {
  const s = v === undefined ? '(absent)' : JSON.stringify(v)
  return s.length > 120 ? s.slice(0, 117) + '…' : s
}

export function evaluateStaticDrift(
  entry: StaticEntryFacts,
  row: RowFacts | undefined,
  discoveredIssuer: string | undefined,
  managementJsonPath: string,
): CheckResult {
  const target = `static connector ${entry.id} (${managementJsonPath})`
  const id = 'static-connector-drift'
  if (row === undefined) {
    return result(
      id,
      'embedded-idp',
      target,
      'warn',
      'declared in management.json but not in idp.db: NetBird creates it on its next start',
    )
  }
  const diffs: string[] = []
  const unresolved: string[] = []
  let issuerDiffers = false
  const wantType = dexTypeOf(entry.type)
  if (wantType !== undefined && wantType !== row.type.toLowerCase()) {
    diffs.push(`type (management.json ${q(wantType)}, idp.db ${q(row.type)})`)
  }
  if (entry.name !== undefined && entry.name !== row.name) {
    diffs.push(`name (management.json ${q(entry.name)}, idp.db ${q(row.name)})`)
  }
  const rowConfig = row.config ?? {}
  for (const [key, want] of Object.entries(entry.config)) {
    if (typeof want === 'string' && want.includes('{{')) {
      unresolved.push(key)
      continue
    }
    const have = rowConfig[key]
    if (deepEqual(want, have)) continue
    if (key === 'issuer') issuerDiffers = true
    diffs.push(
      isSecretName(key)
        ? `${key} (values not shown)`
        : `${key} (management.json ${shortJson(want)}, idp.db ${shortJson(have)})`,
    )
  }
  const unresolvedNote =
    unresolved.length > 0
      ? `; not compared (set from environment variables): ${unresolved.join(', ')}`
      : ''
  if (diffs.length === 0) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `idp.db matches management.json${unresolvedNote}`,
    )
  }
  const wantIssuer = entry.config.issuer
  const restoresBrokenIssuer =
    issuerDiffers &&
    discoveredIssuer !== undefined &&
    rowConfig.issuer === discoveredIssuer &&
    wantIssuer !== discoveredIssuer
  const message = `differs from idp.db: ${diffs.join('; ')}; NetBird overwrites the idp.db row from management.json on its next start${
    restoresBrokenIssuer
      ? `, bringing back an issuer the provider does not return (it returns ${q(discoveredIssuer)})`
      : ''
  }${unresolvedNote}`
  return result(
    id,
    'embedded-idp',
    target,
    restoresBrokenIssuer ? 'fail' : 'warn',
    message,
    `Make EmbeddedIdP.StaticConnectors[${q(entry.id)}] in ${managementJsonPath} hold the intended values — it wins on every start${
      issuerDiffers
        ? '; for the issuer, netbird-watchdog repair --db IDP_DB --connector ' +
          shellQuote(entry.id) +
          ' --discover --management-json ' +
          shellQuote(managementJsonPath) +
          ' --fix-management-json fixes both files'
        : ''
    }.`,
  )
}

// ---------------------------------------------------------------------------------------------------
// Standalone setup (JumpCloud as the primary IdP: management.json HttpConfig/IdpManagerConfig, setup.env)

export interface StandaloneSource {
  /** "management.json" path or "setup.env" path, for targets. */
  label: string
  kind: 'management-json' | 'setup-env'
}

export function evaluateAuthIssuer(
  src: StandaloneSource,
  authIssuer: string | undefined,
  endpointSet: boolean,
  d: DiscoveryOutcome | undefined,
): CheckResult {
  const id = 'auth-issuer-matches-discovery'
  const field = src.kind === 'setup-env' ? 'NETBIRD_AUTH_AUTHORITY' : 'HttpConfig.AuthIssuer'
  const target = `${src.label} ${field}`
  if (d === undefined) {
    return result(
      id,
      'standalone',
      target,
      'skip',
      `neither ${field} nor ${src.kind === 'setup-env' ? 'NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT' : 'HttpConfig.OIDCConfigEndpoint'} is set`,
    )
  }
  if (!d.ok) {
    return result(
      id,
      'standalone',
      target,
      'skip',
      `not compared: discovery at ${d.url} failed (see discovery-reachable)`,
    )
  }
  if (authIssuer === undefined || authIssuer === '') {
    return result(
      id,
      'standalone',
      target,
      'pass',
      src.kind === 'setup-env'
        ? `not set: configure.sh takes it from discovery (${q(d.issuer)})`
        : `empty: management takes it from OIDCConfigEndpoint at start (${q(d.issuer)})`,
    )
  }
  if (issuersMatch(authIssuer, d.issuer)) {
    return result(
      id,
      'standalone',
      target,
      'pass',
      `${q(authIssuer)} is exactly what the provider returns`,
    )
  }
  const how = describeIssuerDifference(authIssuer, d.issuer)
  const fix =
    src.kind === 'setup-env'
      ? `Set NETBIRD_AUTH_AUTHORITY="${d.issuer}" (or remove it so configure.sh takes it from discovery), re-run configure.sh and restart NetBird.`
      : `Set HttpConfig.AuthIssuer to exactly ${q(d.issuer)} in ${src.label} (and AUTH_AUTHORITY in dashboard.env), then restart management.`
  return result(
    id,
    'standalone',
    target,
    endpointSet ? 'warn' : 'fail',
    `${q(authIssuer)} but the provider returns ${q(d.issuer)} (${how})${
      endpointSet
        ? '; management replaces it with the discovered value at start, but the dashboard and tokens checked against the configured value disagree'
        : "; tokens carry the provider's issuer, so management rejects every login"
    }`,
    fix,
  )
}

export function evaluateAudienceClientId(
  src: StandaloneSource,
  audience: string | undefined,
  clientId: string | undefined,
  names: { audience: string; clientId: string },
): CheckResult {
  const id = 'audience-client-id'
  const target = `${src.label} ${names.audience}`
  if (audience === undefined || audience === '') {
    return result(id, 'standalone', target, 'skip', `${names.audience} is not set`)
  }
  if (clientId === undefined || clientId === '') {
    return result(id, 'standalone', target, 'skip', `${names.clientId} is not set`)
  }
  if (audience === clientId) {
    return result(id, 'standalone', target, 'pass', `${names.audience} equals ${names.clientId}`)
  }
  return result(
    id,
    'standalone',
    target,
    'fail',
    `${names.audience} ${q(audience)} differs from ${names.clientId} ${q(clientId)}; JumpCloud ID tokens carry the client ID as their audience, so management rejects them`,
    src.kind === 'setup-env'
      ? "Set NETBIRD_AUTH_AUDIENCE to the same value as NETBIRD_AUTH_CLIENT_ID (the JumpCloud application's Client ID), re-run configure.sh and restart NetBird."
      : `Set ${names.audience} to the application's Client ID in ${src.label} and restart management.`,
  )
}

export function evaluateDeviceAuth(
  src: StandaloneSource,
  provider: string | undefined,
  d: DiscoveryOutcome | undefined,
): CheckResult {
  const id = 'device-auth'
  const field =
    src.kind === 'setup-env'
      ? 'NETBIRD_AUTH_DEVICE_AUTH_PROVIDER'
      : 'DeviceAuthorizationFlow.Provider'
  const target = `${src.label} ${field}`
  const enabled = provider !== undefined && provider !== '' && provider.toLowerCase() !== 'none'
  const offered =
    d?.ok === true &&
    typeof d.document.device_authorization_endpoint === 'string' &&
    d.document.device_authorization_endpoint !== ''
  if (!enabled) {
    return result(
      id,
      'standalone',
      target,
      'pass',
      `device authorization is off (${provider === undefined || provider === '' ? 'not configured' : q(provider)})`,
    )
  }
  if (d === undefined || !d.ok) {
    return result(
      id,
      'standalone',
      target,
      'skip',
      `device authorization is on (${provider}) but the provider's discovery is unavailable`,
    )
  }
  if (offered) {
    return result(
      id,
      'standalone',
      target,
      'pass',
      `device authorization is on (${provider}) and the provider offers a device_authorization_endpoint`,
    )
  }
  return result(
    id,
    'standalone',
    target,
    'fail',
    `device authorization is on (${provider}) but the provider's discovery has no device_authorization_endpoint: \`netbird up\` device logins fail`,
    src.kind === 'setup-env'
      ? 'Set NETBIRD_AUTH_DEVICE_AUTH_PROVIDER="none" and leave NETBIRD_AUTH_DEVICE_AUTH_CLIENT_ID empty (configure.sh switches to "hosted" when it is set), re-run configure.sh and restart NetBird (JumpCloud has no device authorization; clients use the browser login).'
      : `Set DeviceAuthorizationFlow.Provider to "none" in ${src.label} and restart management (JumpCloud has no device authorization; clients use the browser login).`,
  )
}

export type ApiTokenOutcome =
  | { ok: true; status: number; ms: number }
  | { ok: false; rejected: boolean; status?: number; message: string; ms: number }

export interface JumpcloudTokenFacts {
  managerType: string | undefined
  embeddedEnabled: boolean
  /** The token, by presence only; its value never reaches a check. */
  tokenState: 'present' | 'missing' | { unresolvedVar: string }
  apiUrl: string
  api: ApiTokenOutcome | undefined
}

export function evaluateJumpcloudToken(src: StandaloneSource, f: JumpcloudTokenFacts): CheckResult {
  const id = 'jumpcloud-api-token'
  const field =
    src.kind === 'setup-env'
      ? 'NETBIRD_IDP_MGMT_EXTRA_API_TOKEN'
      : 'IdpManagerConfig.ExtraConfig.ApiToken'
  const target = `${src.label} ${field}`
  const typeField = src.kind === 'setup-env' ? 'NETBIRD_MGMT_IDP' : 'IdpManagerConfig.ManagerType'
  if ((f.managerType ?? '').toLowerCase() !== 'jumpcloud') {
    return result(
      id,
      'standalone',
      target,
      'skip',
      `${typeField} is ${f.managerType === undefined || f.managerType === '' ? 'not set' : q(f.managerType)}, not "jumpcloud"`,
    )
  }
  if (f.embeddedEnabled) {
    return result(
      id,
      'standalone',
      target,
      'skip',
      'EmbeddedIdP is enabled: NetBird ignores IdpManagerConfig',
    )
  }
  const tokenRemedy =
    'Create a JumpCloud administrator for the integration (role Read Only; Help Desk for --user-delete-from-idp), log in as it, open My API Key, generate a key and set it as ' +
    (src.kind === 'setup-env'
      ? 'NETBIRD_IDP_MGMT_EXTRA_API_TOKEN, re-run configure.sh and restart NetBird.'
      : 'IdpManagerConfig.ExtraConfig.ApiToken, then restart management.')
  if (f.tokenState === 'missing') {
    return result(
      id,
      'standalone',
      target,
      'fail',
      'no API token: management fails to start ("jumpCloud IdP configuration is incomplete, ApiToken is missing")',
      tokenRemedy,
    )
  }
  if (typeof f.tokenState === 'object') {
    return result(
      id,
      'standalone',
      target,
      'skip',
      `the token comes from the environment variable ${f.tokenState.unresolvedVar}, which is not set here`,
    )
  }
  if (f.api === undefined) {
    return result(id, 'standalone', target, 'skip', 'the JumpCloud API was not queried')
  }
  if (f.api.ok) {
    return result(
      id,
      'standalone',
      target,
      'pass',
      `the JumpCloud API at ${f.apiUrl} accepted the token (HTTP ${f.api.status}, ${f.api.ms} ms)`,
    )
  }
  if (f.api.rejected) {
    return result(
      id,
      'standalone',
      target,
      'fail',
      `the JumpCloud API at ${f.apiUrl} rejected the token (HTTP ${f.api.status ?? '?'}): management cannot read users from JumpCloud`,
      `Verify the integration user still has its role (Read Only, or Help Desk), or generate a new API token. ${tokenRemedy}`,
    )
  }
  return result(
    id,
    'standalone',
    target,
    'warn',
    `could not verify the token: ${f.api.message}`,
    `Check that ${f.apiUrl} is reachable from the NetBird host (ExtraConfig.ApiUrl overrides the default https://console.jumpcloud.com/api).`,
  )
}

/** `ok` is false when any check failed; warnings and skips keep it true. */
export function reportOk(checks: readonly CheckResult[]): boolean {
  return checks.every((c) => c.status !== 'fail')
}

// ---------------------------------------------------------------------------------------------------

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
    return result(
      id,
      'embedded-idp',
      target,
      'fail',
      `no dashboard redirect URI is registered: Dex refuses every dashboard login with "Unregistered redirect_uri"`,
      `List the dashboard's callback URLs in ${source.field} (${examples}) and restart management.`,
    )
  }
  const missing = expected.filter((u) => !registered.includes(u))
  if (expected.length === 0) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `${registered.length} dashboard redirect URI(s) registered (no issuer to compare them with)`,
    )
  }
  if (missing.length === 0) {
    return result(
      id,
      'embedded-idp',
      target,
      'pass',
      `a dashboard on ${origin} can log in: ${expected.join(' and ')} are registered`,
    )
  }
  return result(
    id,
    'embedded-idp',
    target,
    'warn',
    `${missing.map(q).join(' and ')} not registered: a dashboard served from ${origin} gets "Unregistered redirect_uri" from Dex (fine if the dashboard runs on another host whose URLs are listed: ${registered.map(q).join(', ')})`,
    `Add ${missing.join(' and ')} to ${source.field} (exactly as the dashboard sends it, trailing slash included) and restart management.`,
  )
}
