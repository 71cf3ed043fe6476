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
import { domainToASCII } from 'node:url'

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

/**
 * Longest issuer accepted, in bytes of its UTF-8 encoding (what Go's string length and every byte
 * limit count). Real ones are well under 200; 2048 is the common URL limit.
 */
export const maxIssuerLength = 2048

export type IssuerCheck = { ok: true } | { ok: false; problem: string }

const utf8 = new TextEncoder()

/**
 * Whether `value` may be written as a connector's issuer. The rules, each with its source:
 * - Go's url.Parse refuses any byte below 0x20 and 0x7F ("invalid control character in URL"); we also
 *   refuse C1 controls, any whitespace, and invisible (Unicode Default_Ignorable_Code_Point: U+200B,
 *   U+00AD, U+FEFF…) and bidirectional-control characters (U+202E…), which no issuer contains and which
 *   hide or reorder text in logs and terminals;
 * - `https://` (`http://` only with allowInsecure, for labs), an authority (`https:host` parses as an
 *   opaque URL with no host in Go), an optional port 1–65535;
 * - a host that is a host: a DNS name (labels of letters, digits, `-` and `_`, 1–63 bytes, no label
 *   starting or ending with `-`, at most 253 bytes; an internationalised name must map to one through
 *   UTS #46, Node's `domainToASCII`), an IPv4 address in dotted-decimal, or a bracketed IPv6 address.
 *   Go's url.Parse, since the fix for CVE-2025-47912 (Go 1.24.8 / 1.25.2, golang/go
 *   src/net/url/url.go `parseHost`), accepts inside brackets only what netip.ParseAddr reads as an
 *   IPv6 address ("invalid IP-literal" for `[1.2.3.4]`, "invalid host" for `[:::::]`, `[12345::]`);
 *   names such as `-`, `..` or `a..b`, which Go does not check, are no host at all;
 * - no userinfo (`user@`), no query (`?`), no fragment (`#`): OpenID Connect Core §2 / Discovery §3;
 * - percent escapes well-formed (Go: "invalid URL escape"), none in the host; at most
 *   `maxIssuerLength` bytes.
 * The problem text never quotes the value (callers decide how to show it).
 */
export function validateIssuer(value: string, opts: { allowInsecure: boolean }): IssuerCheck {
  const fail = (problem: string): IssuerCheck => ({ ok: false, problem })
  if (value.length === 0) return fail('it is empty')
  const bytes = utf8.encode(value).length
  if (bytes > maxIssuerLength) {
    return fail(`it is ${bytes} bytes long (at most ${maxIssuerLength})`)
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return fail('it contains a control character')
  if (/\s/u.test(value)) return fail('it contains whitespace')
  if (/[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u.test(value)) {
    return fail('it contains an invisible or bidirectional-control character')
  }
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
  const hostPort = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(authority)
  if (hostPort === null)
    return fail('its host is not a host name, an IPv4 address or a bracketed IPv6 address')
  const host = hostPort[1]!
  const port = hostPort[2]
  if (host === '') return fail('it has no host (expected https://host/…)')
  // Go (net/url) refuses %-escapes of ASCII bytes in a host, and a URL parser elsewhere would decode
  // any escape into another spelling of the name: no escape at all (write the name itself).
  if (host.includes('%')) return fail('its host name has a %-escape (write the name itself)')
  const hostProblem = host.startsWith('[')
    ? isIPv6(host.slice(1, -1))
      ? undefined
      : 'its bracketed host is not an IPv6 address (Go: "invalid IP-literal")'
    : checkHostName(host)
  if (hostProblem !== undefined) return fail(hostProblem)
  if (port !== undefined) {
    const n = Number(port)
    if (port === '' || !Number.isInteger(n) || n < 1 || n > 65535) {
      return fail('its port is not a number from 1 to 65535')
    }
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return fail('its path has a malformed %-escape')
  return { ok: true }
}

/** Why `host` (not bracketed) is not a DNS name or an IPv4 address; undefined when it is one. */
function checkHostName(host: string): string | undefined {
  if (/^[0-9.]+$/.test(host) && /[0-9]/.test(host)) {
    return isIPv4(host) ? undefined : 'its host is not an IPv4 address (four numbers 0–255)'
  }
  // An internationalised name: what a resolver looks up is its UTS #46 mapping (Go's idna.Lookup,
  // WHATWG URL); a name that does not map is no name.
  const ascii = /^[\x21-\x7e]*$/.test(host) ? host : domainToASCII(host)
  if (ascii === '') return 'its host name is not a valid internationalised domain name'
  const name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii
  if (name.length > 253) return 'its host name is longer than 253 bytes'
  const labels = name.split('.')
  for (const label of labels) {
    if (label === '')
      return 'its host name has an empty label (a leading dot, or two dots in a row)'
    if (label.length > 63) return 'its host name has a label longer than 63 bytes'
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(label)) {
      return 'its host name is not a DNS name (letters, digits, "-" and "_" in dot-separated labels, none starting or ending with "-")'
    }
  }
  // A numeric last label makes a URL parser read the name as an IPv4 address in another notation
  // (`1.2.3` is 1.2.0.3 to WHATWG URL, a name to Go).
  if (/^[0-9]+$/.test(labels.at(-1)!)) {
    return 'its host name ends in a numeric label (neither a DNS name nor an IPv4 address)'
  }
  return undefined
}

/** Dotted-decimal IPv4: four numbers 0–255, no leading zeros (netip.ParseAddr's rules). */
function isIPv4(text: string): boolean {
  const parts = text.split('.')
  return (
    parts.length === 4 && parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
  )
}

/**
 * An IPv6 address as netip.ParseAddr reads one, without a zone: groups of 1–4 hex digits, at most one
 * `::` standing for at least one zero group, an optional dotted IPv4 address as the last 32 bits.
 */
export function isIPv6(text: string): boolean {
  const halves = text.split('::')
  if (halves.length > 2) return false
  const groupsOf = (half: string): number | undefined => {
    if (half === '') return 0
    const parts = half.split(':')
    let n = 0
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (/^[0-9A-Fa-f]{1,4}$/.test(p)) n += 1
      else if (i === parts.length - 1 && isIPv4(p)) n += 2
      else return undefined
    }
    return n
  }
  const head = groupsOf(halves[0]!)
  if (head === undefined) return false
  if (halves.length === 1) return head === 8
  // An IPv4 tail belongs at the very end only.
  if (halves[0]!.includes('.')) return false
  const tail = groupsOf(halves[1]!)
  return tail !== undefined && head + tail <= 7
}

/**
 * What a terminal or log viewer would interpret or hide: C0 controls (newline aside), DEL, C1
 * controls, the line and paragraph separators, invisible characters (Unicode
 * Default_Ignorable_Code_Point: U+200B, U+00AD, U+FEFF, tags…) and bidirectional controls (U+202E…).
 */
const unsafeText =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/gu

/**
 * `text` with every character of `unsafeText` written as `\uXXXX` (one escape per UTF-16 unit, so
 * inside a JSON string the result is still valid JSON that decodes to the same value). Line feeds are
 * kept: they end the lines of human output.
 */
export function escapeUnsafeText(text: string): string {
  return text.replace(unsafeText, (c) =>
    Array.from(
      { length: c.length },
      (_, i) => '\\u' + c.charCodeAt(i).toString(16).padStart(4, '0'),
    ).join(''),
  )
}

/**
 * A value for human-readable output: JSON string quoting (a newline becomes `\n`), plus escapes for
 * what JSON.stringify leaves raw but a terminal or log viewer would interpret or hide (DEL, C1
 * controls, line and paragraph separators, invisible and bidirectional-control characters). Issuers
 * from a provider or a log line are untrusted text.
 */
export function quoteText(value: string): string {
  return escapeUnsafeText(JSON.stringify(value))
}
