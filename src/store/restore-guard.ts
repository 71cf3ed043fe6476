// Restoring the wrong database is refused: a backup's manifest records what store it was taken of
// (its name, its instance and its connector ids), and `backups restore` puts it back only over that
// same store — recognised by what it is (core/store-identity.ts), not by the path or host:port/dbname
// it is reached by — unless the operator says --force. Engines never mix, not even with --force.
// Also which backup records the store as it was last kept (`lastKeptBackup`), and the store compared
// with it (`compareWithLastKept`): whether it was lost or replaced (heal/store-watch.ts, doctor).
import {
  lastKept,
  sameStore,
  storeAdvice,
  storeChange,
  type StoreAdvice,
  type StoreArgs,
  type StoreChange,
  type StoreFacts,
} from '../core/store-identity.js'
import { WatchdogError } from '../errors.js'
import { engineOf, listBackups, type BackupInfo } from './backup-files.js'
import type { IdpStore, StoreIdentity } from './port.js'

/** What a backup's manifest says about the store it was taken of. */
export function recordedStore(info: BackupInfo): StoreFacts {
  const m = info.manifest
  const instance = m.instance ?? m.sourceFile
  return {
    engine: engineOf(m),
    name: m.source,
    ...(instance !== undefined ? { instance } : {}),
    connectors: m.connectors,
  }
}

/** What `store` is, as `sameStore` compares it with a backup's record (`here`: its `identify()`). */
export function currentStore(store: IdpStore, here: StoreIdentity): StoreFacts {
  return {
    engine: here.engine,
    name: store.identity,
    ...(here.instance !== undefined ? { instance: here.instance } : {}),
    ...(here.connectors !== undefined ? { connectors: here.connectors } : {}),
  }
}

/**
 * The backup that records the store as it was last kept (core/store-identity.ts `lastKept`): the
 * newest taken on schedule or by an operator (`backups create`, any `--reason`), not a safety copy
 * taken just before a change (so a repair or a restore, even one that fails half-way, cannot make a
 * replaced store look kept), and not a scheduled one of a store found replaced against it.
 */
export function lastKeptBackup(dir: string): BackupInfo | undefined {
  return lastKeptOf(listBackups(dir))
}

/** `lastKeptBackup` of backups already listed (newest first, as `listBackups` gives them). */
export function lastKeptOf(newestFirst: readonly BackupInfo[]): BackupInfo | undefined {
  const oldestFirst = [...newestFirst].reverse()
  const i = lastKept(
    oldestFirst.map((b) => ({ reason: b.manifest.reason, facts: recordedStore(b) })),
  )
  return i >= 0 ? oldestFirst[i] : undefined
}

/** Throws RESTORE_REFUSED, naming both stores, unless `info` was taken of `store` (or `force`). */
export async function assertSameStore(
  info: BackupInfo,
  store: IdpStore,
  force: boolean,
): Promise<void> {
  const engine = engineOf(info.manifest)
  if (engine !== store.engine) {
    throw new WatchdogError(
      'RESTORE_REFUSED',
      `backup ${info.id} is of a ${engine} store; ${store.label} is ${store.engine}: not restoring`,
    )
  }
  const verdict = sameStore(recordedStore(info), currentStore(store, await store.identify()))
  if (verdict.same || force) return
  throw new WatchdogError(
    'RESTORE_REFUSED',
    `backup ${info.id} was taken of ${info.manifest.source}, not of ${store.identity}: ${verdict.why}. Not restoring another database over this one. If they are the same database (seen from another mount, moved, or its connectors all replaced since), add --force.`,
  )
}

/** The store compared with the last kept backup of a directory. */
export interface KeptComparison {
  readonly backup: BackupInfo
  /** What changed since; undefined when the store's connectors cannot be read now. */
  readonly change?: StoreChange
  /** The restore command (with --force exactly when `assertSameStore` would need it) and the rest. */
  readonly advice?: StoreAdvice
}

/** Undefined when `dir` holds no kept backup. Reads only. */
export async function compareWithLastKept(
  store: IdpStore,
  dir: string,
  args: StoreArgs,
): Promise<KeptComparison | undefined> {
  const backup = lastKeptBackup(dir)
  if (backup === undefined) return undefined
  const here = await store.identify()
  if (here.connectors === undefined) return { backup }
  const recorded = recordedStore(backup)
  const current = { ...currentStore(store, here), connectors: here.connectors }
  return {
    backup,
    change: storeChange(recorded, current),
    advice: storeAdvice({
      backupId: backup.id,
      backupEngine: engineOf(backup.manifest),
      store: args,
      backupDir: dir,
      force: !sameStore(recorded, current).same,
    }),
  }
}
