// The pure doctor checks: every check's pass and fail (and warn/skip) from literal facts.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  checkIds,
  reportOk,
  shellQuote,
  type DiscoveryOutcome,
} from '../../src/core/checks/check.js'
import {
  evaluateClientAuthMethod,
  evaluateIssuerMatch as evaluateIssuerVerdict,
  evaluateDashboardRedirectUris,
  evaluateRedirectUri,
  evaluateScopes,
  expectedRedirectUri,
  requestedScopes,
  suggestedStore,
  type ConnectorRef,
} from '../../src/core/checks/connector-checks.js'
import { evaluateDiscoveryReachable } from '../../src/core/checks/discovery.js'
import {
  evaluateAudienceClientId,
  evaluateAuthIssuer,
  evaluateDeviceAuth,
  evaluateJumpcloudToken,
  type StandaloneSource,
} from '../../src/core/checks/standalone-checks.js'
import { evaluateStaticDrift } from '../../src/core/checks/static-checks.js'
import { discoveryTargets, judgeIssuer } from '../../src/core/issuer-policy.js'

/**
 * issuer-matches-discovery from a stored issuer and one discovery answer, judged by the issuer policy
 * as doctor does (the answer at the new value is the same document: the same discovery URL).
 */
function evaluateIssuerMatch(
  c: ConnectorRef,
  stored: string | undefined,
  d: DiscoveryOutcome | undefined,
) {
  if (stored === undefined || d === undefined) {
    const row = {
      id: c.id,
      type: 'oidc',
      name: c.name,
      resourceVersion: '',
      config: {},
      rawConfig: '{}',
      storage: 'blob' as const,
    }
    const [skipped] = discoveryTargets([row])
    if (skipped === undefined || !('kind' in skipped)) throw new Error('expected a skipped verdict')
    return evaluateIssuerVerdict(c, skipped)
  }
  return evaluateIssuerVerdict(
    c,
    judgeIssuer({ connectorId: c.id, stored, first: d, second: d }, { allowInsecure: false }),
  )
}

const jc = 'https://oauth.id.jumpcloud.com'
const doc = (issuer: string, extra: Record<string, unknown> = {}): DiscoveryOutcome => ({
  ok: true,
  url: issuer.replace(/\/$/, '') + '/.well-known/openid-configuration',
  issuer,
  document: { issuer, ...extra },
  ms: 12,
})
const failed: DiscoveryOutcome = {
  ok: false,
  url: jc + '/.well-known/openid-configuration',
  reason: 'timeout',
  message: 'no complete answer from oauth.id.jumpcloud.com within 5000 ms',
  ms: 5000,
}
const conn = {
  id: 'd1c9q2ll0fgs73cunqsg',
  name: 'JumpCloud',
  store: suggestedStore({ engine: 'sqlite', label: '/var/lib/netbird/idp.db' }),
  isStatic: false,
}
const mj: StandaloneSource = { label: '/etc/netbird/management.json', kind: 'management-json' }
const env: StandaloneSource = { label: './setup.env', kind: 'setup-env' }

test('eighteen stable check ids', () => {
  assert.deepEqual([...checkIds].sort(), [
    'audience-client-id',
    'auth-issuer-matches-discovery',
    'client-auth-method',
    'config-file-in-use',
    'connector-config',
    'dashboard-redirect-uris',
    'device-auth',
    'discovery-reachable',
    'idp-storage-config',
    'issuer-matches-discovery',
    'jumpcloud-api-token',
    'local-auth-connectors',
    'redirect-uri',
    'scopes',
    'session-cookie-key',
    'static-connector-drift',
    'store-in-use',
    'store-matches-backup',
  ])
})

test("issuer-matches-discovery: the guide's trailing-slash case fails with the exact fix", () => {
  const r = evaluateIssuerMatch(conn, jc, doc(jc + '/'))
  assert.equal(r.status, 'fail')
  assert.equal(r.target, 'connector d1c9q2ll0fgs73cunqsg (JumpCloud)')
  assert.match(
    r.message,
    /stored issuer "https:\/\/oauth\.id\.jumpcloud\.com" but the provider returns "https:\/\/oauth\.id\.jumpcloud\.com\/" \(the provider returns it with a trailing slash\)/,
  )
  assert.ok(
    r.remediation?.includes(
      'netbird-watchdog repair --db /var/lib/netbird/idp.db --connector d1c9q2ll0fgs73cunqsg --issuer https://oauth.id.jumpcloud.com/',
    ),
  )
  assert.equal(evaluateIssuerMatch(conn, jc + '/', doc(jc + '/')).status, 'pass')
  assert.equal(evaluateIssuerMatch(conn, jc + '/', doc(jc)).status, 'fail')
  assert.equal(evaluateIssuerMatch(conn, jc, failed).status, 'skip')
  assert.equal(evaluateIssuerMatch(conn, undefined, undefined).status, 'fail')
  const s = evaluateIssuerMatch({ ...conn, isStatic: true }, jc, doc(jc + '/'))
  assert.match(s.remediation ?? '', /--fix-management-json/)
})

test('a PostgreSQL store: the suggested repair is one that runs (a DSN and a backup directory), no password', () => {
  const store = suggestedStore({ engine: 'postgres', label: 'postgres://netbird@db:5432/idp' })
  const r = evaluateIssuerMatch({ ...conn, store }, jc, doc(jc + '/'))
  assert.equal(r.status, 'fail')
  assert.ok(
    r.remediation?.includes(
      'netbird-watchdog repair --db "$IDP_DSN" --backup-dir BACKUP_DIR --connector d1c9q2ll0fgs73cunqsg --issuer https://oauth.id.jumpcloud.com/',
    ),
    r.remediation,
  )
  assert.match(
    r.remediation ?? '',
    /IDP_DSN: the DSN of postgres:\/\/netbird@db:5432\/idp, password and sslmode included/,
  )
  assert.ok(!(r.remediation ?? '').includes('--db postgres://'))
})

test('discovery-reachable: pass with timing, fail with the reason and a remedy per reason', () => {
  assert.equal(evaluateDiscoveryReachable('embedded-idp', 't', doc(jc + '/')).status, 'pass')
  const r = evaluateDiscoveryReachable('embedded-idp', 't', failed)
  assert.equal(r.status, 'fail')
  assert.match(r.message, /\[timeout\]/)
  assert.ok(r.remediation !== undefined)
  for (const reason of [
    'dns',
    'tcp',
    'tls',
    'http-status',
    'not-json',
    'invalid-document',
    'insecure',
  ]) {
    const x = evaluateDiscoveryReachable('standalone', 't', { ...failed, reason })
    assert.ok(x.remediation !== undefined && x.remediation !== reasonlessRemedy, reason)
  }
})
const reasonlessRemedy = 'Check the issuer URL and the provider.'

test('redirect-uri: exactly <origin>/oauth2/callback', () => {
  assert.equal(
    expectedRedirectUri('https://nb.example.com/oauth2'),
    'https://nb.example.com/oauth2/callback',
  )
  assert.equal(
    expectedRedirectUri('https://nb.example.com/oauth2/'),
    'https://nb.example.com/oauth2/callback',
  )
  assert.equal(
    expectedRedirectUri('https://nb.example.com'),
    'https://nb.example.com/oauth2/callback',
  )
  const iss = 'https://nb.example.com/oauth2'
  assert.equal(
    evaluateRedirectUri(conn, 'https://nb.example.com/oauth2/callback', iss).status,
    'pass',
  )
  const slash = evaluateRedirectUri(conn, 'https://nb.example.com/oauth2/callback/', iss)
  assert.equal(slash.status, 'fail')
  assert.match(slash.message, /trailing slash/)
  assert.match(slash.remediation ?? '', /exactly https:\/\/nb\.example\.com\/oauth2\/callback/)
  assert.equal(
    evaluateRedirectUri(conn, 'https://old.example.com/oauth2/callback', iss).status,
    'fail',
  )
  assert.equal(evaluateRedirectUri(conn, undefined, iss).status, 'fail')
  assert.equal(evaluateRedirectUri(conn, 'x', undefined).status, 'skip')
})

test('scopes: the connector must ask for openid profile email; the provider should advertise them', () => {
  assert.deepEqual(requestedScopes(undefined), ['openid', 'profile', 'email'])
  assert.deepEqual(requestedScopes(['groups']), ['openid', 'groups'])
  const all = { scopes_supported: ['openid', 'profile', 'email', 'offline_access'] }
  assert.equal(evaluateScopes(conn, ['openid', 'profile', 'email'], doc(jc, all)).status, 'pass')
  const noEmail = evaluateScopes(conn, ['openid', 'profile'], doc(jc, all))
  assert.equal(noEmail.status, 'fail')
  assert.match(noEmail.message, /does not request email/)
  const adv = evaluateScopes(
    conn,
    ['openid', 'profile', 'email'],
    doc(jc, { scopes_supported: ['openid'] }),
  )
  assert.equal(adv.status, 'warn')
  assert.match(adv.remediation ?? '', /Attribute Mapping/)
  assert.equal(evaluateScopes(conn, undefined, doc(jc)).status, 'pass')
  assert.equal(evaluateScopes(conn, undefined, failed).status, 'pass')
})

test('client-auth-method: client_secret_post for JumpCloud; basic-only warns elsewhere; none usable fails', () => {
  const post = doc(jc + '/', {
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  })
  const basic = doc(jc + '/', { token_endpoint_auth_methods_supported: ['client_secret_basic'] })
  const jwt = doc(jc + '/', { token_endpoint_auth_methods_supported: ['private_key_jwt'] })
  assert.equal(evaluateClientAuthMethod(conn, { issuer: jc + '/' }, post).status, 'pass')
  const jcBasic = evaluateClientAuthMethod(conn, { issuer: jc + '/' }, basic)
  assert.equal(jcBasic.status, 'fail')
  assert.match(jcBasic.remediation ?? '', /Client Secret POST/)
  assert.equal(
    evaluateClientAuthMethod(conn, { issuer: 'https://idp.example.com' }, basic).status,
    'warn',
  )
  assert.equal(
    evaluateClientAuthMethod(
      conn,
      { issuer: 'https://idp.example.com', basicAuthUnsupported: true },
      basic,
    ).status,
    'fail',
  )
  assert.equal(
    evaluateClientAuthMethod(conn, { issuer: 'https://idp.example.com' }, jwt).status,
    'fail',
  )
  // Omitted: client_secret_basic (OIDC Discovery §3).
  assert.equal(
    evaluateClientAuthMethod(
      conn,
      { issuer: 'https://idp.example.com' },
      doc('https://idp.example.com'),
    ).status,
    'warn',
  )
  assert.equal(evaluateClientAuthMethod(conn, {}, failed).status, 'skip')
})

test('static-connector-drift: equal, different (secret values hidden), missing row, restart would break it', () => {
  const secret = 'static-secret-canary-9d8e7f'
  const entry = {
    id: 'jc',
    type: 'oidc',
    name: 'JumpCloud',
    config: { issuer: jc, clientID: 'abc', clientSecret: secret },
  }
  const row = {
    type: 'oidc',
    name: 'JumpCloud',
    config: { issuer: jc, clientID: 'abc', clientSecret: secret, scopes: ['openid'] },
  }
  assert.equal(evaluateStaticDrift(entry, row, undefined, 'm.json').status, 'pass')
  assert.equal(evaluateStaticDrift(entry, undefined, undefined, 'm.json').status, 'warn')
  const otherSecret = evaluateStaticDrift(
    entry,
    { ...row, config: { ...row.config, clientSecret: 'other-secret-value' } },
    undefined,
    'm.json',
  )
  assert.equal(otherSecret.status, 'warn')
  assert.match(otherSecret.message, /clientSecret \(values not shown\)/)
  assert.ok(!JSON.stringify(otherSecret).includes(secret))
  assert.ok(!JSON.stringify(otherSecret).includes('other-secret-value'))
  // idp.db was repaired, management.json still has the old issuer: a restart brings the failure back.
  const repairedRow = { ...row, config: { ...row.config, issuer: jc + '/' } }
  const back = evaluateStaticDrift(entry, repairedRow, jc + '/', 'm.json')
  assert.equal(back.status, 'fail')
  assert.match(back.message, /bringing back an issuer the provider does not return/)
  assert.match(back.remediation ?? '', /--fix-management-json/)
  // management.json right, idp.db wrong: the restart fixes it.
  const fixes = evaluateStaticDrift(
    { ...entry, config: { ...entry.config, issuer: jc + '/' } },
    row,
    jc + '/',
    'm.json',
  )
  assert.equal(fixes.status, 'warn')
  // NetBird types map to Dex types: okta is stored as oidc.
  assert.equal(
    evaluateStaticDrift({ ...entry, type: 'okta' }, row, undefined, 'm.json').status,
    'pass',
  )
  const templ = evaluateStaticDrift(
    { ...entry, config: { ...entry.config, clientSecret: '{{ .JC_SECRET }}' } },
    row,
    undefined,
    'm.json',
  )
  assert.equal(templ.status, 'pass')
  assert.match(templ.message, /not compared .*clientSecret/)
})

test('auth-issuer-matches-discovery: fail without OIDCConfigEndpoint, warn with it (management overrides)', () => {
  assert.equal(evaluateAuthIssuer(mj, jc + '/', true, doc(jc + '/')).status, 'pass')
  assert.equal(evaluateAuthIssuer(mj, jc, false, doc(jc + '/')).status, 'fail')
  assert.equal(evaluateAuthIssuer(mj, jc, true, doc(jc + '/')).status, 'warn')
  assert.equal(evaluateAuthIssuer(env, undefined, false, doc(jc + '/')).status, 'pass')
  assert.equal(evaluateAuthIssuer(env, jc, false, doc(jc + '/')).status, 'fail')
  assert.equal(evaluateAuthIssuer(mj, jc, false, failed).status, 'skip')
  assert.equal(evaluateAuthIssuer(mj, undefined, false, undefined).status, 'skip')
  // The provider's issuer is untrusted text going into a line bash sources: quoted for the shell.
  const hostile = 'https://x.example/$(touch /tmp/pwned)'
  const r = evaluateAuthIssuer(env, jc, false, doc(hostile))
  assert.ok(r.remediation?.includes(`Set NETBIRD_AUTH_AUTHORITY='${hostile}'`), r.remediation)
  assert.ok(
    evaluateAuthIssuer(env, jc + 'x', false, doc(jc + '/')).remediation?.includes(
      `Set NETBIRD_AUTH_AUTHORITY=${jc}/ `,
    ),
  )
})

test('audience-client-id: NETBIRD_AUTH_AUDIENCE = NETBIRD_AUTH_CLIENT_ID', () => {
  const names = { audience: 'NETBIRD_AUTH_AUDIENCE', clientId: 'NETBIRD_AUTH_CLIENT_ID' }
  assert.equal(evaluateAudienceClientId(env, 'abc', 'abc', names).status, 'pass')
  const r = evaluateAudienceClientId(env, 'netbird', 'abc', names)
  assert.equal(r.status, 'fail')
  assert.match(
    r.remediation ?? '',
    /NETBIRD_AUTH_AUDIENCE to the same value as NETBIRD_AUTH_CLIENT_ID/,
  )
  assert.equal(evaluateAudienceClientId(env, undefined, 'abc', names).status, 'skip')
})

test('device-auth: only when the provider offers device_authorization_endpoint', () => {
  const withDevice = doc(jc + '/', { device_authorization_endpoint: jc + '/device' })
  assert.equal(evaluateDeviceAuth(env, 'none', doc(jc + '/')).status, 'pass')
  assert.equal(evaluateDeviceAuth(env, undefined, doc(jc + '/')).status, 'pass')
  assert.equal(evaluateDeviceAuth(env, 'hosted', withDevice).status, 'pass')
  const r = evaluateDeviceAuth(env, 'hosted', doc(jc + '/'))
  assert.equal(r.status, 'fail')
  assert.match(r.remediation ?? '', /NETBIRD_AUTH_DEVICE_AUTH_PROVIDER="none"/)
  assert.equal(evaluateDeviceAuth(mj, 'hosted', failed).status, 'skip')
})

test('jumpcloud-api-token: missing, accepted, rejected, unreachable, not jumpcloud, embedded', () => {
  const base = {
    managerType: 'jumpcloud',
    embeddedEnabled: false,
    apiUrl: 'https://console.jumpcloud.com/api',
  }
  assert.equal(
    evaluateJumpcloudToken(mj, { ...base, tokenState: 'missing', api: undefined }).status,
    'fail',
  )
  assert.equal(
    evaluateJumpcloudToken(mj, {
      ...base,
      tokenState: 'present',
      api: { ok: true, status: 200, ms: 3 },
    }).status,
    'pass',
  )
  const rejected = evaluateJumpcloudToken(env, {
    ...base,
    tokenState: 'present',
    api: { ok: false, rejected: true, status: 401, message: 'HTTP 401', ms: 3 },
  })
  assert.equal(rejected.status, 'fail')
  assert.match(rejected.remediation ?? '', /My API Key/)
  assert.equal(
    evaluateJumpcloudToken(mj, {
      ...base,
      tokenState: 'present',
      api: { ok: false, rejected: false, message: 'x', ms: 3 },
    }).status,
    'warn',
  )
  assert.equal(
    evaluateJumpcloudToken(mj, {
      ...base,
      managerType: 'none',
      tokenState: 'missing',
      api: undefined,
    }).status,
    'skip',
  )
  assert.equal(
    evaluateJumpcloudToken(mj, {
      ...base,
      embeddedEnabled: true,
      tokenState: 'missing',
      api: undefined,
    }).status,
    'skip',
  )
  assert.equal(
    evaluateJumpcloudToken(mj, {
      ...base,
      tokenState: { unresolvedVar: 'JC_TOKEN' },
      api: undefined,
    }).status,
    'skip',
  )
})

test('report ok: warnings and skips pass, a failure does not; shellQuote', () => {
  const r = (status: 'pass' | 'warn' | 'fail' | 'skip') => ({
    id: 'scopes' as const,
    status,
    area: 'embedded-idp' as const,
    target: 't',
    message: 'm',
  })
  assert.equal(reportOk([r('pass'), r('warn'), r('skip')]), true)
  assert.equal(reportOk([r('pass'), r('fail')]), false)
  assert.equal(shellQuote('https://oauth.id.jumpcloud.com/'), 'https://oauth.id.jumpcloud.com/')
  assert.equal(shellQuote("a b'c"), `'a b'\\''c'`)
})

test('dashboard-redirect-uris: the quickstart callbacks pass, a missing one warns, none fails', () => {
  const src = { label: 'config.yaml', field: 'server.auth.dashboardRedirectURIs' }
  const issuer = 'https://netbird.example.com/oauth2'
  const both = ['https://netbird.example.com/nb-auth', 'https://netbird.example.com/nb-silent-auth']
  const ok = evaluateDashboardRedirectUris(src, issuer, both)
  assert.equal(ok.status, 'pass')
  assert.equal(ok.target, 'config.yaml server.auth.dashboardRedirectURIs')

  // Dex compares exactly: a trailing slash is another URI.
  const slash = evaluateDashboardRedirectUris(src, issuer, [both[0]!, `${both[1]!}/`])
  assert.equal(slash.status, 'warn')
  assert.match(slash.message, /"https:\/\/netbird\.example\.com\/nb-silent-auth" not registered/)
  assert.match(slash.message, /Unregistered redirect_uri/)
  assert.match(
    slash.remediation ?? '',
    /^Add https:\/\/netbird\.example\.com\/nb-silent-auth to server\.auth/,
  )

  for (const none of [undefined, []]) {
    const r = evaluateDashboardRedirectUris(src, issuer, none)
    assert.equal(r.status, 'fail')
    assert.match(r.message, /every dashboard login/)
    assert.match(
      r.remediation ?? '',
      /https:\/\/netbird\.example\.com\/nb-auth and https:\/\/netbird\.example\.com\/nb-silent-auth/,
    )
  }
  // Without an issuer there is no origin to expect: listed URIs are taken as they are.
  assert.equal(evaluateDashboardRedirectUris(src, undefined, both).status, 'pass')
  assert.equal(evaluateDashboardRedirectUris(src, 'not a url', []).status, 'fail')
})
