// Doctor's `store-matches-backup`: whether the IdP store still holds what the last kept backup in a
// backup directory holds — the daemon's check for a lost or replaced store (heal/store-watch.ts), run
// once. The facts are gathered by doctor/run-doctor.ts; the judgement and the commands come from
// core/store-identity.ts. Pure.
import type { StoreAdvice, StoreChange } from '../store-identity.js'
import { fail, pass, skip, subject, warn, type CheckResult } from './check.js'

export interface StoreBackupFacts {
  /** The store doctor read: its path, or `postgres://user@host:port/dbname`. */
  readonly label: string
  readonly backupDir: string
  /** The last kept backup (store/restore-guard.ts lastKeptBackup); undefined when there is none. */
  readonly backup?: {
    readonly id: string
    readonly createdAt: string
    readonly engine: 'sqlite' | 'postgres'
  }
  /** What changed since; undefined when the store's connectors could not be read. */
  readonly change?: StoreChange
  readonly advice?: StoreAdvice
}

export function evaluateStoreMatchesBackup(f: StoreBackupFacts): CheckResult {
  const s = subject('store-matches-backup', 'embedded-idp', `IdP store ${f.label}`)
  const b = f.backup
  if (b === undefined) return skip(s, `no backup in ${f.backupDir} to compare with`)
  if (f.change === undefined || f.advice === undefined) {
    return skip(s, `its connectors could not be read: not compared with backup ${b.id}`)
  }
  const change = f.change
  const a = f.advice
  const of = `backup ${b.id} (${b.createdAt})`
  const ids = 'missing' in change ? change.missing.join(', ') : ''
  const restore =
    a.command === undefined
      ? `backup ${b.id} is of a ${b.engine} store and cannot be restored into this one: point NetBird back at the store it was taken of, or create the connectors again`
      : `${a.command}${a.note}${a.force ? ' (--force: this is another database than the backup was taken of, which the restore guard refuses without it)' : ''}, then restart NetBird`
  const keep = `or, to keep the store as it is, take a backup of it: ${a.keep}`
  switch (change.kind) {
    case 'unchanged':
      return pass(s, `holds every connector of ${of}`)
    case 'other-store':
      return pass(
        s,
        `another store than ${of} was taken of (${change.why}), holding every connector it holds: nothing is lost (moved, migrated or restored)`,
      )
    case 'connectors-removed':
      return warn(
        s,
        `connector(s) gone since ${of}: ${ids}; the same store, others still there — as when an identity provider is deleted in NetBird's dashboard`,
        `If that was not on purpose: ${restore} (it puts back the whole store as it was at that backup; the store as it is now is backed up first).`,
      )
    case 'connectors-gone':
      return fail(
        s,
        `every connector ${of} holds is gone: ${ids} — the same store by what identifies it (an idp.db deleted and created again can be), so SSO logins fail for everyone`,
        `${restore}; ${keep}.`,
      )
    case 'replaced':
      return fail(
        s,
        `not the store ${of} was taken of (${change.why}), and it lacks connector(s) that backup holds: ${ids} — every SSO login through them fails ("Invalid credentials"): the store was lost or replaced`,
        `${restore}; ${keep}.`,
      )
  }
}
