// Backups, round two: a backup directory the watchdog did not create keeps its mode (a shared one is
// refused), retention orders backups by a sequence that does not trust the wall clock, and a restore
// recognises a store by what it is, not by its name. Real idp.db files and the real CLI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from './helpers/cli.js'
import { createIdpDb, jumpcloudId } from './helpers/idp-fixture.js'

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-backups-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// ---- 12. a shared backup directory ----

test('--backup-dir on a shared 1777 directory: refused (exit 2) by backups create and repair, its mode and contents untouched', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const shared = join(dir, 'shared-tmp')
  mkdirSync(shared)
  chmodSync(shared, 0o1777)
  for (const args of [
    ['backups', 'create', '--db', db, '--backup-dir', shared],
    [
      'repair',
      '--db',
      db,
      '--connector',
      jumpcloudId,
      '--issuer',
      'https://oauth.id.jumpcloud.com/',
      '--backup-dir',
      shared,
    ],
  ]) {
    const res = await runCli(args)
    assert.equal(res.code, 2, `${args[0]}: ${res.stdout}${res.stderr}`)
    assert.match(
      res.stderr,
      /shared-tmp is mode 1777: other users can reach what is in it, and backups hold client secrets\. The watchdog never changes the mode of a directory it did not create/,
    )
    assert.equal(lstatSync(shared).mode & 0o7777, 0o1777, 'sticky bit and all kept')
    assert.deepEqual(readdirSync(shared), [])
  }
  // A directory that does not exist yet is the watchdog's own: created 0700.
  const own = join(dir, 'own', 'backups')
  const created = await runCli(['backups', 'create', '--db', db, '--backup-dir', own])
  assert.equal(created.code, 0, created.stderr)
  assert.equal(lstatSync(own).mode & 0o7777, 0o700)
})
