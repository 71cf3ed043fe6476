// management.json `EmbeddedIdP.StaticConnectors` (NetBird v0.67.2+): reading them, checking which of a
// repair's changes they would undo, fixing a static connector's issuer in place, and undoing that fix.
// NetBird rewrites the IdP store from these entries on every start (idp/dex/connector.go
// ensureStaticConnectors; docs/reference/netbird.md), so a store-only fix of a static connector is
// undone. The file is usually a single-file bind mount: it is rewritten in place (same inode), never
// renamed over (netbird#1154: "rename … device or resource busy").
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { basename, join } from 'node:path'
import { findMember, parseLocated, setStringMember, type JsonNode } from '../core/connector-json.js'
import { WatchdogError, errorMessage } from '../errors.js'
import { preparePrivateDir, stampOf } from '../files.js'
import { readText } from './config-files.js'

export interface StaticConnector {
  id: string
  type: string
  /** The configured issuer (raw string), when the entry has one. */
  issuer: string | undefined
}

export interface StaticIssuerEdit {
  connectorId: string
  from: string
  to: string
}

function locate(path: string, text: string): JsonNode[] {
  let root: JsonNode
  try {
    root = parseLocated(text.replace(/^\uFEFF/, ' '))
  } catch (err) {
    throw new WatchdogError(
      'MANAGEMENT_JSON_INVALID',
      `${path} is not valid JSON: ${errorMessage(err)}`,
    )
  }
  // Go's encoding/json matches field names case-insensitively; NetBird writes `EmbeddedIdP`.
  const idp = findMember(root, 'EmbeddedIdP')
  if (idp === undefined || idp === 'ambiguous' || idp.value.kind !== 'object') return []
  const list = findMember(idp.value, 'StaticConnectors')
  if (list === undefined || list === 'ambiguous' || list.value.kind !== 'array') return []
  return list.value.items
}

function stringMember(node: JsonNode, name: string): string | undefined {
  const m = findMember(node, name)
  return m !== undefined && m !== 'ambiguous' && m.value.kind === 'string'
    ? m.value.value
    : undefined
}

function configOf(node: JsonNode): JsonNode | undefined {
  const m = findMember(node, 'config')
  return m !== undefined && m !== 'ambiguous' && m.value.kind === 'object' ? m.value : undefined
}

function toStatic(node: JsonNode): StaticConnector | undefined {
  const id = stringMember(node, 'id')
  if (id === undefined) return undefined
  const config = configOf(node)
  return {
    id,
    type: stringMember(node, 'type') ?? '',
    issuer: config === undefined ? undefined : stringMember(config, 'issuer'),
  }
}

/** The static connectors declared in management.json (an empty list when there are none). */
export function readStaticConnectors(path: string): StaticConnector[] {
  const text = readText(path)
  return locate(path, text)
    .map(toStatic)
    .filter((c): c is StaticConnector => c !== undefined)
}

export interface StaticChange {
  readonly connectorId: string
  readonly to: string
  /** Change only if the entry still holds exactly this issuer (undoing our own edit). */
  readonly expectFrom?: string
}

/** Pure planning step: the new file text with each listed connector's issuer changed, nothing else. */
export function planStaticIssuerEdits(
  path: string,
  text: string,
  changes: readonly StaticChange[],
): { text: string; edits: StaticIssuerEdit[] } {
  let out = text
  const edits: StaticIssuerEdit[] = []
  for (const change of changes) {
    // Re-locate after every edit: offsets after the first splice have moved.
    const entry = locate(path, out).find((n) => stringMember(n, 'id') === change.connectorId)
    if (entry === undefined) continue
    const config = configOf(entry)
    if (config === undefined) {
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `${path}: static connector ${JSON.stringify(change.connectorId)} has no config object`,
      )
    }
    if (change.expectFrom !== undefined && stringMember(config, 'issuer') !== change.expectFrom) {
      continue
    }
    const res = setStringMember(out, config, 'issuer', change.to)
    if (!res.ok) {
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `${path}: cannot change the issuer of static connector ${JSON.stringify(change.connectorId)} (${res.reason})`,
      )
    }
    if (res.from.includes('$') || res.from.includes('{{')) {
      // NetBird substitutes environment variables in management.json (util.ReadJsonWithEnvSub).
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `${path}: the issuer of static connector ${JSON.stringify(change.connectorId)} comes from an environment variable; fix the variable instead`,
      )
    }
    if (res.changed) edits.push({ connectorId: change.connectorId, from: res.from, to: change.to })
    out = res.text
  }
  return { text: out, edits }
}

/**
 * Check, writing nothing: the static connectors among `changes` whose issuer in management.json differs
 * from the new one. NetBird writes these entries back into the IdP store on every start, so fixing the
 * store alone would be undone. Throws REPAIR_REFUSED when an entry cannot be changed at all.
 */
export function checkStaticConnectors(
  path: string,
  changes: readonly StaticChange[],
): StaticIssuerEdit[] {
  return planStaticIssuerEdits(path, readText(path), changes).edits
}

/**
 * Fix: change the issuers in management.json. The current file is first copied into `backupDir`
 * (created 0600, verified), then management.json is rewritten in place (same inode: open r+, write,
 * truncate, fsync). Returns the backup path (null when nothing needed changing) and the edits made.
 */
export function fixStaticConnectors(
  path: string,
  changes: readonly StaticChange[],
  opts: { backupDir: string; now?: Date },
): { backup: string | null; edits: StaticIssuerEdit[] } {
  const before = readText(path)
  const plan = planStaticIssuerEdits(path, before, changes)
  if (plan.edits.length === 0) return { backup: null, edits: [] }
  const backup = join(opts.backupDir, `${basename(path)}.${stampOf(opts.now ?? new Date())}.bak`)
  try {
    preparePrivateDir(opts.backupDir)
    writeDurably(backup, before, 'wx')
  } catch (err) {
    throw new WatchdogError('BACKUP_FAILED', `cannot back up ${path}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  if (sha256(readText(backup)) !== sha256(before)) {
    throw new WatchdogError('BACKUP_VERIFY_FAILED', `backup of ${path} does not match the original`)
  }
  try {
    writeDurably(path, plan.text, 'r+')
  } catch (err) {
    try {
      writeDurably(path, before, 'r+')
    } catch {
      // Reported below: the message names the backup to restore by hand.
    }
    throw new WatchdogError(
      'REPAIR_FAILED',
      `cannot rewrite ${path} (its backup is ${backup}): ${errorMessage(err)}`,
      { cause: err },
    )
  }
  return { backup, edits: plan.edits }
}

/** Undo `edits` made by fixStaticConnectors, each only where the entry still holds the value written. */
export function revertStaticConnectors(
  path: string,
  edits: readonly StaticIssuerEdit[],
  opts: { backupDir: string; now?: Date },
): { backup: string | null; edits: StaticIssuerEdit[] } {
  return fixStaticConnectors(
    path,
    edits.map((e) => ({ connectorId: e.connectorId, to: e.from, expectFrom: e.to })),
    opts,
  )
}

function writeDurably(path: string, text: string, flags: 'wx' | 'r+'): void {
  const data = Buffer.from(text, 'utf8')
  const fd = openSync(path, flags, 0o600)
  try {
    let off = 0
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, off)
    ftruncateSync(fd, data.length)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
