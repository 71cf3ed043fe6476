// The catalogue of NetBird failure signatures, as data. Pure: no I/O.
// Every pattern and example comes from a format string in the source that prints it: netbirdio/netbird
// (management/internals/server/boot.go and modules.go, combined/main.go, the auth middleware), Dex
// (netbirdio/dex server/handlers.go, server/oauth2.go, connector/oidc/oidc.go; the same texts in
// dexidp/dex server/authflow/) and coreos/go-oidc (oidc/oidc.go, oidc/verify.go). Dex logs through
// NetBird's slog->logrus bridge (netbirdio/netbird idp/dex/logrus_handler.go): always NetBird's text
// format, with the slog attributes as a `[k: v, …]` block in random order, even when NB_LOG_FORMAT=json
// makes the rest of the stream JSON. Rule ids are a public contract: they are metric labels and JSON
// output, so never rename or reuse one.
// Why ~500 lines: it is data — one entry per signature with its source, meaning, remedy, pattern,
// anchors and literal example lines; split by theme, the first-match order would be hidden across files.

export type Severity = 'critical' | 'error' | 'warning'

export const ruleIds = [
  'oidc-issuer-mismatch',
  'idp-storage-failed',
  'connector-open-failed',
  'connector-get-failed',
  'login-issuer-mismatch',
  'login-failed',
  'authorization-request-invalid',
  'idp-api-request-failed',
  'idp-storage-config-invalid',
  'session-cookie-key-invalid',
  'local-auth-disable-refused',
  'post-logout-redirect-unregistered',
  'embedded-idp-failed',
  'idp-manager-failed',
  'oidc-config-fetch-failed',
  'datastore-key-mismatch',
  'geolocation-failed',
  'store-failed',
  'tls-failed',
  'config-invalid',
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
    id: 'login-issuer-mismatch',
    severity: 'error',
    meaning:
      "An SSO login failed: the ID token's `iss` claim differs from the connector's issuer (go-oidc compares them character for character). The provider's discovery document and its tokens disagree, typically a Keycloak frontend URL or a proxy rewriting the host.",
    remediation:
      'Make the provider issue tokens with the issuer its discovery document announces (Keycloak: set the realm Frontend URL to the public URL; a reverse proxy must pass the original Host and scheme). `netbird-watchdog doctor` prints the discovered issuer to compare with the token issuer ("got") in the line.',
    // go-oidc oidc/verify.go IDTokenVerifier.Verify (later the InvalidIssuerError type, same text),
    // wrapped by Dex connector/oidc `oidc: failed to verify ID Token: %v` and logged by the callback
    // handler as "failed to authenticate".
    pattern: /id token issued by a different provider/,
    anchors: ['token issued by a different provider'],
    examples: [
      '2026-08-20T10:05:12.481Z ERRO [err: oidc: failed to verify ID Token: oidc: id token issued by a different provider, expected "https://sso.example.com/realms/corp" got "https://keycloak.internal:8443/realms/corp"] idp/dex/logrus_handler.go:83: failed to authenticate',
      'netbird-server  | 2026-08-20T12:05:12.481+02:00 ERRO [err: oidc: failed to verify ID Token: oidc: id token issued by a different provider, expected "https://sso.example.com/realms/corp" got "http://sso.example.com/realms/corp"] idp/dex/logrus_handler.go:83: failed to authenticate',
      '2026-08-20T10:05:12.481913374Z 2026-08-20T10:05:12.481Z ERRO [err: oidc: failed to verify ID Token: oidc: id token issued by a different provider, expected "https://auth.example.com/application/o/netbird/" got "https://auth.example.com/application/o/netbird"] idp/dex/logrus_handler.go:83: failed to authenticate\r',
      '2026-02-18T09:00:00Z ERRO [err: oidc: failed to verify ID Token: oidc: id token issued by a different provider, expected "https://oauth.id.jumpcloud.com/" got "https://oauth.id.jumpcloud.com"] idp/dex/logrus_handler.go:83: failed to authenticate',
      'time=2026-01-08T09:12:44.120Z level=ERROR msg="failed to authenticate" err="oidc: failed to verify ID Token: oidc: id token issued by a different provider, expected \\"https://sso.example.com/realms/corp\\" got \\"https://keycloak.internal:8443/realms/corp\\""',
    ],
  },
  {
    id: 'login-failed',
    severity: 'error',
    meaning:
      'An SSO login failed after the user came back from the provider: the token exchange was refused (`invalid_client`: wrong client secret or client authentication method), the ID token lacks a claim Dex needs (`email`, `email_verified`, the user name), the user is not in an allowed group, or the provider returned an error.',
    remediation:
      "Read the error in the line. `invalid_client`: enter the client secret again and use the client authentication the provider expects (JumpCloud: Client Secret POST). A missing claim: grant the `openid profile email` scopes and release those claims in the provider's app. `netbird-watchdog doctor` checks the connector's redirect URI, scopes and client authentication method.",
    // Dex server/handlers.go handleConnectorCallback: "failed to authenticate" with the connector's
    // error (connector/oidc/oidc.go: `oidc: failed to get token: %v`, `missing email claim, not found
    // %q key`, `missing "email_verified" claim`, `user not a member of allowed groups`, or the
    // provider's `error: error_description`). golang.org/x/oauth2 prints a non-RFC-6749 token error
    // as `cannot fetch token: <status>\nResponse: <body>`: the message then ends the second line.
    pattern: /failed to authenticate/,
    anchors: ['failed to authenticate'],
    examples: [
      '2026-08-20T10:07:40.002Z ERRO [err: oidc: failed to get token: oauth2: "invalid_client" "Invalid client or Invalid client credentials"] idp/dex/logrus_handler.go:83: failed to authenticate',
      'netbird-server  | 2026-08-20T12:07:40.002+02:00 ERRO [err: missing email claim, not found "email" key] idp/dex/logrus_handler.go:83: failed to authenticate',
      '2026-08-20T10:07:40.002913374Z 2026-08-20T10:07:40.002Z ERRO [err: missing "email_verified" claim] idp/dex/logrus_handler.go:83: failed to authenticate',
      '2026-08-20T10:07:40.002Z ERRO [err: user not a member of allowed groups] idp/dex/logrus_handler.go:83: failed to authenticate',
      '2026-08-20T10:07:40.002Z ERRO [err: access_denied: The user denied the request] idp/dex/logrus_handler.go:83: failed to authenticate',
      'Response: {"error":"unauthorized_client"}] idp/dex/logrus_handler.go:83: failed to authenticate',
      'time=2026-01-08T09:12:44.120Z level=ERROR msg="failed to authenticate" err="oidc: failed to get token: oauth2: \\"invalid_client\\""',
    ],
  },
  {
    id: 'authorization-request-invalid',
    severity: 'error',
    meaning:
      'Dex refused a login request from the dashboard or the CLI before any provider was involved: its redirect URI is not registered for the client (also the device-login regression of NetBird v0.71.0–v0.71.2), the client id is unknown, or a scope is not supported.',
    remediation:
      '`Unregistered redirect_uri`: add the URL to EmbeddedIdP.DashboardRedirectURIs / CLIRedirectURIs (management.json) or server.auth.dashboardRedirectURIs / cliRedirectURIs (config.yaml); if `netbird up` device login fails on v0.71.0–v0.71.2, upgrade. `Invalid client_id`: the dashboard AUTH_CLIENT_ID must be netbird-dashboard. `Unrecognized scope(s)`: remove the scope from AUTH_SUPPORTED_SCOPES.',
    // Dex server/handlers.go handleConnectorLogin; the causes come from server/oauth2.go
    // parseAuthorizationRequest (`Unregistered redirect_uri (%q).`, `Invalid client_id (%q).`,
    // `Unrecognized scope(s) %q`). Newer Dex (dexidp/dex server/authflow/request.go) drops the quoted
    // value from the first two and logs it on a line of its own before this one.
    pattern: /failed to parse authorization request/,
    anchors: ['failed to parse authorization request'],
    examples: [
      '2026-08-20T10:01:02.345Z ERRO [err: Unregistered redirect_uri ("https://netbird.example.com/nb-auth").] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      'netbird-server  | 2026-08-20T12:01:02.345+02:00 ERRO [err: Invalid client_id ("netbird-dashbord").] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      '2026-08-20T10:01:02.345913374Z 2026-08-20T10:01:02.345Z ERRO [err: Unrecognized scope(s) ["api"]] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      '2026-08-20T10:01:02.345Z ERRO [err: Unregistered redirect_uri.] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      'time=2026-01-08T09:12:44.120Z level=ERROR msg="failed to parse authorization request" err="Unregistered redirect_uri (\\"http://localhost:53000/\\")."',
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
    id: 'idp-storage-config-invalid',
    severity: 'critical',
    meaning:
      "The embedded IdP's store setting names an engine NetBird does not know, or lacks the file or DSN its engine needs, so management exits before the IdP opens. The classic: `engine: sqlite` for the auth store, which wants `sqlite3` (`sqlite` is the spelling of server.store.engine, not of the auth store).",
    remediation:
      'Spell the auth store engine exactly `sqlite3` or `postgres` (config.yaml server.authStore.engine, or server.auth.storage.type; management.json EmbeddedIdP.Storage.Type); postgres needs a DSN (server.authStore.dsn, EmbeddedIdP.Storage.Config.DSN), sqlite3 a file (EmbeddedIdP.Storage.Config.File, or Datadir for the default idp.db). `netbird-watchdog doctor --config-yaml …` (or `--management-json …`) checks it before a restart.',
    // management/server/idp/embedded.go (v0.66.1+) ToYAMLConfig: `storage file is required for
    // sqlite3`, `storage DSN is required for postgres`, and buildIdpStorageConfig's `unsupported IdP
    // storage type: %s` wrapped as `invalid IdP storage config: %w`; returned by NewEmbeddedIdPManager
    // and logged by management/internals/server/modules.go IdpManager (v0.77.1 line 129)
    // `log.Fatalf("failed to create embedded IDP service: %v")`. The combined server passes
    // server.authStore.engine (else server.auth.storage.type) through unchanged (combined/cmd/config.go
    // buildEmbeddedIdPConfig). Its own `authStore.dsn is required when authStore.engine is postgres`
    // comes earlier, from the command, and stays `config-invalid`.
    pattern:
      /unsupported IdP storage type: |storage DSN is required for postgres|storage file is required for sqlite3/,
    anchors: [
      'unsupported IdP storage type: ',
      'storage DSN is required for postgres',
      'storage file is required for sqlite3',
    ],
    examples: [
      '2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid IdP storage config: unsupported IdP storage type: sqlite',
      'netbird-server  | 2026-08-20T12:00:00.123+02:00 FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid IdP storage config: unsupported IdP storage type: postgresql',
      '2026-08-20T10:00:00.123913374Z 2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid IdP storage config: unsupported IdP storage type: sqlite\r',
      '{"file":"/go/src/github.com/netbirdio/netbird/management/internals/server/modules.go:129","func":"github.com/netbirdio/netbird/management/internals/server.(*BaseServer).IdpManager.func1","level":"fatal","msg":"failed to create embedded IDP service: invalid IdP storage config: unsupported IdP storage type: Postgres","source":"management/internals/server/modules.go:129","time":"2026-08-20T12:00:00+02:00"}',
      'netbird-management  | 2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: storage DSN is required for postgres',
      '2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: storage file is required for sqlite3',
    ],
  },
  {
    id: 'session-cookie-key-invalid',
    severity: 'critical',
    meaning:
      "The embedded IdP's session cookie encryption key (NetBird v0.71+) is not 16, 24 or 32 bytes, raw or base64-encoded, so management exits before the IdP opens.",
    remediation:
      'Set the key to 16, 24 or 32 bytes, as a raw string or base64-encoded to one of those lengths (e.g. the output of `openssl rand -base64 32`), or remove it: config.yaml server.auth.sessionCookieEncryptionKey (management.json EmbeddedIdP.SessionCookieEncryptionKey), or the environment variable NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY, which is read only when the config value is empty. `netbird-watchdog doctor` checks its length without showing it.',
    // management/server/idp/embedded.go resolveSessionCookieEncryptionKey (v0.71.0+): the config value
    // (trimmed), else NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY; valid when its bytes or its standard / URL
    // base64 decoding (padded or raw) have length 16, 24 or 32. Called by configureMFA from ToYAMLConfig,
    // so the error reaches modules.go's `failed to create embedded IDP service: %v` unwrapped. The
    // message never quotes the key, only its length.
    pattern: /invalid embedded IdP session cookie encryption key/,
    anchors: ['session cookie encryption key'],
    examples: [
      '2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid embedded IdP session cookie encryption key:NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY (or sessionCookieEncryptionKey) must be 16, 24, or 32 bytes as a raw string or base64-encoded to one of those lengths; got 12 raw bytes',
      'netbird-server  | 2026-08-20T12:00:00.123+02:00 FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid embedded IdP session cookie encryption key:NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY (or sessionCookieEncryptionKey) must be 16, 24, or 32 bytes as a raw string or base64-encoded to one of those lengths; got 33 raw bytes',
      '2026-08-20T10:00:00.123913374Z 2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:134: failed to create embedded IDP service: invalid embedded IdP session cookie encryption key:NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY (or sessionCookieEncryptionKey) must be 16, 24, or 32 bytes as a raw string or base64-encoded to one of those lengths; got 64 raw bytes\r',
      '{"file":"/go/src/github.com/netbirdio/netbird/management/internals/server/modules.go:129","func":"github.com/netbirdio/netbird/management/internals/server.(*BaseServer).IdpManager.func1","level":"fatal","msg":"failed to create embedded IDP service: invalid embedded IdP session cookie encryption key:NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY (or sessionCookieEncryptionKey) must be 16, 24, or 32 bytes as a raw string or base64-encoded to one of those lengths; got 20 raw bytes","source":"management/internals/server/modules.go:129","time":"2026-08-20T12:00:00+02:00"}',
    ],
  },
  {
    id: 'local-auth-disable-refused',
    severity: 'critical',
    meaning:
      'Local (email and password) login is switched off, but the IdP store holds no other identity provider, so nobody could log in and management exits. Seen after connectors were deleted, or when the store was lost or replaced by an empty one.',
    remediation:
      'Set server.auth.localAuthDisabled (config.yaml) or EmbeddedIdP.LocalAuthDisabled (management.json) to false and restart; add an identity provider (Settings → Identity Providers) before disabling local login again. If connectors existed before, the store was replaced: restore it from a backup (`netbird-watchdog backups list`, then `backups restore`).',
    // management/server/idp/embedded.go NewEmbeddedIdPManager (v0.64.4+): with LocalAuthDisabled, after
    // the provider opened, HasNonLocalConnectors false -> `cannot disable local authentication: no
    // other identity providers configured`, logged by modules.go's `failed to create embedded IDP
    // service: %v` (`… manager: %v` before v0.66.2).
    pattern: /cannot disable local authentication: no other identity providers configured/,
    anchors: ['disable local authentication'],
    examples: [
      '2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: cannot disable local authentication: no other identity providers configured',
      'netbird-server  | 2026-06-01T12:20:30.400+02:00 FATL management/internals/server/modules.go:127: failed to create embedded IDP service: cannot disable local authentication: no other identity providers configured',
      '2026-02-20T09:30:01.771913374Z 2026-02-20T09:30:01.771Z FATL management/internals/server/modules.go:122: failed to create embedded IDP manager: cannot disable local authentication: no other identity providers configured\r',
      '{"file":"/go/src/github.com/netbirdio/netbird/management/internals/server/modules.go:129","func":"github.com/netbirdio/netbird/management/internals/server.(*BaseServer).IdpManager.func1","level":"fatal","msg":"failed to create embedded IDP service: cannot disable local authentication: no other identity providers configured","source":"management/internals/server/modules.go:129","time":"2026-08-20T12:00:00+02:00"}',
    ],
  },
  {
    id: 'post-logout-redirect-unregistered',
    severity: 'warning',
    meaning:
      'Dex refused a dashboard logout: the post_logout_redirect_uri (the line\'s `uri`) is not registered for the client, so the user sees "Unregistered post_logout_redirect_uri." instead of being logged out. Typical when the dashboard runs on another host than NetBird\'s issuer.',
    remediation:
      "Add the line's `uri` to server.auth.dashboardPostLogoutRedirectURIs (config.yaml) or EmbeddedIdP.DashboardPostLogoutRedirectURIs (management.json), then restart NetBird (v0.71.0+; it registers each URI with and without a trailing slash, plus the issuer's base URL by default, and Dex compares exactly: no wildcards).",
    // Dex's RP-initiated logout (dexidp/dex server/logout/logout.go; in the netbirdio/dex fork NetBird
    // v0.71.0+ pins): `h.Logger.WarnContext(ctx, "logout: unregistered post_logout_redirect_uri",
    // "uri", …, "client_id", …)`, through NetBird's slog->logrus bridge (idp/dex/logrus_handler.go:81,
    // the Warn call), so always text, fields in random order. Line as reported on NetBird v0.78.1
    // (netbirdio/netbird#4058). NetBird registers the URIs in management/server/idp/embedded.go
    // ToYAMLConfig (sanitizePostLogoutRedirectURIs).
    pattern: /logout: unregistered post_logout_redirect_uri/,
    anchors: ['unregistered post_logout_redirect_uri'],
    examples: [
      '2026-09-08T10:00:00.123Z WARN [client_id: netbird-dashboard, uri: https://dashboard.example.com/] idp/dex/logrus_handler.go:81: logout: unregistered post_logout_redirect_uri',
      'netbird-server  | 2026-09-08T12:00:00.123+02:00 WARN [uri: https://dashboard.example.com, client_id: netbird-dashboard] idp/dex/logrus_handler.go:81: logout: unregistered post_logout_redirect_uri',
      '2026-09-08T10:00:00.123913374Z 2026-09-08T10:00:00.123Z WARN [client_id: netbird-dashboard, uri: https://netbird.example.com/logout] idp/dex/logrus_handler.go:81: logout: unregistered post_logout_redirect_uri\r',
    ],
  },
  {
    id: 'embedded-idp-failed',
    severity: 'critical',
    meaning:
      'The embedded identity provider (Dex) could not be created, so management cannot start (a cause no more specific rule recognises, e.g. `issuer is required`).',
    remediation:
      'Read the rest of the line for the cause; check management.json EmbeddedIdP (Issuer, Storage) or config.yaml server.auth, and run `netbird-watchdog doctor`.',
    pattern: /failed to create embedded IDP (?:manager|service)/,
    anchors: ['embedded IDP manager', 'embedded IDP service'],
    examples: [
      '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create refresh token policy: time: invalid duration "7x"',
      '2026-06-01T10:20:30.400Z FATL management/internals/server/modules.go:127: failed to create embedded IDP service: issuer is required',
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
    id: 'datastore-key-mismatch',
    severity: 'critical',
    meaning:
      "NetBird cannot decrypt the user data in its own store: the datastore encryption key is not the key the data was written with (re-run setup script, lost management.json, or a combined server without server.store.encryptionKey, which makes up a new key on every start). Every dashboard request then fails with 401 'token invalid'.",
    remediation:
      'Put the original key back: DataStoreEncryptionKey in management.json, or server.store.encryptionKey in config.yaml (from a backup of that file), and restart management. Data encrypted with the old key cannot be read with any other key.',
    // netbirdio/netbird util/crypt/crypt.go:83 FieldEncrypt.Decrypt wraps Go's GCM error as `decrypt: %w`
    // (crypto/cipher: "cipher: message authentication failed") — the only place NetBird prints that
    // text; Dex's own cookie decryption failure is logged at debug only. The store wraps it per record
    // (management/server/store/sql_store.go `decrypt user: %w`, types/user.go `decrypt email: %w` /
    // `decrypt name: %w`) and the auth middleware logs it at ERRO (auth_middleware.go:90 `Error when
    // validating JWT: %s`): netbirdio/netbird#5426 (a re-created VM, a new DataStoreEncryptionKey) and
    // #5567 (combined server with the embedded IdP, v0.66.3: every user unreadable after the first
    // `docker compose down && up`, because server.store.encryptionKey was unset and
    // combined/cmd/config.go EnsureEncryptionKey made up a new key). Dex's store holds nothing
    // encrypted, so this is also the line behind reports of the embedded IdP's encryption failing.
    pattern: /decrypt: cipher: message authentication failed/,
    anchors: ['decrypt: cipher: message authentication failed'],
    examples: [
      '2026-02-24T10:00:00.123Z ERRO [context: HTTP, requestID: 0f9c3b9e-2f1a-4c51-9d0e-5b7f3e1a2c44] management/server/http/middleware/auth_middleware.go:90: Error when validating JWT: decrypt user: decrypt email: decrypt: cipher: message authentication failed',
      'netbird-server  | 2026-02-24T11:00:00.123+01:00 ERRO [requestID: 0f9c3b9e-2f1a-4c51-9d0e-5b7f3e1a2c44, context: HTTP] management/server/http/middleware/auth_middleware.go:90: Error when validating JWT: decrypt user: decrypt name: decrypt: cipher: message authentication failed',
      '2026-02-24T10:00:00.123456789Z 2026-02-24T10:00:00.123Z ERRO [context: HTTP, requestID: 0f9c3b9e-2f1a-4c51-9d0e-5b7f3e1a2c44] management/server/http/middleware/auth_middleware.go:90: Error when validating JWT: decrypt user: decrypt email: decrypt: cipher: message authentication failed',
      '{"context":"HTTP","file":"/go/src/github.com/netbirdio/netbird/management/server/http/middleware/auth_middleware.go:90","func":"github.com/netbirdio/netbird/management/server/http/middleware.(*AuthMiddleware).Handler.func1","level":"error","msg":"Error when validating JWT: decrypt user: decrypt email: decrypt: cipher: message authentication failed","requestID":"0f9c3b9e-2f1a-4c51-9d0e-5b7f3e1a2c44","source":"management/server/http/middleware/auth_middleware.go:90","time":"2026-02-24T11:00:00+01:00"}',
    ],
  },
  {
    id: 'geolocation-failed',
    severity: 'critical',
    meaning:
      'Management could not load or download the MaxMind GeoLite2 databases (pkgs.netbird.io unreachable, a checksum mismatch, an unwritable data directory), so it exits.',
    remediation:
      'Check that /var/lib/netbird is writable and pkgs.netbird.io reachable from the container, and remove partial GeoLite2-City_*.mmdb / geonames_*.db files; or start without geolocation: NB_DISABLE_GEOLOCATION=true (location posture checks then stop working).',
    // management/internals/server/modules.go GeoLocationManager (Fatalf since v0.55; before, a WARN
    // "could not initialize geolocation service. proceeding without …" that is not a failure).
    pattern: /could not initialize geolocation service: /,
    anchors: ['could not initialize geolocation service: '],
    examples: [
      '2026-09-10T08:00:00.000Z FATL management/internals/server/modules.go:50: could not initialize geolocation service: failed to load MaxMind databases: checksum mismatch: expected 3f0b8c1e5d2a4b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e, got 9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9',
      'netbird-server  | 2026-09-10T10:00:00.000+02:00 FATL management/internals/server/modules.go:50: could not initialize geolocation service: failed to get database filename: Head "https://pkgs.netbird.io/geolocation-dbs/GeoLite2-City/download?suffix=tar.gz": dial tcp: lookup pkgs.netbird.io: i/o timeout',
      '2026-09-10T08:00:00.000913374Z 2026-09-10T08:00:00.000Z FATL management/internals/server/modules.go:50: could not initialize geolocation service: failed to load MaxMind databases: open /var/lib/netbird/GeoLite2-City_20260905.mmdb: permission denied',
      '{"file":"/go/src/github.com/netbirdio/netbird/management/internals/server/modules.go:50","func":"github.com/netbirdio/netbird/management/internals/server.(*BaseServer).GeoLocationManager.func1","level":"fatal","msg":"could not initialize geolocation service: failed to load MaxMind databases: unexpected EOF","source":"management/internals/server/modules.go:50","time":"2026-09-10T10:00:00+02:00"}',
    ],
  },
  {
    id: 'store-failed',
    severity: 'critical',
    meaning:
      'Management could not open its main store (store.db, PostgreSQL or MySQL) or its activity event store (events.db), so it exits.',
    remediation:
      'Check the store engine and its DSN (NB_STORE_ENGINE_POSTGRES_DSN / NB_STORE_ENGINE_MYSQL_DSN, NB_ACTIVITY_EVENT_POSTGRES_DSN; config.yaml server.store and server.activityStore), that the database is up and reachable from the container, and that /var/lib/netbird is writable.',
    // management/internals/server/boot.go Store() and EventStore(); `failed creating Store: %s: %v` is
    // the cobra error of management/cmd/management.go before netbirdio/netbird#4343 (v0.55).
    pattern: /failed to create store: |failed to initialize event store: |failed creating Store: /,
    anchors: [
      'failed to create store: ',
      'failed to initialize event store: ',
      'failed creating Store: ',
    ],
    examples: [
      '2026-08-01T11:00:00.000+02:00 FATL management/internals/server/boot.go:89: failed to create store: NB_STORE_ENGINE_POSTGRES_DSN is not set',
      'netbird-server  | 2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:89: failed to create store: failed to connect to `user=netbird database=netbird`: hostname resolving error: lookup postgres on 127.0.0.11:53: no such host',
      '2026-08-01T09:00:00.000913374Z 2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:118: failed to initialize event store: initialize database: NB_ACTIVITY_EVENT_POSTGRES_DSN environment variable not set',
      '{"file":"/go/src/github.com/netbirdio/netbird/management/internals/server/boot.go:89","func":"github.com/netbirdio/netbird/management/internals/server.(*BaseServer).Store.func1","level":"fatal","msg":"failed to create store: unsupported kind of store: mongodb","source":"management/internals/server/boot.go:89","time":"2026-08-01T11:00:00+02:00"}',
      'Error: failed creating Store: /var/lib/netbird/: open /var/lib/netbird/store.db: permission denied',
    ],
  },
  {
    id: 'tls-failed',
    severity: 'critical',
    meaning:
      "Management could not set up TLS: the certificate or key file (management.json HttpConfig.CertFile / CertKey, config.yaml server.tls) is missing, unreadable or does not match, or the Let's Encrypt certificate manager could not be created.",
    remediation:
      "Check that the certificate and key are mounted into the container at the configured paths, readable, and belong together; for Let's Encrypt check that its data directory is writable. Without TLS termination in NetBird, remove the certificate settings.",
    // management/internals/server/boot.go GRPCServer (`failed to create certificate service`,
    // `cannot load TLS credentials`), server.go (the same text at ERRO, and `failed creating
    // LetsEncrypt cert manager`), combined/cmd/root.go createAllServers (`failed to setup TLS config`).
    pattern:
      /cannot load TLS credentials|failed to create certificate service|failed to setup TLS config|failed creating LetsEncrypt cert manager/,
    anchors: [
      'cannot load TLS credentials',
      'failed to create certificate service',
      'failed to setup TLS config',
      'failed creating LetsEncrypt cert manager',
    ],
    examples: [
      '2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:203: cannot load TLS credentials: open /etc/netbird/certs/fullchain.pem: no such file or directory',
      'netbird-management  | 2026-08-01T11:00:00.000+02:00 FATL management/internals/server/boot.go:203: cannot load TLS credentials: tls: private key does not match public key',
      '2026-08-01T09:00:00.000913374Z 2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:196: failed to create certificate service: mkdir /var/lib/netbird/letsencrypt: permission denied',
      '2026-08-01T09:00:00.000Z FATL combined/main.go:11: failed to execute command: failed to setup TLS config: open /etc/netbird/tls.key: permission denied',
      '2026-03-01T09:00:00Z ERRO management/internals/server/server.go:143: cannot load TLS credentials: open /etc/netbird/certs/fullchain.pem: no such file or directory',
    ],
  },
  {
    id: 'config-invalid',
    severity: 'critical',
    meaning:
      "The combined netbird-server (or relay) refused to start: its command failed, most often because config.yaml is missing, is not valid YAML or lacks a required setting. Errors found before its logger starts are printed in logrus's default `time=… level=fatal msg=…` form.",
    remediation:
      'Read the cause after `failed to execute command:`. Check that config.yaml is mounted at the --config path and parses, that server.exposedAddress and server.dataDir are set, and that authStore.dsn / activityStore.dsn are given when their engine is postgres.',
    // combined/main.go: log.Fatalf("failed to execute command: %v") on the error cobra's Execute
    // returns (combined/cmd/root.go: `failed to load config: %w`, `invalid config: %w`, `failed to
    // create management config: %w` …). Before util.InitLog it prints in logrus's stock text form.
    pattern: /failed to execute command/,
    anchors: ['failed to execute command'],
    examples: [
      'time="2026-08-01T11:00:00+02:00" level=fatal msg="failed to execute command: failed to load config: failed to read config file: open /etc/netbird/config.yaml: no such file or directory"',
      'netbird-server  | time="2026-08-01T09:00:00Z" level=fatal msg="failed to execute command: invalid config: server.exposedAddress is required"',
      '2026-08-01T09:00:00.000913374Z time="2026-08-01T09:00:00Z" level=fatal msg="failed to execute command: failed to load config: failed to parse config file: yaml: line 7: did not find expected key"',
      'time="2026-08-01T09:00:00Z" level=fatal msg="failed to execute command: required flag(s) \\"config\\" not set"',
      '2026-08-01T11:00:00.000+02:00 FATL combined/main.go:11: failed to execute command: failed to create management config: authStore.dsn is required when authStore.engine is postgres',
      '{"file":"/go/src/github.com/netbirdio/netbird/combined/main.go:11","func":"main.main","level":"fatal","msg":"failed to execute command: activityStore.dsn is required when activityStore.engine is postgres","source":"combined/main.go:11","time":"2026-08-01T11:00:00+02:00"}',
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
      '2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:95: failed to create field encryptor: encryption key must be 32 bytes, got 16',
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
