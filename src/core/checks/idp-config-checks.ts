// Checks of the embedded IdP's own settings in NetBird's config files, before NetBird restarts into
// them: the auth store engine and its DSN or file, the session cookie encryption key's length, local
// login switched off with no other connector, and which store NetBird uses when another one (a stale
// idp.db after a move to PostgreSQL) is around. Pure. Each mirrors the code that refuses the
// setting in netbirdio/netbird v0.77.1: management/server/idp/embedded.go (ToYAMLConfig,
// buildIdpStorageConfig, resolveSessionCookieEncryptionKey, NewEmbeddedIdPManager), idp/dex/connector.go
// HasNonLocalConnectors, and combined/cmd/config.go buildEmbeddedIdPConfig (which passes
// server.authStore.engine, else server.auth.storage.type, through unchanged). The matching log rules
// are idp-storage-config-invalid, session-cookie-key-invalid and local-auth-disable-refused.
import { fail, pass, q, skip, subject, warn, type CheckResult } from './check.js'

/** The auth store engines NetBird accepts, exactly as written (embedded.go buildIdpStorageConfig). */
export const idpStorageEngines = ['sqlite3', 'postgres'] as const

/** Where the embedded IdP's settings were read: config.yaml (combined server) or management.json. */
export interface IdpConfigSource {
  /** The file, for the report's target. */
  readonly path: string
  readonly layout: 'combined' | 'management'
}

export interface IdpStorageSetting extends IdpConfigSource {
  /** The engine as written (undefined or '': NetBird's default, sqlite3). */
  readonly engine: string | undefined
  /** Where the engine was read (`server.authStore.engine`, `EmbeddedIdP.Storage.Type`…). */
  readonly engineField: string
  /** A non-empty DSN is set (its value is never passed here). */
  readonly hasDsn: boolean
  readonly dsnField: string
  /** The SQLite file NetBird would open ('' when it would have none). */
  readonly file: string
}

/** idp-storage-config: the engine NetBird accepts, and the DSN or file that engine needs. */
export function evaluateIdpStorage(s: IdpStorageSetting): CheckResult {
  const subj = subject('idp-storage-config', 'idp-config', `${s.path} ${s.engineField}`)
  const written = s.engine ?? ''
  const engine = written === '' ? 'sqlite3' : written
  if (!(idpStorageEngines as readonly string[]).includes(engine)) {
    const want = intendedEngine(engine)
    const hint =
      want === 'sqlite3'
        ? ' ("sqlite" is how server.store.engine spells SQLite; the auth store wants "sqlite3")'
        : ''
    return fail(
      subj,
      `${s.engineField} is ${q(written)}, but NetBird accepts only "sqlite3" or "postgres", exactly as written: it exits with "invalid IdP storage config: unsupported IdP storage type" (rule idp-storage-config-invalid)`,
      want !== undefined
        ? `Set ${s.engineField} to "${want}"${hint}, then restart NetBird.`
        : `Set ${s.engineField} to "sqlite3" (idp.db in the data directory, NetBird's default) or "postgres" (with ${s.dsnField}), then restart NetBird.`,
    )
  }
  if (engine === 'postgres') {
    if (!s.hasDsn) {
      const said =
        s.layout === 'combined'
          ? 'authStore.dsn is required when authStore.engine is postgres'
          : 'storage DSN is required for postgres'
      return fail(
        subj,
        `the engine is postgres but ${s.dsnField} is not set: NetBird exits with "${said}"`,
        `Set ${s.dsnField} to the PostgreSQL DSN of the IdP's database (postgres://user:password@host:5432/dbname, or libpq key=value), or set the engine back to "sqlite3", then restart NetBird.`,
      )
    }
    return pass(subj, `engine "postgres", with a DSN in ${s.dsnField} (not shown)`)
  }
  if (s.file === '') {
    return fail(
      subj,
      'the engine is sqlite3 but no file is set and there is no data directory to put idp.db in: NetBird exits with "storage file is required for sqlite3"',
      'Set EmbeddedIdP.Storage.Config.File (e.g. /var/lib/netbird/idp.db), or give management a --datadir (its default is /var/lib/netbird/), then restart NetBird.',
    )
  }
  return pass(subj, `engine "sqlite3"${written === '' ? ' (the default)' : ''}: ${s.file}`)
}

/** The engine an operator most likely meant, for the fix; undefined when it is anyone's guess. */
function intendedEngine(written: string): 'sqlite3' | 'postgres' | undefined {
  const w = written.trim().toLowerCase()
  if (w === 'sqlite' || w === 'sqlite3') return 'sqlite3'
  if (w === 'postgres' || w === 'postgresql' || w === 'pg' || w === 'pgsql') return 'postgres'
  return undefined
}

/** The cookie key lengths NetBird accepts (AES-128/192/256). */
const keyLengths = new Set([16, 24, 32])

export type CookieKeyVerdict =
  | { readonly ok: true; readonly bytes: number; readonly encoding: 'raw' | 'base64' }
  | { readonly ok: false; readonly rawBytes: number }

/**
 * The session cookie key as embedded.go resolveSessionCookieEncryptionKey reads it: the trimmed value
 * is valid when its UTF-8 bytes, or its decoding with Go's base64 StdEncoding, RawStdEncoding,
 * URLEncoding or RawURLEncoding (in that order), are 16, 24 or 32 bytes long.
 */
export function cookieKeyVerdict(value: string): CookieKeyVerdict {
  const key = value.trim()
  const raw = new TextEncoder().encode(key).length
  if (keyLengths.has(raw)) return { ok: true, bytes: raw, encoding: 'raw' }
  for (const enc of goBase64Encodings) {
    const n = goBase64DecodedLength(key, enc)
    if (n !== undefined && keyLengths.has(n)) return { ok: true, bytes: n, encoding: 'base64' }
  }
  return { ok: false, rawBytes: raw }
}

interface GoBase64 {
  readonly url: boolean
  readonly padded: boolean
}
const goBase64Encodings: readonly GoBase64[] = [
  { url: false, padded: true },
  { url: false, padded: false },
  { url: true, padded: true },
  { url: true, padded: false },
]

/**
 * The length Go's encoding/base64 DecodeString would return, or undefined where it returns an error.
 * Go skips '\r' and '\n', needs `=` padding to a multiple of four (and none at all for the Raw
 * encodings), and does not check the unused bits of the last character (the encodings are not Strict).
 */
export function goBase64DecodedLength(text: string, enc: GoBase64): number | undefined {
  const s = text.replace(/[\r\n]/g, '')
  const alphabet = enc.url ? /^[A-Za-z0-9_-]*$/ : /^[A-Za-z0-9+/]*$/
  let body = s
  if (enc.padded) {
    if (s.length % 4 !== 0) return undefined
    const pads = /=*$/.exec(s)?.[0].length ?? 0
    if (pads > 2) return undefined
    body = s.slice(0, s.length - pads)
    if (pads > 0 && (body.length + pads) % 4 !== 0) return undefined
  }
  if (!alphabet.test(body) || body.length % 4 === 1) return undefined
  return Math.floor((body.length * 6) / 8)
}

export interface CookieKeySetting extends IdpConfigSource {
  /** The key in the config file (undefined or blank: not set). Never shown. */
  readonly key: string | undefined
  readonly keyField: string
  /** NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY as set where doctor runs (NetBird reads it only when the file has none). */
  readonly envKey: string | undefined
}

export const cookieKeyEnv = 'NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY'

/**
 * session-cookie-key: the key NetBird v0.71+ would use has a length it accepts. The key is never
 * shown. Undefined when no key is set here: nothing to check (it is optional).
 */
export function evaluateCookieKey(s: CookieKeySetting): CheckResult | undefined {
  const fromFile = s.key !== undefined && s.key.trim() !== ''
  const fromEnv = !fromFile && s.envKey !== undefined && s.envKey.trim() !== ''
  const where = fromFile ? s.keyField : `${cookieKeyEnv} (in this environment)`
  const subj = subject('session-cookie-key', 'idp-config', `${s.path} ${s.keyField}`)
  if (!fromFile && !fromEnv) return undefined
  const verdict = cookieKeyVerdict(fromFile ? (s.key ?? '') : (s.envKey ?? ''))
  if (verdict.ok) {
    return pass(
      subj,
      `${where} is ${verdict.bytes} bytes${verdict.encoding === 'base64' ? ' once base64-decoded' : ''} (not shown)`,
    )
  }
  return fail(
    subj,
    `${where} is ${verdict.rawBytes} bytes and no base64 reading of it is 16, 24 or 32 bytes: NetBird v0.71+ exits with "invalid embedded IdP session cookie encryption key" (rule session-cookie-key-invalid)`,
    `Replace it with 16, 24 or 32 bytes, raw or base64-encoded (e.g. the output of \`openssl rand -base64 32\`), or remove it — in ${s.keyField}, or in ${cookieKeyEnv}, which NetBird reads only when ${s.keyField} is empty — then restart NetBird.`,
  )
}

export interface LocalAuthSetting extends IdpConfigSource {
  readonly field: string
  readonly disabled: boolean
  /** The IdP store's connectors (undefined: the store was not read). */
  readonly connectors: readonly { readonly id: string; readonly type: string }[] | undefined
  /** management.json EmbeddedIdP.StaticConnectors: NetBird writes them into the store before it checks. */
  readonly staticConnectorIds: readonly string[]
}

/**
 * local-auth-connectors: with local login switched off, NetBird needs another connector in the store
 * (HasNonLocalConnectors: any whose id or type is not `local`), or it exits. Undefined when local login
 * is on: there is nothing to check.
 */
export function evaluateLocalAuth(s: LocalAuthSetting): CheckResult | undefined {
  if (!s.disabled) return undefined
  const subj = subject('local-auth-connectors', 'idp-config', `${s.path} ${s.field}`)
  const others = [
    ...(s.connectors ?? []).filter((c) => c.id !== 'local' || c.type !== 'local').map((c) => c.id),
    ...s.staticConnectorIds,
  ]
  if (others.length > 0) {
    return pass(
      subj,
      `local login is off and ${others.length === 1 ? 'one other connector exists' : `${new Set(others).size} other connectors exist`} (${[...new Set(others)].slice(0, 5).join(', ')})`,
    )
  }
  if (s.connectors === undefined) {
    return skip(
      subj,
      'local login is off; give the IdP store (--db) to check that another identity provider exists',
    )
  }
  return fail(
    subj,
    `${s.field} is true but the IdP store holds no connector other than the local one: NetBird exits with "cannot disable local authentication: no other identity providers configured" (rule local-auth-disable-refused)`,
    `Set ${s.field} to false and restart NetBird; add an identity provider (Settings → Identity Providers) before switching local login off again. If connectors existed before, the store was lost or replaced: restore it from a backup (netbird-watchdog backups list, then backups restore).`,
  )
}

export interface StoreInUseFacts extends IdpConfigSource {
  /** The engine NetBird will use, when its config names one it accepts. */
  readonly netbirdEngine: 'sqlite3' | 'postgres'
  /** Where the engine was read, for the message (`server.authStore.engine`, or "the default"). */
  readonly engineField: string
  /** idp.db as NetBird's container sees it (engine sqlite3). */
  readonly netbirdSqlitePath: string
  /** The store doctor read (undefined: none). */
  readonly checked: { readonly engine: 'sqlite' | 'postgres'; readonly label: string } | undefined
  /** An idp.db found here while NetBird uses PostgreSQL, and its connector ids when readable. */
  readonly staleSqlite?: { readonly path: string; readonly connectorIds?: readonly string[] }
  /** The connector ids of the store NetBird uses, when doctor read it. */
  readonly usedConnectorIds?: readonly string[]
}

/**
 * store-in-use: which store NetBird uses by its config, and whether the one doctor checked (or an
 * idp.db left on disk) is another, stale one — after a move to PostgreSQL (migrate-to-enterprise.sh,
 * `migrate-store`, or by hand) the old idp.db stays in the data volume, and NetBird never reads it
 * again. Undefined when there is nothing to compare.
 */
export function evaluateStoreInUse(f: StoreInUseFacts): CheckResult | undefined {
  const subj = subject('store-in-use', 'idp-config', `${f.path} ${f.engineField}`)
  const uses =
    f.netbirdEngine === 'postgres'
      ? `NetBird uses PostgreSQL (${f.engineField}: postgres in ${f.path})`
      : `NetBird uses SQLite (${f.engineField}: sqlite3 in ${f.path}; idp.db at ${f.netbirdSqlitePath} in its container)`
  if (f.netbirdEngine === 'postgres' && f.checked?.engine === 'sqlite') {
    return warn(
      subj,
      `${uses}, but the store checked here is the idp.db ${f.checked.label}: NetBird has not read it since its store moved to PostgreSQL, so it is stale and the connector checks above describe it, not NetBird`,
      `Check the store NetBird uses: give --db with its PostgreSQL DSN (or leave --db out: doctor then takes server.authStore.dsn / EmbeddedIdP.Storage.Config.DSN from ${f.path}). Keep the old idp.db as a backup of the state before the move, or remove it once the PostgreSQL store holds every connector.`,
    )
  }
  if (f.netbirdEngine === 'sqlite3' && f.checked?.engine === 'postgres') {
    return warn(
      subj,
      `${uses}, but the store checked here is the PostgreSQL database ${f.checked.label}: NetBird does not read it (a store moved back to SQLite, or another deployment's), so the connector checks above describe it, not NetBird`,
      `Check the store NetBird uses: give --db with the host path of ${f.netbirdSqlitePath} (docker volume inspect shows the volume's folder), or set the engine to "postgres" with its DSN if NetBird is meant to use this database.`,
    )
  }
  if (f.netbirdEngine === 'postgres' && f.staleSqlite !== undefined) {
    const stale = f.staleSqlite.connectorIds
    const used = f.usedConnectorIds
    const missing =
      stale !== undefined && used !== undefined
        ? stale.filter((id) => id !== 'local' && !used.includes(id))
        : []
    const lost =
      missing.length > 0
        ? `; it holds ${missing.length} connector(s) the PostgreSQL store lacks (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}): their users cannot log in through them`
        : ''
    return warn(
      subj,
      `${uses}; ${f.staleSqlite.path} is a stale idp.db left from before the move: NetBird no longer reads it${lost}`,
      missing.length > 0
        ? `Re-create the missing identity providers in the NetBird dashboard (Settings → Identity Providers), or move the old store's contents with NetBird's migrate-store; keep ${f.staleSqlite.path} until then (netbird-watchdog backups create --db ${f.staleSqlite.path} keeps a verified copy).`
        : `Nothing to do for NetBird. Keep the old idp.db as a backup of the state before the move, or remove it (netbird-watchdog backups create --db ${f.staleSqlite.path} first keeps a verified copy).`,
    )
  }
  if (f.checked === undefined) return undefined
  return pass(subj, `${uses}: the store checked here (${f.checked.label})`)
}

export interface ConfigFileFacts {
  /** The config.yaml doctor was given. */
  readonly path: string
  /** config.yaml.enterprise found beside it, and the auth store engine each one makes NetBird use. */
  readonly enterprise: { readonly path: string; readonly engine: string } | undefined
  readonly engine: string
}

/**
 * config-file-in-use: migrate-to-enterprise.sh writes config.yaml.enterprise beside the compose file
 * and starts the server with `--config /etc/netbird/config.yaml.enterprise`; from then on the old
 * config.yaml is still mounted but not read. Undefined when there is no such file.
 */
export function evaluateConfigFileInUse(f: ConfigFileFacts): CheckResult | undefined {
  if (f.enterprise === undefined) return undefined
  const subj = subject('config-file-in-use', 'idp-config', f.path)
  const moved =
    f.enterprise.engine !== f.engine
      ? ` — and it makes the auth store ${q(f.enterprise.engine)}, where this one says ${q(f.engine)}, so the store checked by this file's settings is not NetBird's`
      : ''
  return warn(
    subj,
    `${f.enterprise.path} exists beside it: after migrate-to-enterprise.sh the server (image netbird-server-cloud, container still netbird-server) is started with --config /etc/netbird/config.yaml.enterprise and reads that file, not this one${moved}`,
    `Run doctor with --config-yaml ${f.enterprise.path}; for the watchdog's own container mount that file and set NETBIRD_WATCHDOG_CONFIG_YAML (idp.configYaml) to it. \`docker inspect netbird-server --format '{{json .Args}}'\` shows which file the server reads.`,
  )
}
