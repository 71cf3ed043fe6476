// Checks of the embedded IdP's own settings in NetBird's config files, before NetBird restarts into
// them: the auth store engine and its DSN or file, the session cookie encryption key's length, and
// local login switched off with no other connector. Pure. Each mirrors the code that refuses the
// setting in netbirdio/netbird v0.77.1: management/server/idp/embedded.go (ToYAMLConfig,
// buildIdpStorageConfig, resolveSessionCookieEncryptionKey, NewEmbeddedIdPManager), idp/dex/connector.go
// HasNonLocalConnectors, and combined/cmd/config.go buildEmbeddedIdPConfig (which passes
// server.authStore.engine, else server.auth.storage.type, through unchanged). The matching log rules
// are idp-storage-config-invalid, session-cookie-key-invalid and local-auth-disable-refused.
import { fail, pass, q, skip, subject, type CheckResult } from './check.js'

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
      'Set EmbeddedIdP.Storage.Config.File (e.g. /var/lib/netbird/idp.db) or Datadir, then restart NetBird.',
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
