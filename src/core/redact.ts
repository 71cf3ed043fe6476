// Secret redaction for any text that leaves the process (logs, errors, --json, metrics). Pure.

export const redacted = '[REDACTED]'

/** JSON keys whose values are secrets in NetBird/Dex configs (connector JSON, management.json). */
export const secretKeys: ReadonlySet<string> = new Set(
  [
    'clientSecret',
    'ClientSecret',
    'client_secret',
    'ApiToken',
    'apiToken',
    'PAT',
    'Password',
    'password',
    'ServiceAccountKey',
    'DataStoreEncryptionKey',
    'SessionCookieEncryptionKey',
    'token',
    'resetToken',
  ].map((k) => k.toLowerCase()),
)

export function isSecretKey(key: string): boolean {
  return secretKeys.has(key.toLowerCase())
}

/**
 * Replace every occurrence of each known secret value in `text`. Values shorter than 4 chars are
 * ignored. Run it on text as it came (before anything collapses or trims whitespace in it); a secret
 * holding whitespace is also looked for in the forms such rewriting gives it (runs of whitespace as
 * one space, and each whitespace-free part of 4 characters or more), so text rewritten first still
 * cannot carry it.
 */
export function redactValues(text: string, secrets: Iterable<string | undefined>): string {
  let out = text
  for (const s of secrets) {
    if (s === undefined || s.length < 4) continue
    const forms = [s]
    if (/\s/.test(s)) forms.push(s.replace(/\s+/g, ' ').trim(), ...s.split(/\s+/))
    for (const f of forms) if (f.length >= 4) out = out.split(f).join(redacted)
  }
  return out
}
