// Whether a backup was taken of this store — decided by what the store is, not by the name it was
// reached by: the same path (or host:port/dbname) can hold another database after a volume was
// replaced, a file was copied over it, or a database was dropped and re-created. Pure: the store
// adapters gather the facts (store/port.ts `identify`), backups record them in their manifests.
//
// - PostgreSQL: the instance (`<system identifier>/<database OID>`) decides; the system identifier is
//   compared only when both sides have one (a role may not be allowed to read it).
// - SQLite: the content decides when it can — a connector id other than NetBird's `local` is a random
//   xid, so two stores sharing one are the same NetBird installation (a copy or a move of the file is
//   the same store), and two holding only different ones are not (even through the same inode, after
//   a copy over it). When the content cannot decide (a damaged file, only `local` on either side), the
//   file's identity (`dev:ino`) does.
// - A manifest without an instance (written before it was recorded) falls back to the content, then
//   to the name.
// And what became of the store a backup was taken of (`storeChange`, `lastKept`), and what to tell an
// operator about it (`storeAdvice`, `describeStoreChange`): the daemon's check that the store was lost
// or replaced (heal/store-watch.ts) and doctor's `store-matches-backup`.
import { shellQuote } from './checks/check.js'

/** The kinds of IdP store: NetBird's idp.db, or Dex's tables in PostgreSQL (v0.66.1+). */
export type StoreEngine = 'sqlite' | 'postgres'

export interface StoreFacts {
  readonly engine: StoreEngine
  /** The name it was reached by: a manifest's `source`, or the store's label. */
  readonly name: string
  readonly instance?: string
  readonly connectors?: readonly string[]
}

export type SameStore = { readonly same: true } | { readonly same: false; readonly why: string }

/** Connector ids that identify an installation: every id but NetBird's own `local`. */
function distinctive(ids: readonly string[] | undefined): Set<string> | undefined {
  return ids === undefined ? undefined : new Set(ids.filter((id) => id !== 'local'))
}

function byContent(backup: StoreFacts, here: StoreFacts): SameStore | undefined {
  const b = distinctive(backup.connectors)
  const h = distinctive(here.connectors)
  if (b === undefined || h === undefined || b.size === 0 || h.size === 0) return undefined
  for (const id of b) if (h.has(id)) return { same: true }
  return {
    same: false,
    why: 'it holds none of the connectors the backup holds (another NetBird installation)',
  }
}

export function sameStore(backup: StoreFacts, here: StoreFacts): SameStore {
  if (backup.engine !== here.engine) {
    return { same: false, why: `the backup is of a ${backup.engine} store, this is ${here.engine}` }
  }
  if (backup.engine === 'postgres' && backup.instance !== undefined) {
    if (here.instance === undefined) {
      return { same: false, why: 'which database this is could not be asked' }
    }
    const [bSystem = '', bOid = ''] = backup.instance.split('/')
    const [hSystem = '', hOid = ''] = here.instance.split('/')
    if (bSystem !== '' && hSystem !== '' && bSystem !== hSystem) {
      return {
        same: false,
        why: `another PostgreSQL cluster (system identifier ${hSystem}, the backup's ${bSystem})`,
      }
    }
    if (bOid !== hOid) {
      return {
        same: false,
        why: `another database (OID ${hOid}, the backup's ${bOid}: dropped and re-created, or another one of that name)`,
      }
    }
    return { same: true }
  }
  const content = byContent(backup, here)
  if (content !== undefined) return content
  if (backup.instance !== undefined) {
    if (here.instance === backup.instance) return { same: true }
    return {
      same: false,
      why:
        here.instance === undefined
          ? 'there is no such file'
          : `another file (device:inode ${here.instance}, the backup's ${backup.instance}), and its connectors do not show it is the same database`,
    }
  }
  return backup.name === here.name
    ? { same: true }
    : { same: false, why: 'the backup records another name and nothing that shows it is this one' }
}

/**
 * What became of the store a backup was taken of, judged by the connectors that backup holds (NetBird's
 * own `local` aside: NetBird re-creates it on every start) and by whether this is the same store:
 *
 * - `replaced` (critical): another store — a volume recreated, a database dropped and re-created, a
 *   config pointing elsewhere — and connectors the backup holds are not in it. Every SSO login through
 *   them fails.
 * - `connectors-gone` (critical): the same store, but every connector the backup holds is gone. SSO is
 *   down for everyone, whoever deleted them; an idp.db deleted and re-created can even get the old
 *   file's inode back, which makes it look like the same store.
 * - `connectors-removed` (warning): the same store, some connectors gone and others still there — what
 *   deleting an identity provider in NetBird's dashboard does. Not a page: the other connectors work,
 *   and the next scheduled backup records the new set.
 * - `other-store` (info): another store that holds every connector the backup holds (moved, migrated,
 *   or restored into a re-created database): nothing is lost.
 * - `unchanged`: the same store, nothing missing (connectors added since do not matter).
 */
export type StoreChange =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'other-store'; readonly why: string }
  | { readonly kind: 'connectors-removed'; readonly missing: readonly string[] }
  | { readonly kind: 'connectors-gone'; readonly missing: readonly string[] }
  | { readonly kind: 'replaced'; readonly missing: readonly string[]; readonly why: string }

export type StoreChangeKind = StoreChange['kind']

/** `here.connectors` must be known: a store whose connectors cannot be read is not judged. */
export function storeChange(
  backup: StoreFacts,
  here: StoreFacts & { readonly connectors: readonly string[] },
): StoreChange {
  const held = [...(distinctive(backup.connectors) ?? [])]
  const present = distinctive(here.connectors) ?? new Set<string>()
  const missing = held.filter((id) => !present.has(id))
  const verdict = sameStore(backup, here)
  if (missing.length === 0) {
    return verdict.same ? { kind: 'unchanged' } : { kind: 'other-store', why: verdict.why }
  }
  if (!verdict.same) return { kind: 'replaced', missing, why: verdict.why }
  if (missing.length === held.length) return { kind: 'connectors-gone', missing }
  return { kind: 'connectors-removed', missing }
}

/** Whether a change locks SSO users out: an alert, and no scheduled backup that would hide it. */
export function isCritical(change: StoreChange): boolean {
  return change.kind === 'replaced' || change.kind === 'connectors-gone'
}

/** How a printed command names a store (never with a password). */
export interface StoreArgs {
  readonly engine: 'sqlite' | 'postgres'
  /** The idp.db path, or `postgres://user@host:port/dbname`. */
  readonly label: string
  /** NetBird's config file the PostgreSQL DSN was read from: the command reads it there too. */
  readonly dsnFile?: { readonly flag: '--config-yaml' | '--management-json'; readonly path: string }
}

/** The store's flags of a printed command, and what a placeholder in them stands for ('' if none). */
export function storeFlags(store: StoreArgs): { readonly args: string; readonly note: string } {
  if (store.engine === 'sqlite') return { args: `--db ${shellQuote(store.label)}`, note: '' }
  if (store.dsnFile !== undefined) {
    return { args: `${store.dsnFile.flag} ${shellQuote(store.dsnFile.path)}`, note: '' }
  }
  return {
    args: '--db "$IDP_DSN"',
    note: ` (IDP_DSN: the DSN of ${store.label}, password and sslmode included)`,
  }
}

/** A backup as `lastKept` weighs it: why it was taken, and what its manifest records. */
export interface KeptCandidate {
  readonly reason: string
  readonly facts: StoreFacts
}

/**
 * Backups the watchdog takes by itself just before it changes the store (a repair, a rollback, a
 * restore): copies for undoing that change, of whatever store is there at that moment — never a sign
 * that it is the store to keep.
 */
export const safetyCopyReasons: ReadonlySet<string> = new Set([
  'pre-repair',
  'pre-rollback',
  'pre-restore',
])

/**
 * Which backup records the store as it was last kept — the one a replaced store is told by — given the
 * backups oldest first (by sequence); -1 when none does. A backup taken by an operator (`manual`, or
 * any reason of theirs) always does: taking one is how a new store is accepted. A safety copy never
 * does. A scheduled backup does unless, against the one kept before it, it shows the store replaced
 * or emptied: the daemon holds its scheduled backup back while that stands, so such a backup was taken
 * while the store was being replaced (between the check and the copy) or by a watchdog that did not
 * look — counting it would make the replaced store look kept.
 */
export function lastKept(backups: readonly KeptCandidate[]): number {
  let kept = -1
  backups.forEach((b, i) => {
    if (safetyCopyReasons.has(b.reason)) return
    const before = kept >= 0 ? backups[kept] : undefined
    if (b.reason === 'scheduled' && before !== undefined && b.facts.connectors !== undefined) {
      const change = storeChange(before.facts, { ...b.facts, connectors: b.facts.connectors })
      if (isCritical(change)) return
    }
    kept = i
  })
  return kept
}

/** What to tell an operator about a change: the restore command (or why there is none), how to keep it. */
export interface StoreAdvice {
  /** `netbird-watchdog backups restore …`; undefined when the backup is of the other engine. */
  readonly command?: string
  /** What a placeholder in the commands stands for ('' if none). */
  readonly note: string
  /** The restore guard would refuse the backup without --force (it is of another store). */
  readonly force: boolean
  /** `netbird-watchdog backups create …`: records the store as it is now, and so accepts it. */
  readonly keep: string
}

export function storeAdvice(o: {
  readonly backupId: string
  readonly backupEngine: 'sqlite' | 'postgres'
  readonly store: StoreArgs
  readonly backupDir: string
  /** Whether `sameStore` says the backup is of another store (the restore guard's own test). */
  readonly force: boolean
}): StoreAdvice {
  const flags = storeFlags(o.store)
  const dir = `--backup-dir ${shellQuote(o.backupDir)}`
  return {
    ...(o.backupEngine === o.store.engine
      ? {
          command: `netbird-watchdog backups restore ${shellQuote(o.backupId)} ${flags.args} ${dir}${o.force ? ' --force' : ''}`,
        }
      : {}),
    note: flags.note,
    force: o.force,
    keep: `netbird-watchdog backups create ${flags.args} ${dir}`,
  }
}

/** The one sentence about a change (the daemon's log line, its webhook text, doctor's message). */
export function describeStoreChange(
  change: Exclude<StoreChange, { kind: 'unchanged' }>,
  c: {
    readonly label: string
    readonly backupId: string
    readonly backupEngine: 'sqlite' | 'postgres'
    readonly advice: StoreAdvice
  },
): string {
  const id = c.backupId
  const ids = 'missing' in change ? change.missing.join(', ') : ''
  const a = c.advice
  const restore =
    a.command === undefined
      ? `Backup ${id} is of a ${c.backupEngine} store and cannot be restored into this one: point NetBird back at the store it was taken of, or create the connectors again.`
      : `To restore them: ${a.command}${a.note} — ${a.force ? '--force because this is not the database the backup was taken of, which the restore guard refuses without it' : 'no --force: the restore guard recognises this store as the one the backup was taken of'}; the store as it is now is backed up first; then restart NetBird.`
  const keep = `To keep this store as it is instead, take a backup of it: ${a.keep}. Until one or the other, the scheduled backup and retention are held back, so that ${id} stays.`
  switch (change.kind) {
    case 'replaced':
      return `IdP STORE REPLACED: ${c.label} is not the store backup ${id} was taken of (${change.why}), and it lacks connector(s) that backup holds: ${ids}. Every SSO login through them fails ("Invalid credentials"). Nothing was restored or changed. ${restore} ${keep}`
    case 'connectors-gone':
      return `IdP STORE EMPTIED: every connector backup ${id} holds is gone from ${c.label}: ${ids} (it is the same store by what identifies it, as an idp.db deleted and created again can be, or every identity provider was deleted). SSO logins fail for everyone. Nothing was restored or changed. ${restore} ${keep}`
    case 'connectors-removed':
      return `connector(s) gone from the IdP store ${c.label} since backup ${id}: ${ids}. The same store, other connectors still there: as when an identity provider is deleted in NetBird's dashboard. If that was not on purpose: ${a.command === undefined ? restore : `${a.command}${a.note} (it puts back the whole store as it was at that backup; the store as it is now is backed up first), then restart NetBird`}. The next scheduled backup records the store as it is now.`
    case 'other-store':
      return `the IdP store ${c.label} is not the one backup ${id} was taken of (${change.why}), but it holds every connector that backup holds (moved, migrated, or restored into a new database): nothing is lost. The next scheduled backup records it.`
  }
}
