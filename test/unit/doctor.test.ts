// runDoctor end to end against real peers: idp.db fixtures (the repair issue's builder), NetBird config
// files in both layouts, real oidc-provider instances, failure peers and the JumpCloud API stand-in.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import type { CheckId, CheckResult } from '../../src/core/checks/check.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { runDoctor, type DoctorReport } from '../../src/doctor/run-doctor.js'
import { isWatchdogError } from '../../src/errors.js'
import {
  parseCombinedConfig,
  parseManagementJson,
  parseSetupEnv,
} from '../../src/netbird/config-files.js'
import {
  canarySecret,
  createIdpDb,
  goJsonMarshal,
  oidcConnectorConfig,
  type FixtureConnector,
} from '../helpers/idp-fixture.js'
import {
  startFailurePeer,
  startJumpCloudApi,
  startOidcPeer,
  type Peer,
} from '../helpers/oidc-peers.js'
import { defer } from '../helpers/cleanup.js'

const fixtures = new URL('../fixtures/netbird/', import.meta.url)
const fixture = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8')
const apiToken = 'jc-api-token-canary-4b1d9e0c7a'
const callback = 'https://netbird.example.com/oauth2/callback'
// Real peers on 127.0.0.1 answer in milliseconds; the timeout is for a CI machine under load (the
// unit tier runs beside the engine tier and the image build), where 700 ms once cut off a discovery.
const lab = { timeoutMs: 10_000, allowInsecure: true }

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-doctor-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function peer(t: TestContext, p: Promise<Peer>): Promise<Peer> {
  const started = await p
  defer(t, () => started.close())
  return started
}

function oidcRow(
  id: string,
  name: string,
  issuer: string,
  extra: { redirectURI?: string; scopes?: string[] } = {},
): FixtureConnector {
  return {
    id,
    type: 'oidc',
    name,
    config: oidcConnectorConfig({
      issuer,
      clientID: `client-${id}`,
      clientSecret: canarySecret,
      redirectURI: extra.redirectURI ?? callback,
      ...(extra.scopes !== undefined ? { scopes: extra.scopes } : {}),
    }),
  }
}

function find(report: DoctorReport, id: CheckId, target: RegExp | string): CheckResult {
  const hit = report.checks.find(
    (c) =>
      c.id === id &&
      (typeof target === 'string' ? c.target.includes(target) : target.test(c.target)),
  )
  assert.ok(
    hit,
    `no ${id} result for ${String(target)} in ${JSON.stringify(report.checks, null, 1)}`,
  )
  return hit
}

function assertNoSecrets(report: DoctorReport, ...secrets: string[]): void {
  const text = JSON.stringify(report)
  for (const s of [canarySecret, ...secrets]) assert.ok(!text.includes(s), `secret leaked: ${s}`)
}

test('embedded IdP (v0.62 quickstart): every connector check passes and fails against real peers', async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' })) // JumpCloud-like: issuer ends with "/"
  const realm = await peer(t, startOidcPeer({ path: '/realms/corp' }))
  const basicOnly = await peer(
    t,
    startOidcPeer({ path: '/', clientAuthMethods: ['client_secret_basic'] }),
  )
  const hang = await peer(t, startFailurePeer('hang'))
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      oidcRow('d1c9q2ll0fgs73cunqsg', 'JumpCloud', slash.origin), // stored without the slash
      oidcRow('keycloak-d1c9q4dl0fgs73cunqt0', 'Keycloak', realm.issuer, {
        redirectURI: callback + '/',
      }),
      oidcRow('okta-d1c9q4dl0fgs73cunqt1', 'Basic only', basicOnly.issuer, {
        scopes: ['openid', 'profile'],
      }),
      oidcRow('authentik-d1c9q4dl0fgs73cunqt2', 'Hangs', hang.origin),
      {
        id: 'google-d1c9q5tl0fgs73cunqtg',
        type: 'google',
        name: 'Google',
        config: goJsonMarshal({ clientID: 'g', clientSecret: canarySecret, redirectURI: callback }),
      },
    ],
  })
  const mj = join(dir, 'management.json')
  writeFileSync(mj, fixture('management-v0.62-quickstart.json'))

  const report = await runDoctor(
    { store: new SqliteStore(db), managementJson: mj },
    // The hanging provider holds the report for this long; the real peers answer well within it.
    { ...lab, timeoutMs: 5000 },
  )

  assert.equal(report.ok, false)
  // The guide's case: stored without the slash, provider returns it with one.
  const jc = find(report, 'issuer-matches-discovery', 'd1c9q2ll0fgs73cunqsg')
  assert.equal(jc.status, 'fail')
  assert.ok(
    jc.message.includes(
      `stored issuer "${slash.origin}" but the provider returns "${slash.origin}/"`,
    ),
  )
  assert.ok(
    jc.remediation?.includes(
      `netbird-watchdog repair --db ${db} --connector d1c9q2ll0fgs73cunqsg --issuer ${slash.origin}/`,
    ),
  )
  assert.equal(find(report, 'discovery-reachable', 'd1c9q2ll0fgs73cunqsg').status, 'pass')
  assert.equal(find(report, 'redirect-uri', 'd1c9q2ll0fgs73cunqsg').status, 'pass')
  assert.equal(find(report, 'scopes', 'd1c9q2ll0fgs73cunqsg').status, 'pass')
  assert.equal(find(report, 'client-auth-method', 'd1c9q2ll0fgs73cunqsg').status, 'pass')

  assert.equal(find(report, 'issuer-matches-discovery', 'keycloak-').status, 'pass')
  const redirect = find(report, 'redirect-uri', 'keycloak-')
  assert.equal(redirect.status, 'fail')
  assert.match(redirect.message, /trailing slash/)

  assert.equal(find(report, 'issuer-matches-discovery', 'okta-').status, 'pass')
  assert.equal(find(report, 'scopes', 'okta-').status, 'fail')
  const auth = find(report, 'client-auth-method', 'okta-')
  assert.equal(auth.status, 'warn')
  assert.match(auth.message, /does not advertise client_secret_post/)

  // One hanging provider: its own checks time out, the report still completes.
  const hung = find(report, 'discovery-reachable', 'authentik-')
  assert.equal(hung.status, 'fail')
  assert.match(hung.message, /\[timeout\]/)
  assert.equal(find(report, 'issuer-matches-discovery', 'authentik-').status, 'skip')

  assert.equal(find(report, 'redirect-uri', 'google-').status, 'pass')
  assert.ok(!report.checks.some((c) => c.target.includes('local')))
  assertNoSecrets(report)
})

test('embedded IdP (v0.65 combined config.yaml): all good is ok, one request per provider', async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' }))
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    schema: 'grant-types',
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      oidcRow('d1c9q2ll0fgs73cunqsg', 'JumpCloud', slash.issuer),
      oidcRow('d1c9q2ll0fgs73cunqsh', 'JumpCloud again', slash.issuer),
    ],
  })
  const yaml = join(dir, 'config.yaml')
  writeFileSync(yaml, fixture('config-v0.65-combined.yaml'))
  const report = await runDoctor({ store: new SqliteStore(db), configYaml: yaml }, lab)
  assert.equal(report.ok, true, JSON.stringify(report.checks, null, 1))
  for (const id of [
    'issuer-matches-discovery',
    'discovery-reachable',
    'redirect-uri',
    'scopes',
    'client-auth-method',
  ] as const) {
    assert.equal(find(report, id, 'd1c9q2ll0fgs73cunqsg').status, 'pass', id)
  }
  assertNoSecrets(report)
})

test("redirect-uri is skipped without NetBird's issuer; no idp.db with the embedded IdP is a skip", async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' }))
  const db = join(dir, 'idp.db')
  createIdpDb(db, { connectors: [oidcRow('abc', 'JumpCloud', slash.issuer)] })
  const onlyDb = await runDoctor({ store: new SqliteStore(db) }, lab)
  assert.equal(find(onlyDb, 'redirect-uri', 'abc').status, 'skip')
  assert.equal(onlyDb.ok, true)
  const mj = join(dir, 'management.json')
  writeFileSync(mj, fixture('management-v0.64-quickstart.json'))
  const noDb = await runDoctor({ managementJson: mj }, lab)
  const connectors = noDb.checks.filter(
    (c) => c.id !== 'dashboard-redirect-uris' && c.area !== 'idp-config',
  )
  assert.equal(connectors.length, 1)
  assert.equal(connectors[0]!.status, 'skip')
  assert.match(connectors[0]!.message, /--db/)
})

test('dashboard-redirect-uris from the real config files: quickstart passes, a dashboard callback missing warns, none fails', async (t) => {
  const dir = tmp(t)
  const yaml = join(dir, 'config.yaml')
  writeFileSync(yaml, fixture('config-v0.65-combined.yaml'))
  const mj = join(dir, 'management.json')
  writeFileSync(mj, fixture('management-v0.62-quickstart.json'))
  const good = await runDoctor({ configYaml: yaml, managementJson: mj }, lab)
  assert.equal(
    find(good, 'dashboard-redirect-uris', `${yaml} server.auth.dashboardRedirectURIs`).status,
    'pass',
  )
  assert.equal(
    find(good, 'dashboard-redirect-uris', `${mj} EmbeddedIdP.DashboardRedirectURIs`).status,
    'pass',
  )

  writeFileSync(
    yaml,
    fixture('config-v0.65-combined.yaml').replace(
      '      - "https://netbird.example.com/nb-silent-auth"\n',
      '',
    ),
  )
  const one = find(
    await runDoctor({ configYaml: yaml }, lab),
    'dashboard-redirect-uris',
    /config\.yaml/,
  )
  assert.equal(one.status, 'warn')
  assert.match(one.message, /nb-silent-auth" not registered/)

  const parsed = JSON.parse(fixture('management-v0.62-quickstart.json')) as {
    EmbeddedIdP: Record<string, unknown>
  }
  delete parsed.EmbeddedIdP.DashboardRedirectURIs
  writeFileSync(mj, JSON.stringify(parsed))
  const none = await runDoctor({ managementJson: mj }, lab)
  assert.equal(find(none, 'dashboard-redirect-uris', /management\.json/).status, 'fail')
  assert.equal(none.ok, false)
})

test('static-connector-drift: an idp.db-only repair of a static connector is undone on restart', async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' }))
  const db = join(dir, 'idp.db')
  // idp.db already repaired (issuer with the slash) ...
  createIdpDb(db, {
    connectors: [
      oidcRow('jumpcloud', 'JumpCloud', slash.issuer),
      oidcRow('other', 'Other', slash.issuer),
    ],
  })
  // ... but management.json (v0.67.2+ StaticConnectors) still has the old value.
  const m = JSON.parse(fixture('management-v0.64-quickstart.json')) as {
    EmbeddedIdP: Record<string, unknown>
  }
  m.EmbeddedIdP.StaticConnectors = [
    {
      type: 'oidc',
      name: 'JumpCloud',
      id: 'jumpcloud',
      config: {
        issuer: slash.origin,
        clientID: 'client-jumpcloud',
        clientSecret: canarySecret,
        redirectURI: callback,
      },
    },
    {
      type: 'oidc',
      name: 'Other',
      id: 'other',
      config: {
        issuer: slash.issuer,
        clientID: 'client-other',
        clientSecret: 'a-different-static-secret',
        redirectURI: callback,
      },
    },
    { type: 'oidc', name: 'New', id: 'not-yet-in-db', config: { issuer: slash.issuer } },
  ]
  const mj = join(dir, 'management.json')
  writeFileSync(mj, JSON.stringify(m, null, 4))
  const report = await runDoctor({ store: new SqliteStore(db), managementJson: mj }, lab)
  const drift = find(report, 'static-connector-drift', 'static connector jumpcloud ')
  assert.equal(drift.status, 'fail')
  assert.match(drift.message, /issuer \(management\.json ".*", idp\.db ".*\/"\)/)
  assert.match(drift.remediation ?? '', /--fix-management-json/)
  const other = find(report, 'static-connector-drift', 'static connector other ')
  assert.equal(other.status, 'warn')
  assert.match(other.message, /clientSecret \(values not shown\)/)
  assert.equal(find(report, 'static-connector-drift', 'not-yet-in-db').status, 'warn')
  assert.equal(find(report, 'issuer-matches-discovery', 'jumpcloud').status, 'pass')
  assertNoSecrets(report, 'a-different-static-secret')
})

function standaloneManagementJson(
  dir: string,
  provider: Peer,
  api: { apiUrl: string } | undefined,
  edit: (m: Record<string, Record<string, unknown>>) => void = () => undefined,
  token = apiToken,
): string {
  const text = fixture('management-standalone-jumpcloud.json')
    .replaceAll('https://oauth.id.jumpcloud.com', provider.origin)
    .replace('__API_TOKEN__', token)
  const m = JSON.parse(text) as Record<string, Record<string, unknown>>
  if (api !== undefined) {
    ;(m.IdpManagerConfig!.ExtraConfig as Record<string, string>).ApiUrl = api.apiUrl
  }
  edit(m)
  const path = join(dir, 'management.json')
  writeFileSync(path, JSON.stringify(m, null, 4))
  return path
}

test('standalone JumpCloud (legacy management.json): all good, and the API is asked once, read-only', async (t) => {
  const dir = tmp(t)
  const jc = await peer(t, startOidcPeer({ path: '/', deviceFlow: false }))
  const api = await startJumpCloudApi(apiToken)
  defer(t, () => api.close())
  const mj = standaloneManagementJson(dir, jc, api)
  const report = await runDoctor({ managementJson: mj }, lab)
  assert.equal(report.ok, true, JSON.stringify(report.checks, null, 1))
  assert.equal(find(report, 'discovery-reachable', 'OIDCConfigEndpoint').status, 'pass')
  assert.equal(find(report, 'auth-issuer-matches-discovery', 'AuthIssuer').status, 'pass')
  assert.equal(find(report, 'device-auth', 'DeviceAuthorizationFlow').status, 'pass')
  assert.equal(find(report, 'audience-client-id', 'AuthAudience').status, 'pass')
  const token = find(report, 'jumpcloud-api-token', 'ApiToken')
  assert.equal(token.status, 'pass')
  assert.equal(api.requests.length, 1)
  assert.deepEqual(api.requests[0], {
    method: 'POST',
    path: '/api/search/systemusers',
    apiKey: apiToken,
    contentType: 'application/json',
    body: '{"limit":1}',
  })
  assertNoSecrets(report, apiToken)
})

test('standalone JumpCloud: rejected token, device auth without provider support, audience mismatch, stale AuthIssuer', async (t) => {
  const dir = tmp(t)
  const jc = await peer(t, startOidcPeer({ path: '/', deviceFlow: false }))
  const api = await startJumpCloudApi('the-right-token-value')
  defer(t, () => api.close())
  const mj = standaloneManagementJson(dir, jc, api, (m) => {
    m.DeviceAuthorizationFlow!.Provider = 'hosted'
    m.HttpConfig!.AuthAudience = 'netbird'
    m.HttpConfig!.AuthIssuer = jc.origin // without the slash
    delete m.HttpConfig!.OIDCConfigEndpoint
  })
  const report = await runDoctor({ managementJson: mj }, lab)
  assert.equal(report.ok, false)
  const token = find(report, 'jumpcloud-api-token', 'ApiToken')
  assert.equal(token.status, 'fail')
  assert.match(token.message, /rejected the token \(HTTP 401\)/)
  assert.match(token.remediation ?? '', /API token/)
  const device = find(report, 'device-auth', 'DeviceAuthorizationFlow')
  assert.equal(device.status, 'fail')
  assert.match(device.message, /no device_authorization_endpoint/)
  assert.equal(find(report, 'audience-client-id', 'AuthAudience').status, 'fail')
  // Without OIDCConfigEndpoint management validates tokens against the configured AuthIssuer.
  const iss = find(report, 'auth-issuer-matches-discovery', 'AuthIssuer')
  assert.equal(iss.status, 'fail')
  assert.match(iss.message, /trailing slash/)
  assertNoSecrets(report, apiToken, 'the-right-token-value')
})

test('standalone JumpCloud: missing token fails; a template variable is substituted from the environment', async (t) => {
  const dir = tmp(t)
  const jc = await peer(t, startOidcPeer({ path: '/' }))
  const api = await startJumpCloudApi(apiToken)
  defer(t, () => api.close())
  const missing = standaloneManagementJson(dir, jc, api, (m) => {
    delete (m.IdpManagerConfig!.ExtraConfig as Record<string, string>).ApiToken
  })
  const r1 = await runDoctor({ managementJson: missing }, lab)
  const t1 = find(r1, 'jumpcloud-api-token', 'ApiToken')
  assert.equal(t1.status, 'fail')
  assert.match(t1.message, /ApiToken is missing/)
  // NetBird executes management.json as a Go template over its environment.
  const templ = standaloneManagementJson(dir, jc, api, () => undefined, '{{ .JC_API_TOKEN }}')
  const r2 = await runDoctor({ managementJson: templ }, { ...lab, env: { JC_API_TOKEN: apiToken } })
  assert.equal(find(r2, 'jumpcloud-api-token', 'ApiToken').status, 'pass')
  const r3 = await runDoctor({ managementJson: templ }, { ...lab, env: {} })
  const t3 = find(r3, 'jumpcloud-api-token', 'ApiToken')
  assert.equal(t3.status, 'skip')
  assert.match(t3.message, /JC_API_TOKEN/)
  assertNoSecrets(r2, apiToken)
})

function guideSetupEnv(
  dir: string,
  jc: Peer,
  api: { apiUrl: string },
  token: string,
  extra = '',
): string {
  const text = fixture('setup-jumpcloud.env')
    .replaceAll('https://oauth.id.jumpcloud.com', jc.origin)
    .replaceAll('<YOUR_DOMAIN>', 'netbird.example.com')
    .replaceAll('<CLIENT_ID>', '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b')
    .replaceAll('<API_TOKEN>', token)
  const path = join(dir, 'setup.env')
  writeFileSync(path, `${text}NETBIRD_IDP_MGMT_EXTRA_API_URL="${api.apiUrl}"\n${extra}`)
  return path
}

test('setup.env exactly as the JumpCloud guide writes it', async (t) => {
  const dir = tmp(t)
  const jc = await peer(t, startOidcPeer({ path: '/', deviceFlow: false }))
  const api = await startJumpCloudApi(apiToken)
  defer(t, () => api.close())
  const good = await runDoctor({ setupEnv: guideSetupEnv(dir, jc, api, apiToken) }, lab)
  assert.equal(good.ok, true, JSON.stringify(good.checks, null, 1))
  for (const id of [
    'discovery-reachable',
    'auth-issuer-matches-discovery',
    'audience-client-id',
    'device-auth',
    'jumpcloud-api-token',
  ] as const) {
    assert.equal(find(good, id, 'setup.env').status, 'pass', id)
  }
  // A device-auth client ID makes configure.sh switch the provider to "hosted"; JumpCloud has no device flow.
  const bad = await runDoctor(
    {
      setupEnv: guideSetupEnv(
        dir,
        jc,
        api,
        'wrong-token-value',
        'NETBIRD_AUTH_DEVICE_AUTH_CLIENT_ID="abc"\nNETBIRD_AUTH_AUDIENCE="netbird"\n',
      ),
    },
    lab,
  )
  assert.equal(bad.ok, false)
  const device = find(bad, 'device-auth', 'setup.env')
  assert.equal(device.status, 'fail')
  assert.match(device.remediation ?? '', /NETBIRD_AUTH_DEVICE_AUTH_PROVIDER="none"/)
  assert.equal(find(bad, 'audience-client-id', 'setup.env').status, 'fail')
  assert.equal(find(bad, 'jumpcloud-api-token', 'setup.env').status, 'fail')
  assertNoSecrets(good, apiToken)
  assertNoSecrets(bad, 'wrong-token-value')
})

test('plain-http providers are refused unless allowed', async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' }))
  const db = join(dir, 'idp.db')
  createIdpDb(db, { connectors: [oidcRow('abc', 'JumpCloud', slash.issuer)] })
  const report = await runDoctor(
    { store: new SqliteStore(db) },
    { timeoutMs: 1500, allowInsecure: false },
  )
  const r = find(report, 'discovery-reachable', 'abc')
  assert.equal(r.status, 'fail')
  assert.match(r.message, /\[insecure\]/)
  assert.equal(report.ok, false)
})

test('unusable inputs are typed errors (the CLI maps them to exit 2); messages carry no secret', async (t) => {
  const dir = tmp(t)
  await assert.rejects(runDoctor({ managementJson: join(dir, 'nope.json') }, lab), (e: unknown) =>
    isWatchdogError(e, 'INPUT_UNREADABLE'),
  )
  const broken = join(dir, 'management.json')
  writeFileSync(broken, `{"IdpManagerConfig": {"ExtraConfig": {"ApiToken": "${apiToken}" }}`)
  await assert.rejects(runDoctor({ managementJson: broken }, lab), (e: unknown) => {
    assert.ok(isWatchdogError(e, 'MANAGEMENT_JSON_INVALID'))
    assert.ok(!e.message.includes(apiToken))
    return true
  })
  await assert.rejects(
    runDoctor({ store: new SqliteStore(join(dir, 'idp.db')) }, lab),
    (e: unknown) => isWatchdogError(e, 'DB_NOT_FOUND'),
  )
})

test('management.json parsing: Go-style case-insensitive keys, template variables, both layouts', () => {
  const q = parseManagementJson('m.json', fixture('management-v0.62-quickstart.json'))
  assert.deepEqual(q.embedded, {
    enabled: true,
    issuer: 'https://netbird.example.com/oauth2',
    staticConnectors: [],
    dashboardRedirectUris: [
      'https://netbird.example.com/nb-auth',
      'https://netbird.example.com/nb-silent-auth',
    ],
    localAuthDisabled: false,
  })
  assert.equal(q.http, undefined)
  const v64 = parseManagementJson('m.json', fixture('management-v0.64-quickstart.json'))
  assert.equal(v64.embedded?.storageFile, '/var/lib/netbird/idp.db')
  const legacy = parseManagementJson('m.json', fixture('management-standalone-jumpcloud.json'))
  assert.equal(legacy.http?.authIssuer, 'https://oauth.id.jumpcloud.com/')
  assert.equal(legacy.idpManager?.managerType, 'jumpcloud')
  assert.equal(legacy.deviceAuth?.provider, 'none')
  assert.equal(legacy.pkce?.clientId, '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b')
  const lower = parseManagementJson(
    'm.json',
    '{"embeddedidp":{"enabled":true,"ISSUER":"{{ .NB_ISSUER }}","staticconnectors":[{"ID":"x","config":{"issuer":"i"}}]}}',
    { NB_ISSUER: 'https://nb.example.com/oauth2' },
  )
  assert.equal(lower.embedded?.issuer, 'https://nb.example.com/oauth2')
  assert.deepEqual(lower.embedded?.staticConnectors, [{ id: 'x', config: { issuer: 'i' } }])
  const unresolved = parseManagementJson('m.json', '{"HttpConfig":{"AuthIssuer":"{{.NB_X}}"}}')
  assert.deepEqual(unresolved.unresolvedVars, ['NB_X'])
  // Go decodes null into a string field as "": lenient, as NetBird is.
  const nulls = parseManagementJson(
    'm.json',
    '{"HttpConfig":{"AuthIssuer":null,"Unknown":{"x":1}}}',
  )
  assert.deepEqual(nulls.http, {})
})

test('config.yaml parsing: issuer, dataDir, authStore file and postgres', () => {
  const c = parseCombinedConfig('c.yaml', fixture('config-v0.65-combined.yaml'))
  assert.equal(c.issuer, 'https://netbird.example.com/oauth2')
  assert.equal(c.idpDbPath, '/var/lib/netbird/idp.db')
  const rel = parseCombinedConfig(
    'c.yaml',
    'server:\n  dataDir: /data\n  authStore:\n    file: auth/idp.db\n',
  )
  assert.equal(rel.idpDbPath, '/data/auth/idp.db')
  const pg = parseCombinedConfig(
    'c.yaml',
    'server:\n  authStore:\n    engine: postgres\n    dsn: x\n',
  )
  assert.equal(pg.idpDbPath, undefined)
  assert.throws(
    () => parseCombinedConfig('c.yaml', 'listen: 1\n'),
    (e: unknown) => isWatchdogError(e, 'CONFIG_INVALID'),
  )
})

test('setup.env parsing: quotes, expansion, export, comments', () => {
  const s = parseSetupEnv(
    's.env',
    [
      '# comment',
      'NETBIRD_DOMAIN="nb.example.com"',
      "export SINGLE='$NOT_EXPANDED'",
      'NETBIRD_AUTH_AUDIENCE=$NETBIRD_AUTH_CLIENT_ID',
      'NETBIRD_AUTH_CLIENT_ID=abc # trailing comment',
      'NETBIRD_AUTH_DEVICE_AUTH_AUDIENCE=${NETBIRD_AUTH_CLIENT_ID}',
      'URL="https://${NETBIRD_DOMAIN}/x"',
      '',
    ].join('\n'),
  )
  assert.deepEqual(s.vars, {
    NETBIRD_DOMAIN: 'nb.example.com',
    SINGLE: '$NOT_EXPANDED',
    NETBIRD_AUTH_AUDIENCE: '',
    NETBIRD_AUTH_CLIENT_ID: 'abc',
    NETBIRD_AUTH_DEVICE_AUTH_AUDIENCE: 'abc',
    URL: 'https://nb.example.com/x',
  })
  const guide = parseSetupEnv('s.env', fixture('setup-jumpcloud.env'))
  assert.equal(guide.vars.NETBIRD_AUTH_DEVICE_AUTH_PROVIDER, 'none')
  assert.equal(guide.vars.NETBIRD_MGMT_IDP, 'jumpcloud')
  assert.throws(
    () => parseSetupEnv('s.env', 'not an assignment'),
    (e: unknown) => isWatchdogError(e, 'CONFIG_INVALID'),
  )
})

test('standalone: an OIDCConfigEndpoint from a template variable is fetched only when the variable is set', async (t) => {
  const dir = tmp(t)
  const jc = await peer(t, startOidcPeer({ path: '/', deviceFlow: false }))
  const mj = standaloneManagementJson(dir, jc, undefined, (m) => {
    m.HttpConfig!.OIDCConfigEndpoint = '{{ .NB_OIDC_ENDPOINT }}'
    m.IdpManagerConfig!.ManagerType = 'none'
  })
  const unset = await runDoctor({ managementJson: mj }, lab)
  const skipped = find(unset, 'auth-issuer-matches-discovery', 'OIDCConfigEndpoint')
  assert.equal(skipped.status, 'skip')
  assert.match(skipped.message, /NB_OIDC_ENDPOINT/)
  assert.equal(find(unset, 'device-auth', 'DeviceAuthorizationFlow').status, 'pass')
  assert.equal(find(unset, 'jumpcloud-api-token', 'ApiToken').status, 'skip')
  const set = await runDoctor(
    { managementJson: mj },
    { ...lab, env: { NB_OIDC_ENDPOINT: `${jc.origin}/.well-known/openid-configuration` } },
  )
  assert.equal(find(set, 'discovery-reachable', 'OIDCConfigEndpoint').status, 'pass')
  assert.equal(find(set, 'auth-issuer-matches-discovery', 'AuthIssuer').status, 'pass')
  assert.equal(set.ok, true)
})

test('a check that never settles is cut off at its deadline; the others still report', async (t) => {
  const dir = tmp(t)
  const slash = await peer(t, startOidcPeer({ path: '/' }))
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: [
      oidcRow('stuck', 'Stuck', 'https://stuck.example.com/'),
      oidcRow('fine', 'Fine', slash.issuer),
    ],
  })
  // A fetch that ignores its abort signal and never settles (only for the stuck host).
  const stubborn: typeof fetch = (input, init) =>
    String(input instanceof Request ? input.url : input).startsWith('https://stuck.example.com/')
      ? new Promise<Response>(() => undefined)
      : fetch(input, init)
  // A timeout the working peer always meets, also on a loaded CI machine (300 ms did not once).
  const report = await runDoctor(
    { store: new SqliteStore(db) },
    { timeoutMs: 3000, allowInsecure: true, fetch: stubborn },
  )
  const stuck = find(report, 'discovery-reachable', 'stuck')
  assert.equal(stuck.status, 'fail')
  assert.match(stuck.message, /did not finish within 4000 ms/)
  assert.equal(find(report, 'issuer-matches-discovery', 'fine').status, 'pass')
  assert.equal(report.ok, false)
})

test('a Postgres auth store (combined server) is named when no idp.db is given', async (t) => {
  const dir = tmp(t)
  const yaml = join(dir, 'config.yaml')
  writeFileSync(
    yaml,
    fixture('config-v0.65-combined.yaml').replace(
      '  store:\n',
      '  authStore:\n    engine: "postgres"\n    dsn: "host=db user=netbird"\n  store:\n',
    ),
  )
  const report = await runDoctor({ configYaml: yaml }, lab)
  const connectors = report.checks.filter(
    (c) => c.id !== 'dashboard-redirect-uris' && c.area !== 'idp-config',
  )
  assert.equal(connectors.length, 1)
  assert.equal(connectors[0]!.status, 'skip')
  assert.match(connectors[0]!.message, /Postgres/)
})
