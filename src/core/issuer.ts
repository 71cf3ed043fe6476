// Issuer strings: go-oidc's comparison, which is what NetBird enforces, and the validation every issuer
// passes before the watchdog writes it. Pure.
// - Comparison: go-oidc (oidc.NewProvider) fetches TrimSuffix(issuer, "/") +
//   "/.well-known/openid-configuration" and fails unless the document's `issuer` equals the configured
//   string exactly. openid-client normalises `https://host` to `https://host/` and would accept the
//   JumpCloud case, so every comparison in this project goes through here (docs/reference/netbird.md).
// - Validation: Dex parses the stored value with Go's net/url (url.Parse) and go-oidc fetches it; a
//   value Go rejects (a control character), or one that is not an issuer at all by OpenID Connect
//   Discovery 1.0 §3 / Core §2 ("https scheme … host … no query or fragment components"), would break
//   the connector it was meant to fix. See `validateIssuer` for the exact rules.

export function discoveryUrl(issuer: string): string {
  return issuer.replace(/\/$/, '') + '/.well-known/openid-configuration'
}

/** Exact, character-for-character equality, as go-oidc compares. */
export function issuersMatch(configured: string, returned: string): boolean {
  return configured === returned
}

/** A short human explanation of how two issuers differ ("" when they are equal). */
export function describeIssuerDifference(configured: string, returned: string): string {
  if (configured === returned) return ''
  if (configured + '/' === returned) return 'the provider returns it with a trailing slash'
  if (configured === returned + '/') return 'the provider returns it without the trailing slash'
  if (configured.toLowerCase() === returned.toLowerCase()) return 'they differ in letter case'
  if (configured.trim() !== configured) return 'the configured issuer has surrounding whitespace'
  return 'they are different URLs'
}

/** Longest issuer accepted. Real ones are well under 200 characters; 2048 is the common URL limit. */
export const maxIssuerLength = 2048

export type IssuerCheck = { ok: true } | { ok: false; problem: string }

/**
 * Whether `value` may be written as a connector's issuer. The rules, each with its source:
 * - Go's url.Parse refuses any byte below 0x20 and 0x7F ("invalid control character in URL"); we also
 *   refuse C1 controls and any whitespace, which no issuer contains and which hide in logs;
 * - `https://` (`http://` only with allowInsecure, for labs), an authority (`https:host` parses as an
 *   opaque URL with no host in Go), a non-empty host of the characters Go accepts in a host name (or a
 *   bracketed IPv6 literal), an optional port 1–65535;
 * - no userinfo (`user@`), no query (`?`), no fragment (`#`): OpenID Connect Core §2 / Discovery §3;
 * - percent escapes well-formed (Go: "invalid URL escape"); at most `maxIssuerLength` characters.
 * The problem text never quotes the value (callers decide how to show it).
 */
export function validateIssuer(value: string, opts: { allowInsecure: boolean }): IssuerCheck {
  const fail = (problem: string): IssuerCheck => ({ ok: false, problem })
  if (value.length === 0) return fail('it is empty')
  if (value.length > maxIssuerLength) {
    return fail(`it is ${value.length} characters long (at most ${maxIssuerLength})`)
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return fail('it contains a control character')
  if (/\s/u.test(value)) return fail('it contains whitespace')
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(value)
  if (m === null) return fail('it has no scheme (expected https://host/…)')
  const scheme = m[1]!.toLowerCase()
  const rest = m[2]!
  if (scheme !== 'https' && scheme !== 'http') return fail('it is not an http(s) URL')
  if (scheme === 'http' && !opts.allowInsecure) {
    return fail(
      'it is plain http (allowed only with --allow-insecure / oidc.allowInsecure, for labs)',
    )
  }
  if (!rest.startsWith('//')) return fail('it has no host (expected https://host/…)')
  if (rest.includes('?')) return fail('it has a query (?…), which an issuer must not have')
  if (rest.includes('#')) return fail('it has a fragment (#…), which an issuer must not have')
  const slash = rest.indexOf('/', 2)
  const authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash)
  const path = slash === -1 ? '' : rest.slice(slash)
  if (authority.includes('@'))
    return fail('it has user information (user@host), which an issuer must not have')
  const hostPort = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*)(?::(\d*))?$/.exec(authority)
  if (hostPort === null)
    return fail('its host is not a host name, an IPv4 address or a bracketed IPv6 address')
  const host = hostPort[1]!
  const port = hostPort[2]
  if (host === '') return fail('it has no host (expected https://host/…)')
  // Go (net/url) refuses %-escapes of ASCII bytes in a host, and a URL parser elsewhere would decode
  // any escape into another spelling of the name: no escape at all (write the name itself).
  if (host.includes('%')) return fail('its host name has a %-escape (write the name itself)')
  // Go (net/url, encodeHost mode) accepts unreserved and sub-delimiter characters and non-ASCII;
  // anything else in a host name is "invalid character … in host name".
  if (
    !host.startsWith('[') &&
    !/^(?:[A-Za-z0-9._~!$&'()*+,;=-]|[\u0080-\u{10ffff}])+$/u.test(host)
  ) {
    return fail('its host name contains a character Go does not accept in a host name')
  }
  if (port !== undefined) {
    const n = Number(port)
    if (port === '' || !Number.isInteger(n) || n < 1 || n > 65535) {
      return fail('its port is not a number from 1 to 65535')
    }
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return fail('its path has a malformed %-escape')
  return { ok: true }
}

/**
 * A value for human-readable output: JSON string quoting, plus escapes for what JSON.stringify leaves
 * raw but a terminal or log viewer would interpret or hide (DEL, C1 controls, line and paragraph
 * separators, bidirectional overrides). Issuers from a provider or a log line are untrusted text.
 */
export function quoteText(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  )
}
