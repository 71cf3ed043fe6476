// Checks of a standalone setup — JumpCloud as the primary IdP, from management.json's HttpConfig and
// IdpManagerConfig or the setup.env the JumpCloud guide has operators write: the configured issuer
// against discovery, audience = client ID, device authorization, the JumpCloud API token. Pure.
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
import { describeIssuerDifference, issuersMatch } from '../issuer.js'

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
    return skip(
      subject(id, 'standalone', target),
      `neither ${field} nor ${src.kind === 'setup-env' ? 'NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT' : 'HttpConfig.OIDCConfigEndpoint'} is set`,
    )
  }
  if (!d.ok) {
    return skip(
      subject(id, 'standalone', target),
      `not compared: discovery at ${d.url} failed (see discovery-reachable)`,
    )
  }
  if (authIssuer === undefined || authIssuer === '') {
    return pass(
      subject(id, 'standalone', target),
      src.kind === 'setup-env'
        ? `not set: configure.sh takes it from discovery (${q(d.issuer)})`
        : `empty: management takes it from OIDCConfigEndpoint at start (${q(d.issuer)})`,
    )
  }
  if (issuersMatch(authIssuer, d.issuer)) {
    return pass(
      subject(id, 'standalone', target),
      `${q(authIssuer)} is exactly what the provider returns`,
    )
  }
  const how = describeIssuerDifference(authIssuer, d.issuer)
  const fix =
    src.kind === 'setup-env'
      ? `Set NETBIRD_AUTH_AUTHORITY=${shellQuote(d.issuer)} (or remove it so configure.sh takes it from discovery), re-run configure.sh and restart NetBird.`
      : `Set HttpConfig.AuthIssuer to exactly ${q(d.issuer)} in ${src.label} (and AUTH_AUTHORITY in dashboard.env), then restart management.`
  return (endpointSet ? warn : fail)(
    subject(id, 'standalone', target),
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
    return skip(subject(id, 'standalone', target), `${names.audience} is not set`)
  }
  if (clientId === undefined || clientId === '') {
    return skip(subject(id, 'standalone', target), `${names.clientId} is not set`)
  }
  if (audience === clientId) {
    return pass(subject(id, 'standalone', target), `${names.audience} equals ${names.clientId}`)
  }
  return fail(
    subject(id, 'standalone', target),
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
    return pass(
      subject(id, 'standalone', target),
      `device authorization is off (${provider === undefined || provider === '' ? 'not configured' : q(provider)})`,
    )
  }
  if (d === undefined || !d.ok) {
    return skip(
      subject(id, 'standalone', target),
      `device authorization is on (${q(provider ?? '')}) but the provider's discovery is unavailable`,
    )
  }
  if (offered) {
    return pass(
      subject(id, 'standalone', target),
      `device authorization is on (${q(provider ?? '')}) and the provider offers a device_authorization_endpoint`,
    )
  }
  return fail(
    subject(id, 'standalone', target),
    `device authorization is on (${q(provider ?? '')}) but the provider's discovery has no device_authorization_endpoint: \`netbird up\` device logins fail`,
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
  /**
   * The token, by presence only; its value never reaches a check. `malformed`: it holds whitespace or
   * a control character, which no API token has and no HTTP header value may (a line break pasted
   * with it): it is not sent.
   */
  tokenState: 'present' | 'missing' | 'malformed' | { unresolvedVar: string }
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
    return skip(
      subject(id, 'standalone', target),
      `${typeField} is ${f.managerType === undefined || f.managerType === '' ? 'not set' : q(f.managerType)}, not "jumpcloud"`,
    )
  }
  if (f.embeddedEnabled) {
    return skip(
      subject(id, 'standalone', target),
      'EmbeddedIdP is enabled: NetBird ignores IdpManagerConfig',
    )
  }
  const tokenRemedy =
    'Create a JumpCloud administrator for the integration (role Read Only; Help Desk for --user-delete-from-idp), log in as it, open My API Key, generate a key and set it as ' +
    (src.kind === 'setup-env'
      ? 'NETBIRD_IDP_MGMT_EXTRA_API_TOKEN, re-run configure.sh and restart NetBird.'
      : 'IdpManagerConfig.ExtraConfig.ApiToken, then restart management.')
  if (f.tokenState === 'missing') {
    return fail(
      subject(id, 'standalone', target),
      'no API token: management fails to start ("jumpCloud IdP configuration is incomplete, ApiToken is missing")',
      tokenRemedy,
    )
  }
  if (f.tokenState === 'malformed') {
    return fail(
      subject(id, 'standalone', target),
      `the API token holds whitespace or a control character (a line break or space pasted with it?): it was not sent (the value is not shown); NetBird's requests with it fail too`,
      `Set ${field} to the token alone, without spaces or line breaks, then restart ${src.kind === 'setup-env' ? 'NetBird (after configure.sh)' : 'management'}.`,
    )
  }
  if (typeof f.tokenState === 'object') {
    return skip(
      subject(id, 'standalone', target),
      `the token comes from the environment variable ${f.tokenState.unresolvedVar}, which is not set here`,
    )
  }
  if (f.api === undefined) {
    return skip(subject(id, 'standalone', target), 'the JumpCloud API was not queried')
  }
  if (f.api.ok) {
    return pass(
      subject(id, 'standalone', target),
      `the JumpCloud API at ${f.apiUrl} accepted the token (HTTP ${f.api.status}, ${f.api.ms} ms)`,
    )
  }
  if (f.api.rejected) {
    return fail(
      subject(id, 'standalone', target),
      `the JumpCloud API at ${f.apiUrl} rejected the token (HTTP ${f.api.status ?? '?'}): management cannot read users from JumpCloud`,
      `Verify the integration user still has its role (Read Only, or Help Desk), or generate a new API token. ${tokenRemedy}`,
    )
  }
  return warn(
    subject(id, 'standalone', target),
    `could not verify the token: ${f.api.message}`,
    `Check that ${f.apiUrl} is reachable from the NetBird host (ExtraConfig.ApiUrl overrides the default https://console.jumpcloud.com/api).`,
  )
}
