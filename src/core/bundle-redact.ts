// Redaction for the support bundle (`netbird-watchdog bundle`): NetBird's config files, the IdP store's
// connectors, log lines and report text go into an archive an operator attaches to a public issue, so
// every secret is removed three ways. Pure.
//  1. By key name, in structured data (config.yaml, management.json, connector configs): client
//     secrets, passwords, tokens, keys, hashes, authSecret, encryptionKey… A DSN keeps its host, port,
//     user and database; only its password goes.
//  2. By value: every value removed in (1), and every DSN password, is also removed wherever it shows
//     up again (a log line quoting a DSN, a doctor message).
//  3. By shape, anywhere: a password in a URL's user info or in `password=…` pairs, JWTs, bearer
//     tokens, `secret: value` pairs inside free text, and long random-looking strings (base64 or hex
//     keys) under keys nobody would call secret.
// Every removal is counted with where it happened (a key path or a file), never with the value.

export const redactedMark = '[REDACTED]'

/**
 * Key names whose values are secrets in NetBird's, Dex's and the watchdog's configuration (matched
 * case-insensitively, whole words of camelCase/snake_case keys): clientSecret, ApiToken, PAT,
 * Password, authSecret, DataStoreEncryptionKey, sessionCookieEncryptionKey, ServiceAccountKey,
 * Owner.Hash, Relay.Secret, NB_* environment names…
 */
const secretKey =
  /(?:secret|passw(?:or)?d|pwd|token|apikey|api_key|privatekey|private_key|encryptionkey|encryption_key|accountkey|credential|cookiekey|signingkey|^pat$|^hash$|^key$|^psk$)/i

/** Keys that name where or how a secret is used, not the secret (tokenEndpoint, passwordFile…). */
const notSecretKey =
  /(?:endpoint|url|uri|location|enabled|file|path|ttl|type|claim|method|methods|expiry|lifetime)$/i

/** Keys holding a DSN: only the password inside is removed. */
const dsnKey = /dsn$/i

export function isSecretKeyName(key: string): boolean {
  return secretKey.test(key) && !notSecretKey.test(key)
}

export function isDsnKeyName(key: string): boolean {
  return dsnKey.test(key)
}

/** Where something was removed, and why; never the value. */
export interface RedactionNote {
  /** A file name in the bundle. */
  readonly file: string
  /** The key path (`server.authStore.dsn`) or `text` for free text. */
  readonly where: string
  readonly reason: 'secret key' | 'dsn password' | 'known secret value' | 'secret shape'
}

/** The password a DSN carries (URI user info, or a libpq `password=` pair), if any. */
export function dsnPassword(dsn: string): string | undefined {
  const uri = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@\s:]*:([^@\s]*)@/.exec(dsn.trim())
  if (uri?.[1] !== undefined && uri[1] !== '') {
    try {
      return decodeURIComponent(uri[1])
    } catch {
      return uri[1]
    }
  }
  const kv = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(dsn)
  if (kv?.[1] === undefined) return undefined
  const raw = kv[1]
  return raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw
}

/** Every secret value a structured document holds, by key name (and the passwords of its DSNs). */
export function secretValuesOf(value: unknown): string[] {
  const out: string[] = []
  const walk = (v: unknown, key: string | undefined): void => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item, key)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) walk(child, k)
    } else if (typeof v === 'string' && key !== undefined) {
      if (isDsnKeyName(key)) {
        const pw = dsnPassword(v)
        if (pw !== undefined) out.push(pw)
      } else if (isSecretKeyName(key) && v.trim() !== '') {
        out.push(v, v.trim())
      }
    }
  }
  walk(value, undefined)
  return out
}

// Shapes. Each keeps what says where (the scheme, the user, the key) and replaces only the secret.
const urlPassword = /\b([A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/[^/@\s:'"]{0,256}:)[^@\s'"/]{1,512}@/g
const pairSecret =
  /\b((?:password|passwd|pwd|secret|client_secret|clientsecret|token|access_token|refresh_token|id_token|api[_-]?key|apitoken|authsecret|encryptionkey|sessioncookieencryptionkey|datastoreencryptionkey)"?\s*[=:]\s*)("(?:[^"\\]|\\.){1,1024}"|'[^']{1,1024}'|[^\s,;&'"[\]{}][^\s,;&'"\]}]{0,1023})/gi
const jwt = /\beyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{0,4096}/g
const bearer = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,4096}/g
const tokenCandidate = /[A-Za-z0-9+/=_-]{24,4096}/g

/**
 * A random-looking secret: 24+ characters of base64, or 32+ of hex, mixing letters and digits, with
 * both cases (base64) — so ids such as `d1c9q2ll0fgs73cunqsg`, UUIDs and words are left alone.
 */
export function looksLikeSecret(token: string): boolean {
  if (/^[0-9a-fA-F]{32,}$/.test(token)) return /[0-9]/.test(token) && /[a-fA-F]/.test(token)
  if (token.length < 24 || !/^[A-Za-z0-9+/=_-]+$/.test(token)) return false
  // A path (it starts with '/'), or a mix of both base64 alphabets (`+/` and `-_`): not one key.
  if (token.startsWith('/') || (/[+/]/.test(token) && /[-_]/.test(token))) return false
  if (!/[0-9]/.test(token) || !/[a-z]/.test(token) || !/[A-Z]/.test(token)) return false
  // Mostly lower-case words joined by dashes or underscores (a path, a name) are not keys.
  const pieces = token.split(/[-_]/)
  return !(pieces.length > 2 && pieces.every((p) => p.length < 12))
}

/** Remove known secret values and secret shapes from free text. */
export function redactText(
  text: string,
  known: readonly string[],
): { text: string; known: number; shapes: number } {
  let knownHits = 0
  let shapeHits = 0
  let out = text
  for (const secret of [...new Set(known)].sort((a, b) => b.length - a.length)) {
    if (secret.length < 4 || !out.includes(secret)) continue
    const parts = out.split(secret)
    knownHits += parts.length - 1
    out = parts.join(redactedMark)
  }
  const shape = (re: RegExp, replace: (...m: string[]) => string): void => {
    out = out.replace(re, (...m: string[]) => {
      const next = replace(...m)
      if (next !== m[0]) shapeHits++
      return next
    })
  }
  shape(urlPassword, (_all, head) => `${head}${redactedMark}@`)
  shape(jwt, () => redactedMark)
  shape(bearer, (_all, head) => `${head}${redactedMark}`)
  // An unquoted value that ends in ':' is the next word of a message (`failed to get token: oauth2: …`).
  shape(pairSecret, (all, head, value) =>
    value === redactedMark || value === `"${redactedMark}"` || value?.endsWith(':') === true
      ? all
      : `${head}${redactedMark}`,
  )
  shape(tokenCandidate, (token) => (looksLikeSecret(token) ? redactedMark : token))
  return { text: out, known: knownHits, shapes: shapeHits }
}

/**
 * A deep copy of a structured document with every secret removed (by key, then by value and shape in
 * every other string), and a note per removal. DSNs keep everything but their password.
 */
export function redactTree(
  value: unknown,
  known: readonly string[],
  file: string,
  notes: RedactionNote[],
): unknown {
  const walk = (v: unknown, path: string, key: string | undefined): unknown => {
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${path}[${i}]`, key))
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, child]) => [
          k,
          walk(child, path === '' ? k : `${path}.${k}`, k),
        ]),
      )
    }
    if (typeof v !== 'string') return v
    if (key !== undefined && isDsnKeyName(key)) {
      const pw = dsnPassword(v)
      const { text } = redactText(v, pw !== undefined ? [pw, ...known] : known)
      if (text !== v) notes.push({ file, where: path, reason: 'dsn password' })
      return text
    }
    if (key !== undefined && isSecretKeyName(key)) {
      if (v === '') return v
      notes.push({ file, where: path, reason: 'secret key' })
      return redactedMark
    }
    const r = redactText(v, known)
    if (r.known > 0) notes.push({ file, where: path, reason: 'known secret value' })
    else if (r.shapes > 0) notes.push({ file, where: path, reason: 'secret shape' })
    return r.text
  }
  return walk(value, '', undefined)
}

/**
 * Line-by-line redaction of a config file that does not parse (it is attached all the same): a
 * `key: value` or `"key": value` line whose key names a secret loses its value, then every line goes
 * through redactText.
 */
export function redactConfigText(
  text: string,
  known: readonly string[],
  file: string,
  notes: RedactionNote[],
): string {
  return text
    .split('\n')
    .map((line, i) => {
      const m = /^(\s*-?\s*"?([A-Za-z0-9_.-]+)"?\s*[:=]\s*)(.+?)(,?\s*)$/.exec(line)
      if (m !== null && isSecretKeyName(m[2] ?? '') && !isDsnKeyName(m[2] ?? '')) {
        notes.push({ file, where: `line ${i + 1}`, reason: 'secret key' })
        return `${m[1]}"${redactedMark}"${m[4]}`
      }
      const r = redactText(line, known)
      if (r.known + r.shapes > 0) {
        notes.push({
          file,
          where: `line ${i + 1}`,
          reason: r.known > 0 ? 'known secret value' : 'secret shape',
        })
      }
      return r.text
    })
    .join('\n')
}
