// The one issuer policy: (connector rows, live discovery answers) -> for each connector, a verdict —
// it matches, a fix the watchdog may write, a refusal, discovery failed, or not checked and why. Pure.
// Every caller that turns discovery into a change uses it: `repair --discover`, the self-healing flow
// (a log finding or the scheduled drift check) and `doctor`, so they can never disagree.
//
// A fix is written only when all of these hold (the safety argument, in order):
// 1. the provider's answer is itself a valid issuer (validateIssuer: Go's url.Parse, https unless
//    allowed, a host, no query/fragment/userinfo, a sane length);
// 2. it has the same origin (scheme, host, port) as the stored issuer: the fix only changes the path's
//    spelling (the JumpCloud trailing slash, a realm path's slash) — a provider answering with another
//    origin is never followed, whoever asks;
// 3. discovery at the new value answers the new value exactly (what go-oidc will demand after the fix).
import {
  connectorIssuer,
  connectorIssuerField,
  isOidcConnector,
  issuerProblem,
  type ConnectorRow,
} from './connectors.js'
import { describeIssuerDifference, quoteText, validateIssuer } from './issuer.js'

/** One discovery request's outcome, reduced to what the policy needs. */
export type DiscoveryAnswer =
  | { readonly ok: true; readonly issuer: string }
  | { readonly ok: false; readonly reason: string; readonly message: string }

/** Discovery of one connector: at its stored issuer, and (when that answered another value) at that value. */
export interface ConnectorDiscovery {
  readonly connectorId: string
  readonly stored: string
  readonly first: DiscoveryAnswer
  /** Discovery at `first.issuer`, asked only when it differs from `stored` and is a valid issuer. */
  readonly second?: DiscoveryAnswer
}

export type RefusalReason = 'invalid_issuer' | 'other_origin' | 'not_self_consistent'
export type SkipReason =
  'not_oidc' | 'no_config' | 'config_invalid' | 'no_issuer' | 'stored_invalid'

export type IssuerVerdict =
  | { readonly kind: 'match'; readonly connectorId: string; readonly stored: string }
  | {
      readonly kind: 'fix'
      readonly connectorId: string
      readonly from: string
      readonly to: string
      /** Human explanation ("the provider returns it with a trailing slash"). */
      readonly why: string
    }
  | {
      readonly kind: 'refuse'
      readonly connectorId: string
      readonly stored: string
      readonly returned: string
      readonly reason: RefusalReason
      readonly detail: string
    }
  | {
      readonly kind: 'unreachable'
      readonly connectorId: string
      readonly stored: string
      readonly reason: string
      readonly message: string
    }
  | {
      readonly kind: 'skipped'
      readonly connectorId: string
      readonly reason: SkipReason
      readonly detail: string
    }

export interface PolicyOptions {
  /** Plain-http issuers are acceptable (labs and tests). */
  readonly allowInsecure: boolean
}

/** What to ask discovery about: each OIDC connector's stored issuer, or why it is not asked. */
export type DiscoveryTarget =
  | { readonly connectorId: string; readonly stored: string }
  | Extract<IssuerVerdict, { kind: 'skipped' }>

export function discoveryTargets(rows: readonly ConnectorRow[]): DiscoveryTarget[] {
  return rows.flatMap((row): DiscoveryTarget[] => {
    if (!isOidcConnector(row)) return []
    const skipped = (reason: SkipReason, detail: string) => [
      { kind: 'skipped' as const, connectorId: row.id, reason, detail },
    ]
    if (row.configError !== undefined) {
      return skipped('config_invalid', row.configError)
    }
    if (row.config === null) {
      return skipped(
        'no_config',
        `connector ${JSON.stringify(row.id)} is of type oidc but has no config`,
      )
    }
    // Several keys Go's decoder reads as `issuer`: Dex uses the last, but which one a fix should
    // change is ambiguous.
    if (connectorIssuerField(row)?.kind === 'duplicate') {
      return skipped('stored_invalid', issuerProblem(row)!)
    }
    const stored = connectorIssuer(row)
    if (stored === undefined || stored === '') {
      return skipped(
        'no_issuer',
        issuerProblem(row) ?? `connector ${JSON.stringify(row.id)} has no "issuer" in its config`,
      )
    }
    // Plain http is left to discovery, which refuses it unless allowed (and says so); anything else
    // a URL parser would have to guess about is not sent anywhere.
    const valid = validateIssuer(stored, { allowInsecure: true })
    if (!valid.ok) {
      return skipped(
        'stored_invalid',
        `the stored issuer ${quoteText(stored)} is not usable: ${valid.problem}`,
      )
    }
    return [{ connectorId: row.id, stored }]
  })
}

/** Should discovery also be asked at the returned value? Only for a different, valid issuer. */
export function needsSecondLook(
  stored: string,
  first: DiscoveryAnswer,
  opts: PolicyOptions,
): boolean {
  return first.ok && first.issuer !== stored && validateIssuer(first.issuer, opts).ok
}

/** The verdict for one connector's discovery. */
export function judgeIssuer(d: ConnectorDiscovery, opts: PolicyOptions): IssuerVerdict {
  const { connectorId, stored, first } = d
  if (!first.ok) {
    return {
      kind: 'unreachable',
      connectorId,
      stored,
      reason: first.reason,
      message: first.message,
    }
  }
  const returned = first.issuer
  if (returned === stored) return { kind: 'match', connectorId, stored }
  const refuse = (reason: RefusalReason, detail: string): IssuerVerdict => ({
    kind: 'refuse',
    connectorId,
    stored,
    returned,
    reason,
    detail,
  })
  const valid = validateIssuer(returned, opts)
  if (!valid.ok) {
    return refuse(
      'invalid_issuer',
      `the provider returns ${quoteText(returned)}, which is not a valid issuer: ${valid.problem}`,
    )
  }
  if (!sameOrigin(stored, returned)) {
    return refuse(
      'other_origin',
      `the provider returns an issuer on another origin (${quoteText(returned)})`,
    )
  }
  const second = d.second
  if (second === undefined || !second.ok || second.issuer !== returned) {
    const what =
      second === undefined
        ? 'was not asked'
        : second.ok
          ? `returns ${quoteText(second.issuer)}`
          : `fails (${second.reason}: ${second.message})`
    return refuse(
      'not_self_consistent',
      `the provider returns ${quoteText(returned)}, but discovery at that issuer ${what}`,
    )
  }
  return {
    kind: 'fix',
    connectorId,
    from: stored,
    to: returned,
    why: describeIssuerDifference(stored, returned),
  }
}

/** A one-line description of a verdict that is not a match or a fix, for logs and reports. */
export function describeVerdict(v: IssuerVerdict): string {
  switch (v.kind) {
    case 'match':
      return `${v.connectorId}: issuer ${quoteText(v.stored)} matches`
    case 'fix':
      return `${v.connectorId}: set issuer ${quoteText(v.from)} → ${quoteText(v.to)} (${v.why})`
    case 'refuse':
      return `${v.connectorId}: not rewriting: ${v.detail}`
    case 'unreachable':
      return `${v.connectorId}: discovery of ${quoteText(v.stored)} failed (${v.reason}: ${v.message})`
    case 'skipped':
      return `${v.connectorId}: skipped: ${v.detail}`
  }
}

/**
 * The same scheme and authority, as text (letter case aside): no URL parser's normalisation (escapes
 * decoded, default ports dropped, IDNA) may make two different spellings count as one origin.
 */
function sameOrigin(a: string, b: string): boolean {
  const origin = (u: string): string | undefined =>
    /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)/.exec(u)?.[1]?.toLowerCase()
  const oa = origin(a)
  return oa !== undefined && oa === origin(b)
}
