// Which IdP store the configuration names, opened as the port (store/port.ts): NetBird's SQLite
// idp.db by default. Where its backups go: `backups.dir`, else next to idp.db.
import type { Config } from '../config/schema.js'
import { defaultBackupDir } from './backup-files.js'
import type { IdpStore } from './port.js'
import { SqliteStore } from './sqlite/store.js'

export function openStore(idp: Config['idp']): IdpStore {
  return new SqliteStore(idp.dbPath, { busyTimeoutMs: idp.busyTimeoutMs })
}

export function storeBackupDir(config: Pick<Config, 'idp' | 'backups'>): string {
  return config.backups.dir ?? defaultBackupDir(config.idp.dbPath)
}
