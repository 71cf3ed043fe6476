// Read-only parsing of NetBird's configuration files, for `doctor`: management.json (v0.62–v0.64
// quickstart and the legacy standalone layout), the combined server's config.yaml (v0.65+), and the
// setup.env the JumpCloud guide has operators write. Only the fields the checks rely on are validated
// (zod, unknown keys ignored). Where they come from in netbirdio/netbird: management.json is the
// Config struct (management/internals/server/config, EmbeddedIdP = management/server/idp/embedded.go
// EmbeddedIdPConfig), config.yaml is combined/cmd/config.go, setup.env is read by
// infrastructure_files/configure.sh.
// Why ~500 lines: three small parsers of NetBird's own files, each with the Go semantics it mirrors
// (case-insensitive struct keys, template substitution, bash quoting), sharing `readText`.
import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { parseYaml } from '../config/yaml.js'
import { z } from 'zod'
import { WatchdogError, errorMessage } from '../errors.js'
import { Secret } from '../core/dsn.js'

type Env = Readonly<Record<string, string | undefined>>

// ---------------------------------------------------------------------------------------------------
// management.json

// Go decodes JSON null into a string field as "": accept it (as absent).
const str = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined)
const httpConfigSchema = z.looseObject({
  AuthIssuer: str.optional(),
  AuthAudience: str.optional(),
  AuthClientID: str.optional(),
  OIDCConfigEndpoint: str.optional(),
})
const idpManagerSchema = z.looseObject({
  ManagerType: str.optional(),
  // map[string]string in Go: keys are exact (NetBird reads ExtraConfig["ApiToken"]).
  ExtraConfig: z.record(z.string(), z.unknown()).nullish(),
})
const providerConfigSchema = z.looseObject({
  ClientID: str.optional(),
  Audience: str.optional(),
  DeviceAuthEndpoint: str.optional(),
})
const flowSchema = z.looseObject({
  Provider: str.optional(),
  ProviderConfig: providerConfigSchema.nullish(),
})
const staticConnectorSchema = z.looseObject({
  type: str.optional(),
  name: str.optional(),
  id: z.string(),
  config: z.record(z.string(), z.unknown()).nullish(),
})
const embeddedSchema = z.looseObject({
  Enabled: z.boolean().optional(),
  Issuer: str.optional(),
  Storage: z
    .looseObject({
      Type: str.optional(),
      Config: z.looseObject({ File: str.optional(), DSN: str.optional() }).nullish(),
    })
    .nullish(),
  StaticConnectors: z.array(staticConnectorSchema).nullish(),
  DashboardRedirectURIs: z.array(z.string()).nullish(),
  LocalAuthDisabled: z.boolean().nullish(),
  SessionCookieEncryptionKey: str.optional(),
})
const managementSchema = z.looseObject({
  Datadir: str.optional(),
  HttpConfig: httpConfigSchema.nullish(),
  IdpManagerConfig: idpManagerSchema.nullish(),
  DeviceAuthorizationFlow: flowSchema.nullish(),
  PKCEAuthorizationFlow: flowSchema.nullish(),
  EmbeddedIdP: embeddedSchema.nullish(),
})

// Go's encoding/json matches struct field names case-insensitively; these are the names (per level)
// whose spelling we normalise before validation. Map-typed values (ExtraConfig, a connector's config)
// keep their keys as written: Go map keys are exact.
const structKeys: Record<string, readonly string[]> = {
  root: [
    'Datadir',
    'HttpConfig',
    'IdpManagerConfig',
    'DeviceAuthorizationFlow',
    'PKCEAuthorizationFlow',
    'EmbeddedIdP',
  ],
  HttpConfig: ['AuthIssuer', 'AuthAudience', 'AuthClientID', 'OIDCConfigEndpoint'],
  IdpManagerConfig: ['ManagerType', 'ExtraConfig'],
  DeviceAuthorizationFlow: ['Provider', 'ProviderConfig'],
  PKCEAuthorizationFlow: ['Provider', 'ProviderConfig'],
  ProviderConfig: ['ClientID', 'Audience', 'DeviceAuthEndpoint'],
  EmbeddedIdP: [
    'Enabled',
    'Issuer',
    'Storage',
    'StaticConnectors',
    'DashboardRedirectURIs',
    'LocalAuthDisabled',
    'SessionCookieEncryptionKey',
  ],
  Storage: ['Type', 'Config'],
  Config: ['File', 'DSN'],
  StaticConnector: ['type', 'name', 'id', 'config'],
}

function canonical(value: unknown, level: string): unknown {
  if (level === 'StaticConnectors' && Array.isArray(value)) {
    return value.map((v) => canonical(v, 'StaticConnector'))
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const names = structKeys[level]
  if (names === undefined) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const name = names.find((n) => n.toLowerCase() === k.toLowerCase()) ?? k
    const childLevel = level === 'StaticConnector' ? '' : name
    out[name] = name === 'ExtraConfig' || name === 'config' ? v : canonical(v, childLevel)
  }
  return out
}

export interface ManagementJson {
  path: string
  http?: {
    authIssuer?: string
    authAudience?: string
    authClientId?: string
    oidcConfigEndpoint?: string
  }
  idpManager?: {
    managerType?: string
    /** ExtraConfig values that are strings (ApiToken, ApiUrl, …). Secrets: never print them. */
    extraConfig: Record<string, string>
  }
  deviceAuth?: { provider?: string; clientId?: string; deviceAuthEndpoint?: string }
  pkce?: { clientId?: string; audience?: string }
  embedded?: {
    enabled: boolean
    issuer?: string
    storageType?: string
    storageFile?: string
    /** EmbeddedIdP.Storage.Config.DSN (Storage.Type postgres): may hold a password, so kept as a Secret. */
    storageDsn?: Secret
    staticConnectors: StaticConnectorEntry[]
    /** EmbeddedIdP.DashboardRedirectURIs (undefined when the key is absent or null). */
    dashboardRedirectUris?: string[]
    /** EmbeddedIdP.LocalAuthDisabled (v0.64.4+). */
    localAuthDisabled: boolean
    /** EmbeddedIdP.SessionCookieEncryptionKey (v0.71+), when set: a secret. */
    sessionCookieKey?: Secret
  }
  /** Go-template variables (`{{ .NAME }}`) the file uses that are not set in the given environment. */
  unresolvedVars: string[]
}

export interface StaticConnectorEntry {
  id: string
  type?: string
  name?: string
  /** The connector's Dex config as written (may hold a client secret: never print it). */
  config: Record<string, unknown>
}

/**
 * NetBird reads management.json through util.ReadJsonWithEnvSub: the file is a Go text/template executed
 * with the environment, so `{{ .NAME }}` is replaced by $NAME. We substitute from `env` (the watchdog's
 * own environment rarely has NetBird's variables); unresolved references stay as written and are listed.
 */
export function substituteTemplateVars(
  text: string,
  env: Env,
): { text: string; unresolved: string[] } {
  const unresolved = new Set<string>()
  const out = text.replace(
    /\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g,
    (whole, name: string) => {
      const value = env[name]
      if (value === undefined) {
        unresolved.add(name)
        return whole
      }
      // The value lands inside a JSON string in every NetBird template; keep the JSON valid.
      return JSON.stringify(value).slice(1, -1)
    },
  )
  return { text: out, unresolved: [...unresolved].sort() }
}

export function parseManagementJson(path: string, text: string, env: Env = {}): ManagementJson {
  const { text: substituted, unresolved } = substituteTemplateVars(text.replace(/^\uFEFF/, ''), env)
  let raw: unknown
  try {
    raw = JSON.parse(substituted)
  } catch (err) {
    throw new WatchdogError(
      'MANAGEMENT_JSON_INVALID',
      `${path} is not valid JSON${jsonErrorPosition(substituted, err)}`,
    )
  }
  const parsed = managementSchema.safeParse(canonical(raw, 'root'))
  if (!parsed.success) {
    throw new WatchdogError(
      'MANAGEMENT_JSON_INVALID',
      `${path}: unexpected shape: ${parsed.error.issues
        .map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`)
        .join('; ')}`,
    )
  }
  const m = parsed.data
  const extra: Record<string, string> = {}
  for (const [k, v] of Object.entries(m.IdpManagerConfig?.ExtraConfig ?? {})) {
    if (typeof v === 'string') extra[k] = v
  }
  const result: ManagementJson = { path, unresolvedVars: unresolved }
  if (m.HttpConfig) {
    result.http = defined({
      authIssuer: m.HttpConfig.AuthIssuer,
      authAudience: m.HttpConfig.AuthAudience,
      authClientId: m.HttpConfig.AuthClientID,
      oidcConfigEndpoint: m.HttpConfig.OIDCConfigEndpoint,
    })
  }
  if (m.IdpManagerConfig) {
    result.idpManager = {
      ...defined({ managerType: m.IdpManagerConfig.ManagerType }),
      extraConfig: extra,
    }
  }
  if (m.DeviceAuthorizationFlow) {
    result.deviceAuth = defined({
      provider: m.DeviceAuthorizationFlow.Provider,
      clientId: m.DeviceAuthorizationFlow.ProviderConfig?.ClientID,
      deviceAuthEndpoint: m.DeviceAuthorizationFlow.ProviderConfig?.DeviceAuthEndpoint,
    })
  }
  if (m.PKCEAuthorizationFlow?.ProviderConfig) {
    result.pkce = defined({
      clientId: m.PKCEAuthorizationFlow.ProviderConfig.ClientID,
      audience: m.PKCEAuthorizationFlow.ProviderConfig.Audience,
    })
  }
  if (m.EmbeddedIdP) {
    const e = m.EmbeddedIdP
    result.embedded = {
      enabled: e.Enabled === true,
      ...defined({
        issuer: e.Issuer,
        storageType: e.Storage?.Type,
        storageFile: e.Storage?.Config?.File,
      }),
      ...(nonEmpty(e.Storage?.Config?.DSN) ? { storageDsn: new Secret(e.Storage.Config.DSN) } : {}),
      staticConnectors: (e.StaticConnectors ?? []).map((c) => ({
        id: c.id,
        ...defined({ type: c.type, name: c.name }),
        config: c.config ?? {},
      })),
      localAuthDisabled: e.LocalAuthDisabled === true,
      ...(nonEmpty(e.SessionCookieEncryptionKey)
        ? { sessionCookieKey: new Secret(e.SessionCookieEncryptionKey) }
        : {}),
    }
    if (e.DashboardRedirectURIs) result.embedded.dashboardRedirectUris = e.DashboardRedirectURIs
  }
  return result
}

export function readManagementJson(path: string, env: Env = {}): ManagementJson {
  return parseManagementJson(path, readText(path), env)
}

/** " (line L, column C)" from V8's "at position N"; the message itself can quote file text (secrets). */
function jsonErrorPosition(text: string, err: unknown): string {
  const m = /at position (\d+)/.exec(errorMessage(err))
  if (m === null) return ''
  const before = text.slice(0, Number(m[1]))
  const line = before.split('\n').length
  return ` (line ${line}, column ${before.length - before.lastIndexOf('\n')})`
}

// ---------------------------------------------------------------------------------------------------
// config.yaml (combined netbird-server, v0.65+)

/**
 * A bool as gopkg.in/yaml.v3 decodes one into a Go bool field: YAML true/false, and for YAML 1.1
 * compatibility the plain words y/yes/on and n/no/off (in the spellings yaml.v3 lists).
 */
const goYamlTrue = ['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON'] as const
const goYamlFalse = ['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF'] as const
const goYamlBool = z
  .union([z.boolean(), z.enum([...goYamlTrue, ...goYamlFalse])])
  .nullish()
  .transform((v) => v === true || (goYamlTrue as readonly unknown[]).includes(v))

const combinedSchema = z.looseObject({
  server: z.looseObject({
    listenAddress: str.optional(),
    dataDir: str.optional(),
    auth: z
      .looseObject({
        issuer: str.optional(),
        dashboardRedirectURIs: z.array(z.string()).nullish(),
        localAuthDisabled: goYamlBool,
        sessionCookieEncryptionKey: str.optional(),
        storage: z.looseObject({ type: str.optional() }).nullish(),
      })
      .nullish(),
    authStore: z
      .looseObject({ engine: str.optional(), file: str.optional(), dsn: str.optional() })
      .nullish(),
  }),
})

export interface CombinedConfig {
  path: string
  /** server.listenAddress: where the combined server serves HTTP (the quickstart's ":80"). */
  listenAddress?: string
  /** server.auth.issuer: the embedded IdP's issuer, e.g. https://netbird.example.com/oauth2. */
  issuer?: string
  /** server.auth.dashboardRedirectURIs (undefined when absent or null). */
  dashboardRedirectUris?: string[]
  dataDir: string
  /** idp.db inside the container (undefined when the auth store is postgres). */
  idpDbPath?: string
  /** Where idp.db is, or was before a move to PostgreSQL, inside the container (whatever the engine). */
  sqliteFile: string
  /** The auth store engine, lower-cased (`postgres`, `sqlite3`, or what was written): which store to open. */
  authStoreEngine: string
  /** server.authStore.dsn (engine postgres): may hold a password, so kept as a Secret. */
  authStoreDsn?: Secret
  /**
   * The auth store engine exactly as NetBird resolves it (combined/cmd/config.go
   * buildEmbeddedIdPConfig): server.authStore.engine when set, else server.auth.storage.type, else
   * "sqlite3" — unchanged, so a misspelling (`sqlite`) stays visible; and the field it came from
   * (undefined: the default).
   */
  idpStorage: { engine: string; field?: 'server.authStore.engine' | 'server.auth.storage.type' }
  /** server.auth.localAuthDisabled. */
  localAuthDisabled: boolean
  /** server.auth.sessionCookieEncryptionKey (v0.71+), when set: a secret. */
  sessionCookieKey?: Secret
}

/** NetBird's default data directory (management/cmd/defaults.go, combined/cmd/config.go). */
export const defaultDataDir = '/var/lib/netbird/'

/**
 * The idp.db management opens when its IdP store is SQLite (management/cmd/management.go
 * `ApplyEmbeddedIdPConfig`): `EmbeddedIdP.Storage.Config.File`, else idp.db in the data directory.
 * That directory is the `--datadir` flag's, never management.json's `Datadir`: the flag defaults to
 * /var/lib/netbird/ and `ApplyCommandLineOverrides` puts it over the file's value. A relative File is
 * read as the combined server reads its own, in the data directory. A path inside NetBird's container.
 */
export function managementSqliteFile(m: ManagementJson): string {
  const file = m.embedded?.storageFile
  if (file === undefined || file === '') return join(defaultDataDir, 'idp.db')
  return isAbsolute(file) ? file : join(defaultDataDir, file)
}

export function parseCombinedConfig(path: string, text: string): CombinedConfig {
  const parsed = combinedSchema.safeParse(parseYaml(text, path))
  if (!parsed.success) {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `${path}: not a NetBird combined-server config (${parsed.error.issues
        .map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`)
        .join('; ')})`,
    )
  }
  const s = parsed.data.server
  const dataDir = s.dataDir !== undefined && s.dataDir !== '' ? s.dataDir : defaultDataDir
  const storageType = s.auth?.storage?.type
  const idpStorage: CombinedConfig['idpStorage'] =
    s.authStore?.engine !== undefined && s.authStore.engine !== ''
      ? { engine: s.authStore.engine, field: 'server.authStore.engine' }
      : storageType !== undefined && storageType !== ''
        ? { engine: storageType, field: 'server.auth.storage.type' }
        : { engine: 'sqlite3' }
  // Which store to open: a misspelled engine is read for what it evidently means (NetBird refuses it,
  // and doctor's idp-storage-config check says so), any other engine than postgres as idp.db.
  const engine = idpStorage.engine.toLowerCase()
  const file = s.authStore?.file
  const sqliteFile =
    file !== undefined && file !== ''
      ? isAbsolute(file)
        ? file
        : join(dataDir, file)
      : join(dataDir, 'idp.db')
  const idpDbPath = engine === 'postgres' ? undefined : sqliteFile
  return {
    path,
    ...defined({ issuer: s.auth?.issuer, idpDbPath, listenAddress: s.listenAddress }),
    ...(s.auth?.dashboardRedirectURIs
      ? { dashboardRedirectUris: s.auth.dashboardRedirectURIs }
      : {}),
    dataDir,
    sqliteFile,
    authStoreEngine: engine,
    ...(nonEmpty(s.authStore?.dsn) ? { authStoreDsn: new Secret(s.authStore.dsn) } : {}),
    idpStorage,
    localAuthDisabled: s.auth?.localAuthDisabled === true,
    ...(nonEmpty(s.auth?.sessionCookieEncryptionKey)
      ? { sessionCookieKey: new Secret(s.auth.sessionCookieEncryptionKey) }
      : {}),
  }
}

export function readCombinedConfig(path: string): CombinedConfig {
  return parseCombinedConfig(path, readText(path))
}

// ---------------------------------------------------------------------------------------------------
// setup.env (the variables configure.sh turns into management.json; JumpCloud guide "Standalone Setup")

export interface SetupEnv {
  path: string
  vars: Record<string, string>
}

/**
 * Parse setup.env as bash sources it, for the subset such files use: `NAME=value`, optional `export`,
 * double quotes (with $NAME / ${NAME} expansion from earlier lines), single quotes (literal), unquoted
 * values (expanded, up to a `#` comment), and comment lines.
 */
export function parseSetupEnv(path: string, text: string): SetupEnv {
  const vars: Record<string, string> = {}
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((line, i) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed)
    if (m === null) {
      // Never echo the line: it may be a secret's value without its name (a mangled assignment).
      throw new WatchdogError(
        'CONFIG_INVALID',
        `${path}:${i + 1}: not a NAME=value line (a variable name, "=", then the value)`,
      )
    }
    const name = m[1]!
    vars[name] = parseShellValue(m[2]!, vars, `${path}:${i + 1}`)
  })
  return { path, vars }
}

function parseShellValue(input: string, vars: Record<string, string>, where: string): string {
  let out = ''
  let i = 0
  const expand = (s: string): string =>
    s.replace(
      /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
      (_w, a?: string, b?: string) => vars[a ?? b ?? ''] ?? '',
    )
  while (i < input.length) {
    const c = input[i]!
    if (c === '"') {
      const end = findClosingDoubleQuote(input, i + 1)
      if (end < 0) throw new WatchdogError('CONFIG_INVALID', `${where}: unterminated double quote`)
      out += expand(input.slice(i + 1, end).replace(/\\(["\\$`])/g, '$1'))
      i = end + 1
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1)
      if (end < 0) throw new WatchdogError('CONFIG_INVALID', `${where}: unterminated single quote`)
      out += input.slice(i + 1, end)
      i = end + 1
    } else if (/\s/.test(c)) {
      // An unquoted blank ends the assignment; the rest is a comment (or a command, which we ignore).
      break
    } else {
      const m = /^[^\s"']+/.exec(input.slice(i))
      const word = m?.[0] ?? c
      out += expand(word)
      i += word.length
    }
  }
  return out
}

function findClosingDoubleQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '\\') i++
    else if (s[i] === '"') return i
  }
  return -1
}

export function readSetupEnv(path: string): SetupEnv {
  return parseSetupEnv(path, readText(path))
}

// ---------------------------------------------------------------------------------------------------

/** Read a config file as UTF-8; an unreadable file is an input error (CLI exit 2). */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new WatchdogError('INPUT_UNREADABLE', `cannot read ${path}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== ''
}

/** Drop undefined values (the project compiles with exact optional property semantics in mind). */
function defined<T extends Record<string, unknown>>(
  obj: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v
  return out as { [K in keyof T]?: Exclude<T[K], undefined> }
}
