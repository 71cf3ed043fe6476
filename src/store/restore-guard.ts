// Restoring the wrong database is refused: a backup's manifest records what store it was taken of
// (its name, its instance and its connector ids), and `backups restore` puts it back only over that
// same store — recognised by what it is (core/store-identity.ts), not by the path or host:port/dbname
// it is reached by — unless the operator says --force. Engines never mix, not even with --force.
import { sameStore, type StoreFacts } from '../core/store-identity.js'
import { WatchdogError } from '../errors.js'
import { engineOf, type BackupInfo } from './backup-files.js'
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
  const here: StoreIdentity = await store.identify()
  const verdict = sameStore(recordedStore(info), {
    engine: here.engine,
    name: store.identity,
    ...(here.instance !== undefined ? { instance: here.instance } : {}),
    ...(here.connectors !== undefined ? { connectors: here.connectors } : {}),
  })
  if (verdict.same || force) return
  throw new WatchdogError(
    'RESTORE_REFUSED',
    `backup ${info.id} was taken of ${info.manifest.source}, not of ${store.identity}: ${verdict.why}. Not restoring another database over this one. If they are the same database (seen from another mount, moved, or its connectors all replaced since), add --force.`,
  )
}
