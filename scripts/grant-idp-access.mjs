// One-shot helper run as root before the watchdog (the compose files' netbird-watchdog-init, with
// only CAP_CHOWN and CAP_FOWNER). NetBird writes idp.db as root; the watchdog runs as 1000:1000.
// This gives the watchdog's group read-write access to idp.db, its -wal/-shm/-journal files and
// their folder (SQLite creates journal files next to the database), and changes no owner. NetBird
// keeps full access, and SQLite gives the journal files it creates later idp.db's owner and mode,
// so the access survives NetBird's restarts. Idempotent; prints one line per path it changed.
import { chmodSync, chownSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import process from 'node:process'

const gid = Number(process.env.NETBIRD_WATCHDOG_GID ?? '1000')
const db = process.env.NETBIRD_WATCHDOG_IDP_DB ?? '/var/lib/netbird/idp.db'
const paths = [dirname(db), db, `${db}-wal`, `${db}-shm`, `${db}-journal`]

for (const path of paths) {
  let st
  try {
    st = statSync(path)
  } catch (err) {
    if (err.code === 'ENOENT') continue
    throw err
  }
  // Folder: list, enter and create (rwx); files: read and write (rw).
  const want = st.isDirectory() ? 0o070 : 0o060
  const changes = []
  if (st.gid !== gid) {
    chownSync(path, st.uid, gid)
    changes.push(`group ${st.gid} -> ${gid}`)
  }
  if ((st.mode & want) !== want) {
    chmodSync(path, (st.mode & 0o7777) | want)
    changes.push(
      `mode ${(st.mode & 0o7777).toString(8)} -> ${((st.mode & 0o7777) | want).toString(8)}`,
    )
  }
  if (changes.length > 0) process.stdout.write(`grant-idp-access: ${path}: ${changes.join(', ')}\n`)
}
if (!paths.slice(1).some((p) => exists(p))) {
  process.stdout.write(
    `grant-idp-access: ${db} does not exist yet; run this again after NetBird created it\n`,
  )
}

function exists(path) {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}
