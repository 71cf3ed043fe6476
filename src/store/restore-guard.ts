// Restoring the wrong database is refused: a backup's manifest names the store it was taken of, and
// `backups restore` puts it back only over that same store — the same path, or the same SQLite file
// seen under another mount path (same device and inode: the sidecar's /var/lib/netbird/idp.db and the
// host's volume path) — unless the operator says --force. Engines never mix.
import { WatchdogError } from '../errors.js'
import { engineOf, type BackupInfo } from './backup-files.js'
import type { IdpStore } from './port.js'
import { fileIdentity } from './sqlite/backup.js'

export function assertSameStore(info: BackupInfo, store: IdpStore, force: boolean): void {
  const engine = engineOf(info.manifest)
  if (engine !== store.engine) {
    throw new WatchdogError(
      'RESTORE_REFUSED',
      `backup ${info.id} is of a ${engine} store; ${store.label} is ${store.engine}: not restoring`,
    )
  }
  if (info.manifest.source === store.identity) return
  const here = store.engine === 'sqlite' ? fileIdentity(store.identity) : undefined
  if (here !== undefined && info.manifest.sourceFile === here) return
  if (force) return
  throw new WatchdogError(
    'RESTORE_REFUSED',
    `backup ${info.id} was taken of ${info.manifest.source}, not of ${store.identity}: not restoring another database over this one. If they are the same database (seen from another mount, or moved), add --force.`,
  )
}
