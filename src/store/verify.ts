// Verifying a backup file against its manifest, whatever engine wrote it, without opening the store it
// came from (`backups verify` needs only the backup directory).
import { engineOf, type BackupInfo, type VerifyResult } from './backup-files.js'
import { verifyPostgresBackup } from './postgres/backup.js'
import { verifySqliteBackup } from './sqlite/backup.js'

export async function verifyBackupFile(info: BackupInfo): Promise<VerifyResult> {
  switch (engineOf(info.manifest)) {
    case 'sqlite':
      return verifySqliteBackup(info)
    case 'postgres':
      return verifyPostgresBackup(info)
  }
}
