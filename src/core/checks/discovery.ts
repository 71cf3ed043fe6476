// The discovery-reachable check, for a connector's issuer and for a standalone setup's
// OIDCConfigEndpoint alike: a provider's discovery document answered, or why not and what to do. Pure.
import {
  fail,
  pass,
  subject,
  type CheckArea,
  type CheckResult,
  type DiscoveryOutcome,
} from './check.js'

const reasonRemedies: Record<string, string> = {
  dns: 'Check the host name in the issuer, and that the NetBird host resolves it (its DNS resolver).',
  tcp: 'Check that the provider is up and that no firewall or proxy blocks NetBird from reaching it.',
  tls: 'The provider certificate must be valid for this host name and chain to a CA the NetBird container trusts.',
  timeout:
    'The provider did not answer in time: check its health and the network path from NetBird.',
  'http-status':
    'The issuer URL is probably wrong: <issuer>/.well-known/openid-configuration must answer 200 with the discovery document.',
  'not-json':
    'The issuer URL does not point at an OpenID provider (the answer is not a discovery document); use the issuer the provider documents.',
  'invalid-document':
    'The provider answered with a document that has no "issuer": use the issuer the provider documents.',
  insecure:
    "Use the provider's https issuer. Plain http is accepted only with oidc.allowInsecure / --allow-insecure (labs and tests).",
}

export function evaluateDiscoveryReachable(
  area: CheckArea,
  target: string,
  d: DiscoveryOutcome,
): CheckResult {
  if (d.ok) {
    return pass(subject('discovery-reachable', area, target), `${d.url} answered in ${d.ms} ms`)
  }
  const consequence =
    area === 'embedded-idp'
      ? ' — NetBird cannot open this connector (≤ v0.65.1 the management container crash-loops)'
      : ' — the standalone management server fails to start while OIDCConfigEndpoint is unreachable'
  return fail(
    subject('discovery-reachable', area, target),
    `${d.url}: ${d.message} [${d.reason}]${consequence}`,
    reasonRemedies[d.reason] ?? 'Check the issuer URL and the provider.',
  )
}
