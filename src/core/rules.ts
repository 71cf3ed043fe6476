// The catalogue of NetBird embedded-IdP failure signatures, as data. Pure: no I/O.
// Strings come from NetBird/Dex/go-oidc source (shared/netbird-facts.md §2). Rule ids are a public
// contract: they are metric labels and JSON output, so never rename or reuse one.

export type Severity = 'critical' | 'error' | 'warning'

export const ruleIds = [
  'oidc-issuer-mismatch',
  'idp-storage-failed',
  'connector-open-failed',
  'connector-get-failed',
  'idp-api-request-failed',
  'embedded-idp-failed',
  'idp-manager-failed',
  'oidc-config-fetch-failed',
  'panic',
  'fatal',
] as const

export type RuleId = (typeof ruleIds)[number]

export interface Rule {
  readonly id: RuleId
  readonly severity: Severity
  /** What the signature means, in one sentence. */
  readonly meaning: string
  /** What the operator should do, in one or two sentences. */
  readonly remediation: string
  /** Matched against the whole (prefix-stripped) line. Keep it linear: literals and bounded classes only. */
  readonly pattern: RegExp
  /**
   * Literal substrings, one of which every line the pattern matches contains. Cheap `includes`
   * checks on these reject most lines before any regex runs.
   */
  readonly anchors: readonly string[]
  /** Literal log lines this rule must classify (tested). */
  readonly examples: readonly string[]
}

const jumpcloudFatal =
  '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://oauth.id.jumpcloud.com" got "https://oauth.id.jumpcloud.com/"'

/**
 * Ordered most specific first: the first rule whose pattern matches a line wins. The catch-all
 * `fatal` rule has no pattern of its own; it applies to any fatal-level line nothing else matched.
 */
export const rules: readonly Rule[] = [
  {
    id: 'oidc-issuer-mismatch',
    severity: 'critical',
    meaning:
      "A connector's configured issuer differs from the issuer its provider's discovery document returns (go-oidc compares them character for character).",
    remediation:
      'Set the connector issuer to exactly the value the provider returns (JumpCloud: https://oauth.id.jumpcloud.com/ with the trailing slash): `netbird-watchdog repair --db /var/lib/netbird/idp.db --discover`, then restart the management container.',
    // go-oidc v3.14 and older, and v3.17+ (PR coreos/go-oidc#469).
    pattern:
      /issuer did not match the issuer returned by provider|did not match the issuer URL returned by provider/,
    anchors: ['did not match the issuer'],
    examples: [
      jumpcloudFatal,
      'netbird-management  | 2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://oauth.id.jumpcloud.com" got "https://oauth.id.jumpcloud.com/"',
      '2026-01-19T08:38:55.482913374Z 2026-01-19T08:38:55Z FATA management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector okta-d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector okta-d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://corp.okta.com/" got "https://corp.okta.com"\r',
      '2026-08-20T10:00:00.123Z ERRO [id: d5k3c2ejl7ks73b0hq2g, err: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer URL provided to client ("https://oauth.id.jumpcloud.com") did not match the issuer URL returned by provider ("https://oauth.id.jumpcloud.com/")] idp/dex/logrus_handler.go:83: server: Failed to open connector',
      '2026-03-02T11:15:09.004Z ERRO [err: failed to open connector: failed to create connector keycloak-d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://sso.example.com/realms/corp/" got "https://sso.example.com/realms/corp", id: keycloak-d5k3c2ejl7ks73b0hq2g] idp/dex/logrus_handler.go:83: server: Failed to open connector',
      '{"err":"failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected \\"https://oauth.id.jumpcloud.com\\" got \\"https://oauth.id.jumpcloud.com/\\"","id":"d5k3c2ejl7ks73b0hq2g","level":"error","msg":"server: Failed to open connector","time":"2026-03-02T11:15:09.004Z"}',
      'time=2026-01-08T09:12:44.120Z level=ERROR msg="server: Failed to open connector" id=d5k3c2ejl7ks73b0hq2g err="failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected \\"https://oauth.id.jumpcloud.com\\" got \\"https://oauth.id.jumpcloud.com/\\""',
    ],
  },
  {
    id: 'idp-storage-failed',
    severity: 'critical',
    meaning:
      'The embedded IdP could not open or migrate its storage (idp.db): the file is missing, unreadable, corrupt, or the binary was built without SQLite.',
    remediation:
      'Check that /var/lib/netbird/idp.db exists, is writable by the container and passes `PRAGMA integrity_check`; restore a verified backup with `netbird-watchdog backups restore` if it is corrupt.',
    pattern: /failed to open storage|failed to perform migrations|SQLite storage is not available/,
    anchors: ['open storage', 'perform migrations', 'SQLite storage'],
    examples: [
      '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to open storage: failed to perform migrations: migration 4 statement 0 failed: database disk image is malformed',
      '2026-05-04T07:01:12.000Z FATL management/internals/server/modules.go:124: failed to create embedded IDP service: failed to create embedded IdP provider: failed to open storage: SQLite storage is not available: binary compiled without CGO support. Recompile with CGO_ENABLED=1 or use a different storage backend.',
    ],
  },
  {
    id: 'connector-open-failed',
    severity: 'critical',
    meaning:
      'Dex could not open an SSO connector (provider unreachable, discovery error, invalid connector config); before v0.65.2 this crashes management, after it SSO silently breaks.',
    remediation:
      "Run `netbird-watchdog doctor` to see which connector fails and why; check the provider is reachable from the management container and the connector's issuer, client ID and secret.",
    pattern: /Failed to open connector|failed to open all connectors|failed to parse connector/,
    anchors: ['to open connector', 'to open all connectors', 'to parse connector'],
    examples: [
      '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector authentik-d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector authentik-d5k3c2ejl7ks73b0hq2g: failed to get provider: Get "https://auth.example.com/application/o/netbird/.well-known/openid-configuration": dial tcp: lookup auth.example.com: no such host',
      '2026-02-20T09:30:01.771Z ERRO [err: failed to open connector: failed to create connector pocketid-d5k3c2ejl7ks73b0hq2g: failed to get provider: 404 Not Found: 404 page not found, id: pocketid-d5k3c2ejl7ks73b0hq2g] idp/dex/logrus_handler.go:83: server: Failed to open connector',
      "2026-02-20T09:30:01.771Z WARN [id: d5k3c2ejl7ks73b0hq2g, error: invalid character '}' looking for beginning of object key string] idp/dex/logrus_handler.go:81: failed to parse connector",
    ],
  },
  {
    id: 'connector-get-failed',
    severity: 'error',
    meaning:
      'A user tried to log in through a connector Dex could not open; the browser shows "Connector failed to initialize".',
    remediation:
      'Fix the connector (run `netbird-watchdog doctor`); a connector that failed to open is retried on the next login, a repaired idp.db needs a management restart.',
    pattern: /[Ff]ailed to get connector/,
    anchors: ['to get connector'],
    examples: [
      '2026-02-20T09:31:44.010Z ERRO [err: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: Get "https://login.example.com/.well-known/openid-configuration": context deadline exceeded] idp/dex/logrus_handler.go:83: Failed to get connector',
      '2026-02-20T09:31:44.010Z ERRO [connector_id: okta-d5k3c2ejl7ks73b0hq2g, err: failed to get connector object from storage: not found] idp/dex/logrus_handler.go:83: failed to get connector',
    ],
  },
  {
    id: 'idp-api-request-failed',
    severity: 'error',
    meaning:
      'A request from NetBird to the JumpCloud API was rejected: the ApiToken is missing, revoked or lacks the read-only admin role.',
    remediation:
      'Create a JumpCloud API token (Read Only admin role, Help Desk if user deletion is wanted), put it in management.json IdpManagerConfig.ExtraConfig.ApiToken and restart management.',
    pattern: /JumpCloud API request \S{1,16} \S{1,2048} failed with status \d{3}/,
    anchors: ['JumpCloud API request'],
    examples: [
      '2026-03-10T12:00:03.331Z ERRO management/server/user.go:1210: failed to get user data from IdP: JumpCloud API request POST https://console.jumpcloud.com/api/search/systemusers failed with status 401',
      '2026-03-10T12:00:03Z WARN management/server/account.go:1322: error warming up cache: JumpCloud API request GET https://console.jumpcloud.com/api/systemusers/5f1b2c failed with status 403',
    ],
  },
  {
    id: 'embedded-idp-failed',
    severity: 'critical',
    meaning:
      'The embedded identity provider (Dex) could not be created, so management cannot start.',
    remediation:
      'Read the rest of the line for the cause; check management.json EmbeddedIdP (Issuer, Storage) or config.yaml server.auth, and run `netbird-watchdog doctor`.',
    pattern: /failed to create embedded IDP (?:manager|service)/,
    anchors: ['embedded IDP manager', 'embedded IDP service'],
    examples: [
      '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create refresh token policy: time: invalid duration "7x"',
      '2026-06-01T10:20:30.400Z FATL management/internals/server/modules.go:127: failed to create embedded IDP service: cannot disable local authentication: no other identity providers configured',
    ],
  },
  {
    id: 'idp-manager-failed',
    severity: 'critical',
    meaning:
      'The legacy IdP manager (IdpManagerConfig, e.g. JumpCloud as primary IdP) could not be created, so management cannot start.',
    remediation:
      'Fix management.json IdpManagerConfig; for JumpCloud set ExtraConfig.ApiToken to a valid API token (`netbird-watchdog doctor` checks it).',
    pattern: /failed to create IDP (?:manager|service)/,
    anchors: ['IDP manager', 'IDP service'],
    examples: [
      '2025-10-02T08:00:00Z FATL management/internals/server/modules.go:99: failed to create IDP manager: jumpCloud IdP configuration is incomplete, ApiToken is missing',
      '2026-06-01T10:20:30.400Z FATL management/internals/server/modules.go:131: failed to create IDP service: jumpCloud IdP configuration is incomplete, ApiToken is missing',
    ],
  },
  {
    id: 'oidc-config-fetch-failed',
    severity: 'critical',
    meaning:
      'Management could not fetch the OIDC discovery document of its (legacy, non-embedded) IdP at startup.',
    remediation:
      'Check HttpConfig.OIDCConfigEndpoint in management.json and that the IdP is reachable from the management container (DNS, TLS, reverse proxy).',
    pattern:
      /failed fetching OIDC configuration from endpoint|OIDC configuration request returned status/,
    anchors: ['OIDC configuration'],
    examples: [
      'Error: failed reading provided config file: /etc/netbird/management.json: failed fetching OIDC configuration from endpoint https://auth.example.com/.well-known/openid-configuration Get "https://auth.example.com/.well-known/openid-configuration": dial tcp 203.0.113.7:443: i/o timeout',
      'Error: failed reading provided config file: /etc/netbird/management.json: OIDC configuration request returned status 502 with response: <html>Bad Gateway</html>',
    ],
  },
  {
    id: 'panic',
    severity: 'critical',
    meaning: 'The Go process panicked (a bug or an unexpected configuration, e.g. issue #5084).',
    remediation:
      'Keep the stack trace that follows, check management.json against the NetBird version in use, and report it upstream if it persists.',
    pattern: /^panic: /,
    anchors: ['panic: '],
    examples: [
      'panic: runtime error: invalid memory address or nil pointer dereference',
      'netbird-management  | panic: runtime error: invalid memory address or nil pointer dereference',
    ],
  },
  {
    id: 'fatal',
    severity: 'critical',
    meaning: 'Management exited on a fatal error that no more specific rule recognises.',
    remediation: 'Read the line for the cause; the container will be restarted by Docker.',
    pattern: /(?!)/, // never matches on its own: applied to fatal-level lines nothing else matched
    anchors: [],
    examples: [
      '2026-01-19T08:38:55Z FATL management/cmd/management.go:201: failed creating Store: open /var/lib/netbird/store.db: permission denied',
      '2026-06-01T10:20:30.400Z PANC management/server/server.go:88: unexpected state',
      '{"level":"fatal","msg":"failed to write out store encryption key: rename /etc/netbird/.x /etc/netbird/management.json: device or resource busy","time":"2026-02-01T10:00:00Z"}',
      'time="2026-02-01T10:00:00Z" level=fatal msg="listen tcp :80: bind: address already in use"',
    ],
  },
]

export const ruleById: ReadonlyMap<RuleId, Rule> = new Map(rules.map((r) => [r.id, r]))

export function getRule(id: RuleId): Rule {
  const rule = ruleById.get(id)
  if (!rule) throw new TypeError(`unknown rule id "${id}"`)
  return rule
}
