// The static-connector-drift check: management.json's EmbeddedIdP.StaticConnectors against the rows
// NetBird made of them in the IdP store, which it overwrites from the file on every start. Pure.
import { fail, pass, q, shellQuote, subject, warn, type CheckResult } from './check.js'

/** NetBird types stored as Dex `oidc` (idp/dex/connector.go buildStorageConnector, facts §1.5). */
const oidcFamily = new Set([
  'oidc',
  'zitadel',
  'entra',
  'okta',
  'pocketid',
  'authentik',
  'keycloak',
  'adfs',
])

export function dexTypeOf(netbirdType: string | undefined): string | undefined {
  if (netbirdType === undefined) return undefined
  const t = netbirdType.toLowerCase()
  return oidcFamily.has(t) ? 'oidc' : t
}

export interface StaticEntryFacts {
  id: string
  type?: string
  name?: string
  config: Record<string, unknown>
}

export interface RowFacts {
  type: string
  name: string
  config: Record<string, unknown> | null
}

function isSecretName(key: string): boolean {
  return /secret|token|password|key$/i.test(key)
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function shortJson(v: unknown): string {
  const s = v === undefined ? '(absent)' : JSON.stringify(v)
  return s.length > 120 ? s.slice(0, 117) + '…' : s
}

export function evaluateStaticDrift(
  entry: StaticEntryFacts,
  row: RowFacts | undefined,
  discoveredIssuer: string | undefined,
  managementJsonPath: string,
): CheckResult {
  const target = `static connector ${entry.id} (${managementJsonPath})`
  const id = 'static-connector-drift'
  if (row === undefined) {
    return warn(
      subject(id, 'embedded-idp', target),
      'declared in management.json but not in idp.db: NetBird creates it on its next start',
    )
  }
  const diffs: string[] = []
  const unresolved: string[] = []
  let issuerDiffers = false
  const wantType = dexTypeOf(entry.type)
  if (wantType !== undefined && wantType !== row.type.toLowerCase()) {
    diffs.push(`type (management.json ${q(wantType)}, idp.db ${q(row.type)})`)
  }
  if (entry.name !== undefined && entry.name !== row.name) {
    diffs.push(`name (management.json ${q(entry.name)}, idp.db ${q(row.name)})`)
  }
  const rowConfig = row.config ?? {}
  for (const [key, want] of Object.entries(entry.config)) {
    if (typeof want === 'string' && want.includes('{{')) {
      unresolved.push(key)
      continue
    }
    const have = rowConfig[key]
    if (deepEqual(want, have)) continue
    if (key === 'issuer') issuerDiffers = true
    diffs.push(
      isSecretName(key)
        ? `${key} (values not shown)`
        : `${key} (management.json ${shortJson(want)}, idp.db ${shortJson(have)})`,
    )
  }
  const unresolvedNote =
    unresolved.length > 0
      ? `; not compared (set from environment variables): ${unresolved.join(', ')}`
      : ''
  if (diffs.length === 0) {
    return pass(
      subject(id, 'embedded-idp', target),
      `idp.db matches management.json${unresolvedNote}`,
    )
  }
  const wantIssuer = entry.config.issuer
  const restoresBrokenIssuer =
    issuerDiffers &&
    discoveredIssuer !== undefined &&
    rowConfig.issuer === discoveredIssuer &&
    wantIssuer !== discoveredIssuer
  const message = `differs from idp.db: ${diffs.join('; ')}; NetBird overwrites the idp.db row from management.json on its next start${
    restoresBrokenIssuer
      ? `, bringing back an issuer the provider does not return (it returns ${q(discoveredIssuer)})`
      : ''
  }${unresolvedNote}`
  return (restoresBrokenIssuer ? fail : warn)(
    subject(id, 'embedded-idp', target),
    message,
    `Make EmbeddedIdP.StaticConnectors[${q(entry.id)}] in ${managementJsonPath} hold the intended values — it wins on every start${
      issuerDiffers
        ? '; for the issuer, netbird-watchdog repair --db IDP_DB --connector ' +
          shellQuote(entry.id) +
          ' --discover --management-json ' +
          shellQuote(managementJsonPath) +
          ' --fix-management-json fixes both files'
        : ''
    }.`,
  )
}
