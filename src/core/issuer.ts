// Issuer comparison with go-oidc's semantics, which is what NetBird enforces. Pure.
// go-oidc (oidc.NewProvider) fetches TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
// and fails unless the document's `issuer` equals the configured string exactly. openid-client
// normalises `https://host` to `https://host/` and would accept the JumpCloud case
// (shared/gotchas.md), so every comparison in this project goes through here.

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
