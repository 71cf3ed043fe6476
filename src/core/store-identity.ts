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
