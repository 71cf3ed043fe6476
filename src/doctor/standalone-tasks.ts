// The doctor's checks of a standalone setup (JumpCloud as the primary IdP): from management.json's
// HttpConfig / IdpManagerConfig / DeviceAuthorizationFlow, or from the setup.env the JumpCloud guide has
// operators write — the configured issuer against discovery, audience = client ID, device
// authorization, and the JumpCloud API token asked of the API itself.
import type { CheckId } from '../core/checks/check.js'
import {
  evaluateAudienceClientId,
  evaluateAuthIssuer,
  evaluateDeviceAuth,
  evaluateJumpcloudToken,
  type StandaloneSource,
} from '../core/checks/standalone-checks.js'
import { evaluateDiscoveryReachable } from '../core/checks/discovery.js'
import { discoveryUrl } from '../core/issuer.js'
import type { ManagementJson, SetupEnv } from '../netbird/config-files.js'
import type { DiscoveryResult } from '../oidc/discovery.js'
import { checkJumpCloudToken, isHeaderSafeToken, jumpCloudApiBase } from './jumpcloud-api.js'
import { nonEmpty, type NetworkOptions, type TaskSpec } from './task.js'

export function addManagementStandaloneTasks(
  tasks: TaskSpec[],
  m: ManagementJson,
  opts: NetworkOptions,
  discoverUrl: (url: string) => Promise<DiscoveryResult>,
): void {
  const src: StandaloneSource = { label: m.path, kind: 'management-json' }
  const embeddedEnabled = m.embedded?.enabled === true
  if (embeddedEnabled) {
    const ids: CheckId[] = [
      'auth-issuer-matches-discovery',
      'audience-client-id',
      'device-auth',
      'jumpcloud-api-token',
    ]
    for (const id of ids) {
      tasks.push({
        id,
        area: 'standalone',
        target: m.path,
        run: () => [
          {
            id,
            status: 'skip',
            area: 'standalone',
            target: m.path,
            message:
              'EmbeddedIdP is enabled: NetBird ignores HttpConfig and IdpManagerConfig (standalone checks do not apply)',
          },
        ],
      })
    }
    return
  }
  const http = m.http ?? {}
  const endpoint =
    nonEmpty(http.oidcConfigEndpoint) ??
    (nonEmpty(http.authIssuer) !== undefined ? discoveryUrl(http.authIssuer!) : undefined)
  const unresolved = (v: string | undefined): boolean => v !== undefined && v.includes('{{')
  tasks.push({
    id: 'auth-issuer-matches-discovery',
    area: 'standalone',
    target: `${m.path} HttpConfig`,
    run: async () => {
      if (endpoint !== undefined && unresolved(endpoint)) {
        const target = `${m.path} HttpConfig.OIDCConfigEndpoint`
        return [
          {
            id: 'auth-issuer-matches-discovery',
            status: 'skip',
            area: 'standalone',
            target,
            message: `not checked: the endpoint comes from environment variable(s) not set here (${m.unresolvedVars.join(', ')})`,
          },
          evaluateDeviceAuth(src, m.deviceAuth?.provider, undefined),
        ]
      }
      if (endpoint === undefined) {
        return [
          evaluateAuthIssuer(src, http.authIssuer, false, undefined),
          evaluateDeviceAuth(src, m.deviceAuth?.provider, undefined),
        ]
      }
      const d = await discoverUrl(endpoint)
      return [
        evaluateDiscoveryReachable('standalone', `${m.path} HttpConfig.OIDCConfigEndpoint`, d),
        evaluateAuthIssuer(
          src,
          http.authIssuer,
          nonEmpty(http.oidcConfigEndpoint) !== undefined,
          d,
        ),
        evaluateDeviceAuth(src, m.deviceAuth?.provider, d),
      ]
    },
  })
  const clientId = nonEmpty(http.authClientId) ?? nonEmpty(m.pkce?.clientId)
  tasks.push({
    id: 'audience-client-id',
    area: 'standalone',
    target: `${m.path} HttpConfig.AuthAudience`,
    run: () => [
      evaluateAudienceClientId(src, http.authAudience, clientId, {
        audience: 'HttpConfig.AuthAudience',
        clientId:
          nonEmpty(http.authClientId) !== undefined
            ? 'HttpConfig.AuthClientID'
            : 'PKCEAuthorizationFlow.ProviderConfig.ClientID',
      }),
    ],
  })
  const extra = m.idpManager?.extraConfig ?? {}
  addTokenTask(tasks, src, {
    managerType: m.idpManager?.managerType,
    embeddedEnabled,
    token: extra.ApiToken,
    apiUrl: extra.ApiUrl,
    opts,
  })
}

export function addSetupEnvTasks(
  tasks: TaskSpec[],
  s: SetupEnv,
  opts: NetworkOptions,
  discoverUrl: (url: string) => Promise<DiscoveryResult>,
): void {
  const v = s.vars
  const src: StandaloneSource = { label: s.path, kind: 'setup-env' }
  const endpoint =
    nonEmpty(v.NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT) ??
    (nonEmpty(v.NETBIRD_AUTH_AUTHORITY) !== undefined
      ? discoveryUrl(v.NETBIRD_AUTH_AUTHORITY!)
      : undefined)
  // configure.sh: a device-auth client ID switches the provider to "hosted".
  const deviceProvider =
    nonEmpty(v.NETBIRD_AUTH_DEVICE_AUTH_CLIENT_ID) !== undefined
      ? 'hosted, because NETBIRD_AUTH_DEVICE_AUTH_CLIENT_ID is set'
      : v.NETBIRD_AUTH_DEVICE_AUTH_PROVIDER
  tasks.push({
    id: 'auth-issuer-matches-discovery',
    area: 'standalone',
    target: s.path,
    run: async () => {
      if (endpoint === undefined) {
        return [
          evaluateAuthIssuer(src, v.NETBIRD_AUTH_AUTHORITY, false, undefined),
          evaluateDeviceAuth(src, deviceProvider, undefined),
        ]
      }
      const d = await discoverUrl(endpoint)
      return [
        evaluateDiscoveryReachable(
          'standalone',
          `${s.path} NETBIRD_AUTH_OIDC_CONFIGURATION_ENDPOINT`,
          d,
        ),
        evaluateAuthIssuer(src, v.NETBIRD_AUTH_AUTHORITY, false, d),
        evaluateDeviceAuth(src, deviceProvider, d),
      ]
    },
  })
  tasks.push({
    id: 'audience-client-id',
    area: 'standalone',
    target: s.path,
    run: () => [
      evaluateAudienceClientId(src, v.NETBIRD_AUTH_AUDIENCE, v.NETBIRD_AUTH_CLIENT_ID, {
        audience: 'NETBIRD_AUTH_AUDIENCE',
        clientId: 'NETBIRD_AUTH_CLIENT_ID',
      }),
    ],
  })
  addTokenTask(tasks, src, {
    managerType: v.NETBIRD_MGMT_IDP,
    embeddedEnabled: false,
    token: v.NETBIRD_IDP_MGMT_EXTRA_API_TOKEN,
    // configure.sh turns NETBIRD_IDP_MGMT_EXTRA_<SNAKE> into ExtraConfig["<Camel>"].
    apiUrl: v.NETBIRD_IDP_MGMT_EXTRA_API_URL,
    opts,
  })
}

function addTokenTask(
  tasks: TaskSpec[],
  src: StandaloneSource,
  f: {
    managerType: string | undefined
    embeddedEnabled: boolean
    token: string | undefined
    apiUrl: string | undefined
    opts: NetworkOptions
  },
): void {
  tasks.push({
    id: 'jumpcloud-api-token',
    area: 'standalone',
    target: src.label,
    run: async () => {
      const token = nonEmpty(f.token)
      const templ = token !== undefined ? /\{\{-?\s*\.([A-Za-z0-9_]+)/.exec(token) : null
      const tokenState =
        token === undefined
          ? ('missing' as const)
          : templ !== null
            ? { unresolvedVar: templ[1]! }
            : isHeaderSafeToken(token)
              ? ('present' as const)
              : ('malformed' as const)
      const isJumpCloud = (f.managerType ?? '').toLowerCase() === 'jumpcloud'
      const api =
        isJumpCloud && !f.embeddedEnabled && tokenState === 'present' && token !== undefined
          ? await checkJumpCloudToken(f.apiUrl, token, {
              timeoutMs: f.opts.timeoutMs,
              allowInsecure: f.opts.allowInsecure,
              ...(f.opts.fetch !== undefined ? { fetch: f.opts.fetch } : {}),
              ...(f.opts.signal !== undefined ? { signal: f.opts.signal } : {}),
            })
          : undefined
      return [
        evaluateJumpcloudToken(src, {
          managerType: f.managerType,
          embeddedEnabled: f.embeddedEnabled,
          tokenState,
          apiUrl: jumpCloudApiBase(f.apiUrl),
          api,
        }),
      ]
    },
  })
}
