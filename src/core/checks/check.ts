// Doctor checks: the result shape every check returns (a stable id, a status, a one-line message and
// the remedy), the named helpers that build one, and the report's verdict. Pure. The checks themselves
// live beside this file by area: connector-checks.ts (the embedded IdP's connectors), idp-config-checks.ts
// (the embedded IdP's store, cookie key and local login settings), static-checks.ts
// (management.json's static connectors), standalone-checks.ts (JumpCloud as the primary IdP),
// store-checks.ts (the store against its last kept backup) and discovery.ts (a provider's discovery
// document, for both).
import { quoteText } from '../issuer.js'

export const checkIds = [
  'issuer-matches-discovery',
  'discovery-reachable',
  'redirect-uri',
  'scopes',
  'client-auth-method',
  'static-connector-drift',
  'auth-issuer-matches-discovery',
  'audience-client-id',
  'device-auth',
  'jumpcloud-api-token',
  'connector-config',
  'dashboard-redirect-uris',
  'idp-storage-config',
  'session-cookie-key',
  'local-auth-connectors',
  'store-in-use',
  'config-file-in-use',
  'store-matches-backup',
] as const
export type CheckId = (typeof checkIds)[number]
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'
/**
 * Report grouping: connectors of the embedded IdP (idp.db), the embedded IdP's own settings in
 * NetBird's config files, or a standalone IdP setup.
 */
export type CheckArea = 'embedded-idp' | 'idp-config' | 'standalone'

export interface CheckResult {
  id: CheckId
  status: CheckStatus
  area: CheckArea
  /** What was checked: a connector, a config file section. */
  target: string
  message: string
  remediation?: string
}

/** Structurally the same as src/oidc/discovery.ts DiscoveryResult (core imports no adapter). */
export type DiscoveryOutcome =
  | { ok: true; url: string; issuer: string; document: Record<string, unknown>; ms: number }
  | { ok: false; url: string; reason: string; message: string; status?: number; ms: number }

/** What a result is about: which check, which report area, which connector or config field. */
export interface CheckSubject {
  readonly id: CheckId
  readonly area: CheckArea
  readonly target: string
}

export function subject(id: CheckId, area: CheckArea, target: string): CheckSubject {
  return { id, area, target }
}

export function pass(s: CheckSubject, message: string): CheckResult {
  return { ...s, status: 'pass', message }
}

export function skip(s: CheckSubject, message: string): CheckResult {
  return { ...s, status: 'skip', message }
}

export function warn(s: CheckSubject, message: string, remediation?: string): CheckResult {
  return remediation === undefined
    ? { ...s, status: 'warn', message }
    : { ...s, status: 'warn', message, remediation }
}

export function fail(s: CheckSubject, message: string, remediation?: string): CheckResult {
  return remediation === undefined
    ? { ...s, status: 'fail', message }
    : { ...s, status: 'fail', message, remediation }
}

/** A check's value in a message: JSON-quoted, with control characters escaped. */
export const q = quoteText

/** POSIX single-quoting for a value shown inside a suggested command. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

/** `ok` is false when any check failed; warnings and skips keep it true. */
export function reportOk(checks: readonly CheckResult[]): boolean {
  return checks.every((c) => c.status !== 'fail')
}
