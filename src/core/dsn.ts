// PostgreSQL DSNs as NetBird passes them to its embedded Dex (`server.authStore.dsn` in config.yaml,
// `EmbeddedIdP.Storage.Config.DSN` in management.json): a `postgres://` / `postgresql://` URI or a
// libpq `key=value` string. Parsed into connection settings, a label for messages and an identity for
// backup manifests. Pure. The password is a secret: it is held in a `Secret` that prints as
// `[redacted]`, and no error about a malformed DSN quotes the DSN, any value in it, or any text that
// could be part of one (a quoting mistake can shift a password into a key's place).
//
// Which parameters count, and their defaults, follow what NetBird hands to Dex (netbirdio/netbird
// idp/dex/config.go `parsePostgresDSN`: host, port, dbname, user, password, sslmode; host defaults to
// localhost, port to 5432, dbname is required) and what Dex then does with them (dexidp/dex
// storage/sql/config.go `createDataSourceName`: no sslmode means verify-full). Quoting follows libpq
// (a value in single quotes; `\'` and `\\` escape a quote and a backslash, libpq `conninfo_parse`);
// a doubled quote `''` inside quotes, which NetBird's own parser reads as one quote, is accepted too.
//
// Why ~410 lines: two grammars (URI and key=value) with their own quoting and decoding, each failure
// worded without quoting a byte of the DSN, and the label and identity built from the result; split,
// the rule "no message quotes the DSN" would have to be kept in several places.
import { WatchdogError } from '../errors.js'

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'

const sslModes: readonly SslMode[] = [
  'disable',
  'allow',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
]

/** A secret string: `reveal()` gives it; printing, JSON and logging give `[redacted]`. */
export class Secret {
  readonly #value: string
  constructor(value: string) {
    this.#value = value
  }
  reveal(): string {
    return this.#value
  }
  toString(): string {
    return '[redacted]'
  }
  toJSON(): string {
    return '[redacted]'
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]'
  }
}

export interface PgSettings {
  /** A host name, an IP address (IPv6 without brackets), or a unix-socket directory (starts with `/`). */
  readonly host: string
  readonly port: number
  readonly database: string
  /** Absent: node-postgres falls back to PGUSER or the process's user, as libpq does. */
  readonly user?: string
  readonly password?: Secret
  readonly sslMode: SslMode
  /** False when the DSN names no sslmode and `verify-full` was assumed, as Dex does. */
  readonly sslModeGiven: boolean
  /** Files for TLS (libpq sslrootcert / sslcert / sslkey), read when connecting. */
  readonly sslRootCert?: string
  readonly sslCert?: string
  readonly sslKey?: string
  /** libpq connect_timeout in seconds (0 or absent: the watchdog's own bound applies). */
  readonly connectTimeoutS?: number
  /** libpq keywords the DSN sets that neither NetBird nor the watchdog uses (names only). */
  readonly ignoredKeys: readonly string[]
  /**
   * How many parameters are no libpq keyword at all. Counted, never named: a quoting mistake can
   * put part of a password where a key belongs.
   */
  readonly unknownKeys: number
}

export interface ParseOptions {
  /** The error code for a malformed DSN: USAGE for a command-line flag, CONFIG_INVALID (default) for a config value. */
  readonly code?: 'USAGE' | 'CONFIG_INVALID'
  /** Where the DSN came from, for messages (`--db`, `idp.dsn`, `server.authStore.dsn`…). */
  readonly source?: string
}

// libpq's connection keywords (PostgreSQL 15–17 libpq-connect "Parameter Key Words").
const libpqKeywords: ReadonlySet<string> = new Set([
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'passfile',
  'require_auth',
  'channel_binding',
  'connect_timeout',
  'client_encoding',
  'options',
  'application_name',
  'fallback_application_name',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
  'tcp_user_timeout',
  'replication',
  'gssencmode',
  'sslmode',
  'sslnegotiation',
  'requiressl',
  'sslcompression',
  'sslcert',
  'sslkey',
  'sslpassword',
  'sslcertmode',
  'sslrootcert',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'requirepeer',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'krbsrvname',
  'gsslib',
  'gssdelegation',
  'service',
  'target_session_attrs',
  'load_balance_hosts',
])

const usedKeys: ReadonlySet<string> = new Set([
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'connect_timeout',
])

const uriPrefix = /^postgres(?:ql)?:\/\//

/**
 * Whether `--db` names a DSN rather than a file: a `postgres://` / `postgresql://` URI, or text that
 * starts with `key=` and sets at least one libpq keyword. A file path never looks like either.
 */
export function isDsn(text: string): boolean {
  const t = text.trim()
  if (uriPrefix.test(t)) return true
  if (!/^[A-Za-z_]+\s*=/.test(t)) return false
  for (const m of t.matchAll(/(?:^|\s)([a-z_]+)\s*=/g)) {
    if (libpqKeywords.has(m[1]!)) return true
  }
  return false
}

/** Why text that `looksLikeDsn` is refused, never quoting it. */
export const notADsn =
  'it looks like a URL or a connection string (a scheme, user:password@host, or key=value pairs), but a PostgreSQL DSN is postgres://user@host:port/dbname (or postgresql://…) or libpq key=value pairs such as host=… dbname=… (the value is not shown: it may hold a password)'

/**
 * Whether text that is not a DSN still looks like one, mistyped: a URL of any scheme (`pgsql://…`),
 * `postgres` or `postgresql` followed by `:` or `//` (`postgres:/…`, `postgres:`, `postgres//…`),
 * `user:password@host` without a scheme, or `key=value` text with no libpq keyword. Taken for a file
 * path, such text would be quoted in "database not found" — password and all — so it is refused as
 * "not a valid DSN", unquoted. A file path of idp.db never looks like any of these.
 */
export function looksLikeDsn(text: string): boolean {
  const t = text.trim()
  return (
    /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(t) ||
    /^postgres(?:ql)?(?::|\/\/)/i.test(t) ||
    /^[^/\s:@]+:[^/\s@]*@/.test(t) ||
    /^[A-Za-z_]+\s*=/.test(t)
  )
}

/** Parse a DSN (see the header). Throws a WatchdogError (CONFIG_INVALID or USAGE) that quotes nothing of it. */
export function parseDsn(text: string, opts: ParseOptions = {}): PgSettings {
  const fail = (problem: string): never => {
    throw new WatchdogError(
      opts.code ?? 'CONFIG_INVALID',
      `${opts.source ?? 'the DSN'} is not a usable PostgreSQL DSN: ${problem} (the DSN is not shown: it may hold a password)`,
    )
  }
  const t = text.trim()
  if (t === '') return fail('it is empty')
  const params = uriPrefix.test(t) ? parseUri(t, fail) : parseKeyValue(t, fail)
  return toSettings(params, fail)
}

type Fail = (problem: string) => never

/** Parameters in the order given; a later one overrides an earlier one (libpq). */
type Params = Map<string, string>

function parseKeyValue(s: string, fail: Fail): Params {
  const params: Params = new Map()
  let i = 0
  let n = 0
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c)
  for (;;) {
    while (isSpace(s[i])) i++
    if (i >= s.length) break
    n++
    const keyStart = i
    while (i < s.length && s[i] !== '=' && !isSpace(s[i])) i++
    const key = s.slice(keyStart, i)
    while (isSpace(s[i])) i++
    if (s[i] !== '=') fail(`parameter ${n} has no "=" (write key=value pairs separated by spaces)`)
    if (key === '') fail(`parameter ${n} has no key before "="`)
    i++ // '='
    while (isSpace(s[i])) i++
    let value = ''
    if (s[i] === "'") {
      i++
      for (;;) {
        if (i >= s.length) fail(`the quoted value of ${describeKey(key, n)} has no closing quote`)
        const c = s[i]!
        if (c === '\\') {
          if (i + 1 < s.length) value += s[i + 1]
          i += 2
        } else if (c === "'") {
          if (s[i + 1] === "'") {
            value += "'"
            i += 2
          } else {
            i++
            break
          }
        } else {
          value += c
          i++
        }
      }
    } else {
      while (i < s.length && !isSpace(s[i])) {
        if (s[i] === '\\') {
          if (i + 1 < s.length) value += s[i + 1]
          i += 2
        } else {
          value += s[i]
          i++
        }
      }
    }
    params.set(key, value)
  }
  return params
}

/** A key for a message: libpq keywords by name, anything else by position only. */
function describeKey(key: string, n: number): string {
  return libpqKeywords.has(key) ? `"${key}"` : `parameter ${n}`
}

function parseUri(s: string, fail: Fail): Params {
  const params: Params = new Map()
  const rest = s.replace(uriPrefix, '')
  // Go's url.Parse (NetBird) would cut the DSN at '#': a password holding one must be encoded.
  if (rest.includes('#'))
    fail('it contains "#": percent-encode it (%23) in the user, password or database')
  const authorityEnd = rest.search(/[/?]/)
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd)
  const after = authorityEnd < 0 ? '' : rest.slice(authorityEnd)
  // The last '@' ends the user info, as in Go's url.Parse and libpq.
  const at = authority.lastIndexOf('@')
  if (at >= 0) {
    const userinfo = authority.slice(0, at)
    const colon = userinfo.indexOf(':')
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon)
    if (user !== '') params.set('user', decode(user, 'the user name', fail))
    if (colon >= 0) params.set('password', decode(userinfo.slice(colon + 1), 'the password', fail))
  }
  // An '@' after the host means the user info ended early: a password holding an unencoded '/' or '?'
  // (postgres://u:12/34@h/db would name host "u", port 12, database "34@h/db" and put the rest of the
  // password into every label). Refuse it rather than guess.
  if (after.includes('@')) {
    fail(
      'it contains "@" after the host: percent-encode "/", "?" and "@" in the user and password (%2F, %3F, %40)',
    )
  }
  const hostport = authority.slice(at + 1)
  if (hostport.includes(',')) fail('it names several hosts; the watchdog connects to one')
  let host = hostport
  let port: string | undefined
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']')
    if (close < 0) fail('an IPv6 host in "[" has no closing "]"')
    host = hostport.slice(1, close)
    const tail = hostport.slice(close + 1)
    if (tail !== '') {
      if (!tail.startsWith(':')) fail('unexpected text after the IPv6 host "]"')
      port = tail.slice(1)
    }
  } else {
    const colon = hostport.lastIndexOf(':')
    if (colon >= 0) {
      host = hostport.slice(0, colon)
      port = hostport.slice(colon + 1)
    }
  }
  if (host !== '') params.set('host', decode(host, 'the host', fail))
  if (port !== undefined && port !== '') params.set('port', port)
  const q = after.indexOf('?')
  const path = q < 0 ? after : after.slice(0, q)
  const query = q < 0 ? '' : after.slice(q + 1)
  if (path.length > 1) params.set('dbname', decode(path.slice(1), 'the database name', fail))
  let n = 0
  for (const pair of query.split('&')) {
    if (pair === '') continue
    n++
    const eq = pair.indexOf('=')
    if (eq < 0) fail(`query parameter ${n} has no "="`)
    const key = decode(pair.slice(0, eq), `the name of query parameter ${n}`, fail)
    params.set(key, decode(pair.slice(eq + 1), `the value of query parameter ${n}`, fail))
  }
  return params
}

function decode(text: string, what: string, fail: Fail): string {
  try {
    return decodeURIComponent(text)
  } catch {
    // The URIError says nothing about the text, but it is not kept either.
    return fail(`${what} has an invalid percent-encoding (use %XX for special characters)`)
  }
}

function toSettings(params: Params, fail: Fail): PgSettings {
  const get = (key: string): string | undefined => {
    const v = params.get(key)
    return v === undefined || v === '' ? undefined : v
  }
  const hostaddr = get('hostaddr')
  const host = hostaddr ?? get('host') ?? 'localhost'
  if (host.includes(',')) fail('it names several hosts; the watchdog connects to one')
  let port = 5432
  const portText = get('port')
  if (portText !== undefined) {
    if (portText.includes(',')) fail('it names several ports; the watchdog connects to one host')
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      fail('the port is not a number from 1 to 65535')
    }
    port = Number(portText)
  }
  const database = get('dbname')
  // NetBird refuses a DSN without one ("dbname is required in DSN").
  if (database === undefined) fail('it names no database (dbname, or the URI path)')
  const sslText = get('sslmode')
  if (sslText !== undefined && !sslModes.includes(sslText as SslMode)) {
    fail(`sslmode is not one of ${sslModes.join(', ')}`)
  }
  let connectTimeoutS: number | undefined
  const timeoutText = get('connect_timeout')
  if (timeoutText !== undefined) {
    if (!/^\d{1,6}$/.test(timeoutText)) fail('connect_timeout is not a whole number of seconds')
    connectTimeoutS = Number(timeoutText)
  }
  const ignoredKeys: string[] = []
  let unknownKeys = 0
  for (const key of params.keys()) {
    if (usedKeys.has(key)) continue
    if (libpqKeywords.has(key)) ignoredKeys.push(key)
    else unknownKeys++
  }
  const user = get('user')
  const password = params.get('password')
  const optional = {
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined && password !== '' ? { password: new Secret(password) } : {}),
    ...(get('sslrootcert') !== undefined ? { sslRootCert: get('sslrootcert') } : {}),
    ...(get('sslcert') !== undefined ? { sslCert: get('sslcert') } : {}),
    ...(get('sslkey') !== undefined ? { sslKey: get('sslkey') } : {}),
    ...(connectTimeoutS !== undefined ? { connectTimeoutS } : {}),
  }
  return {
    host,
    port,
    database,
    sslMode: (sslText as SslMode | undefined) ?? 'verify-full',
    sslModeGiven: sslText !== undefined,
    ignoredKeys,
    unknownKeys,
    ...optional,
  }
}

/** Whether the settings name a unix-socket directory rather than a TCP host. */
export function isSocketHost(s: Pick<PgSettings, 'host'>): boolean {
  return s.host.startsWith('/')
}

function hostPort(s: Pick<PgSettings, 'host' | 'port'>): string {
  return `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`
}

/** For messages and logs: `postgres://user@host:port/dbname` — never the password. */
export function dsnLabel(s: Pick<PgSettings, 'host' | 'port' | 'database' | 'user'>): string {
  return `postgres://${s.user !== undefined ? `${s.user}@` : ''}${hostPort(s)}/${s.database}`
}

/** Recorded in backup manifests and compared on restore: `host:port/dbname`. */
export function dsnIdentity(s: Pick<PgSettings, 'host' | 'port' | 'database'>): string {
  return `${hostPort(s)}/${s.database}`
}

/**
 * What an operator may want to know about how a DSN was read, one line each (for a log at start-up
 * or `doctor`); never a value from the DSN, only keyword names and counts.
 */
export function dsnNotes(s: PgSettings): string[] {
  const notes: string[] = []
  if (!s.sslModeGiven && !isSocketHost(s)) {
    notes.push(
      'the DSN names no sslmode: verify-full is assumed, as Dex does (TLS, with a certificate valid for the host)',
    )
  }
  if (s.user === undefined) {
    notes.push("the DSN names no user: PGUSER or the process's user name is used")
  }
  if (s.ignoredKeys.length > 0) {
    notes.push(
      `the DSN's ${s.ignoredKeys.join(', ')} are not used (NetBird does not pass them on either)`,
    )
  }
  if (s.unknownKeys > 0) {
    notes.push(`${s.unknownKeys} parameter(s) of the DSN are no libpq keyword and are ignored`)
  }
  return notes
}
