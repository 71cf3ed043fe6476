// Planning issuer edits against the connector rows a transaction locked: which rows change, into what
// exact text (only the `issuer` value, every other byte kept: core/connector-json.ts), and which
// requested changes no longer apply because the stored value moved on since the caller looked. Pure.
//
// Every edited row also gets a new `resource_version` (`nextResourceVersion`): Dex keeps a connector it
// opened in memory until the stored version differs from the one it opened (server.go getConnector,
// docs/reference/netbird.md, "Dex at login"), and NetBird always writes ''. A new version is what makes
// a running Dex pick the fix up at the next login, without a restart.
//
// A change may name the value it expects to replace (`expectFrom`): a repair planned from discovery,
// and every rollback, only write where the row still holds that value — a connector someone edited in
// the dashboard meanwhile is left alone (compare-and-set). An operator's explicit `--issuer` has none.
import { connectorIssuer, isOidcConnector, issuerProblem, type ConnectorRow } from './connectors.js'
import { setConnectorIssuerBytes } from './connector-json.js'
import { WatchdogError } from '../errors.js'
import type { IssuerVerdict } from './issuer-policy.js'
import { quoteText, validateIssuer } from './issuer.js'

export interface IssuerChange {
  readonly connectorId: string
  readonly to: string
  /** Write only if the stored issuer is exactly this (compare-and-set). */
  readonly expectFrom?: string
}

/** One changed value, as reported (JSON output, logs, webhook, rollback input). */
export interface RepairChange {
  readonly connectorId: string
  readonly field: 'issuer'
  readonly from: string
  readonly to: string
}

export interface PlannedEdit {
  readonly row: ConnectorRow
  readonly from: string
  readonly to: string
  /** The config after the edit: its exact bytes (only the issuer's value differs) and as text. */
  readonly newBytes: Uint8Array
  readonly newText: string
  /** The `resource_version` written with it: one the row does not hold (Dex reopens the connector). */
  readonly resourceVersion: string
}

/** A change that was not made because the row no longer holds the expected value. */
export interface StaleChange {
  readonly connectorId: string
  readonly expected: string
  /** What the row holds now (undefined: no issuer any more, or the connector is gone). */
  readonly found: string | undefined
}

export interface EditPlan {
  readonly edits: readonly PlannedEdit[]
  readonly stale: readonly StaleChange[]
}

/**
 * Check the requested changes before anything is opened: ids present and unique, every new value a
 * valid issuer. Throws USAGE; the message names the connector, never the offending value.
 */
export function validateChanges(
  changes: readonly IssuerChange[],
  opts: { allowInsecure: boolean },
): void {
  const seen = new Set<string>()
  for (const c of changes) {
    if (c.connectorId === '') throw new WatchdogError('USAGE', 'empty connector id')
    if (seen.has(c.connectorId)) {
      throw new WatchdogError('USAGE', `connector ${quoteText(c.connectorId)} given twice`)
    }
    seen.add(c.connectorId)
    const valid = validateIssuer(c.to, opts)
    if (!valid.ok) {
      throw new WatchdogError(
        'USAGE',
        `the new issuer for connector ${quoteText(c.connectorId)} is not valid: ${valid.problem}`,
      )
    }
  }
}

/**
 * The edits to make. Throws for a change that can never apply (unknown connector, unusable config,
 * no issuer to edit); a compare-and-set change whose row moved on is returned as stale instead.
 */
export function planEdits(
  rows: readonly ConnectorRow[],
  changes: readonly IssuerChange[],
): EditPlan {
  const edits: PlannedEdit[] = []
  const stale: StaleChange[] = []
  for (const c of changes) {
    const row = rows.find((r) => r.id === c.connectorId)
    if (row === undefined) {
      if (c.expectFrom !== undefined) {
        stale.push({ connectorId: c.connectorId, expected: c.expectFrom, found: undefined })
        continue
      }
      throw new WatchdogError(
        'CONNECTOR_NOT_FOUND',
        `no connector ${quoteText(c.connectorId)} (have: ${rows.map((r) => r.id).join(', ')})`,
      )
    }
    if (row.configError !== undefined) {
      // Never quotes the config (it may hold a client secret); Dex skips this connector too.
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${row.configError}; not changing it (restore a backup with \`netbird-watchdog backups restore\` or re-create the connector in the dashboard)`,
      )
    }
    const from = connectorIssuer(row)
    if (c.expectFrom !== undefined && from !== c.expectFrom) {
      stale.push({ connectorId: c.connectorId, expected: c.expectFrom, found: from })
      continue
    }
    if (!isOidcConnector(row) || row.rawConfig === null) {
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `connector ${quoteText(row.id)} (type ${row.type}) has no issuer to repair`,
      )
    }
    // A number, null, no issuer at all, or several keys Go reads as one: bad input, said as such.
    const problem = issuerProblem(row)
    if (problem !== undefined || from === undefined) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${problem ?? `connector ${quoteText(row.id)} has no usable issuer`}; not changing it`,
      )
    }
    const bytes = row.configBytes ?? utf8Encoder.encode(row.rawConfig)
    const edit = setConnectorIssuerBytes(bytes, c.to)
    if (!edit.ok) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `connector ${quoteText(row.id)}: cannot locate its issuer (${edit.reason})`,
      )
    }
    if (edit.changed) {
      edits.push({
        row,
        from: edit.from,
        to: c.to,
        newBytes: edit.bytes,
        newText: utf8Decoder.decode(edit.bytes),
        resourceVersion: nextResourceVersion(row.resourceVersion),
      })
    }
  }
  return { edits, stale }
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()

export function toChange(e: PlannedEdit): RepairChange {
  return { connectorId: e.row.id, field: 'issuer', from: e.from, to: e.to }
}

/** The rows as they must read after the edits: only the edited rows' config text differs. */
export function expectedAfter(
  before: readonly ConnectorRow[],
  edits: readonly PlannedEdit[],
): ConnectorRow[] {
  return before.map((r) => {
    const e = edits.find((p) => p.row.id === r.id)
    if (e === undefined) return r
    return {
      ...r,
      resourceVersion: e.resourceVersion,
      rawConfig: e.newText,
      configBytes: e.newBytes,
      config: JSON.parse(e.newText) as Record<string, unknown>,
      issuer: undefined,
    }
  })
}

/**
 * The version written with an edit: the stored one plus one when it is a decimal number, else "1"
 * (NetBird writes '' for every connector it creates or updates). Dex only compares versions for
 * equality, so any value other than the stored one makes it reopen the connector; a counter keeps the
 * history readable (a repair writes "1", its rollback "2").
 */
export function nextResourceVersion(current: string): string {
  return /^\d{1,15}$/.test(current) ? String(Number(current) + 1) : '1'
}

/**
 * The changes the issuer policy's verdicts ask for — the one mapping `repair --discover` and the
 * self-healing flow share: a fix's value, compare-and-set (a connector edited since discovery looked
 * at it is left alone); with `checkStatics` (a management.json is given), also a no-op for a connector
 * that matches, so that a static entry there that still holds another issuer is found and fixed too
 * (NetBird writes static connectors into the store on every start).
 */
export function changesFor(
  verdicts: readonly IssuerVerdict[],
  opts: { readonly checkStatics: boolean },
): IssuerChange[] {
  return verdicts.flatMap((v): IssuerChange[] => {
    if (v.kind === 'fix') return [{ connectorId: v.connectorId, to: v.to, expectFrom: v.from }]
    if (v.kind === 'match' && opts.checkStatics) {
      return [{ connectorId: v.connectorId, to: v.stored, expectFrom: v.stored }]
    }
    return []
  })
}

/** The changes that undo `applied`, each only where the row still holds the value written. */
export function revertChanges(applied: readonly RepairChange[]): IssuerChange[] {
  return applied.map((c) => ({ connectorId: c.connectorId, to: c.from, expectFrom: c.to }))
}
