// What the daemon guarantees at start (in-process: the real daemon, its HTTP server on 127.0.0.1):
// - an existing backup directory others can enter is refused at start (its mode is never changed:
//   the watchdog did not create it), before anything is written;
// - an engine that does not answer at start is a warning (the daemon runs on and retries), not
//   something only a debug log shows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isWatchdogError } from '../../src/errors.js'
import { waitFor } from '../helpers/wait.js'
import { createIdpDb } from '../helpers/idp-fixture.js'
import { startWatchdog } from '../helpers/watchdog.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

process.umask(0o022)

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-daemon-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The daemon's config for these tests: no target, no scheduled job, the given paths. */
function config(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    targets: { autoDetect: false },
    idp: { dbPath: join(dir, 'idp.db') },
    schedules: { doctor: '', backup: '', integrity: '' },
    ...extra,
  }
}

/** An engine address where nothing answers: a Unix socket path that does not exist. */
const deadEngine = (dir: string): string => `unix://${join(dir, 'no-engine.sock')}`

test('at start an existing backup directory of mode 0755 or 1777 is refused, its mode left as it is; a missing one is left alone', async (t) => {
  for (const mode of [0o755, 0o1777]) {
    const dir = tempDir(t)
    createIdpDb(join(dir, 'idp.db'))
    const backups = join(dir, 'backups')
    mkdirSync(backups)
    chmodSync(backups, mode)
    await assert.rejects(
      startWatchdog(config(dir, { backups: { dir: backups } }), { dockerHost: deadEngine(dir) }),
      (e) =>
        isWatchdogError(e, 'CONFIG_INVALID') &&
        e.message.startsWith(
          `backups.dir: ${backups} is mode ${mode.toString(8).padStart(4, '0')}:`,
        ) &&
        /never changes the mode of a directory it did not create/.test(e.message),
    )
    assert.equal(lstatSync(backups).mode & 0o7777, mode, 'the mode is unchanged')
    assert.deepEqual(readdirSync(backups), [], 'nothing written')
  }

  // A backup directory that does not exist yet is left for the first backup to create (no directory
  // before the database is known to exist).
  const elsewhere = tempDir(t)
  const later = await startWatchdog(config(elsewhere, { backups: { dir: join(elsewhere, 'b') } }), {
    dockerHost: deadEngine(elsewhere),
  })
  defer(t, () => later.stop())
  assert.deepEqual(readdirSync(elsewhere), [])
  assert.equal((await fetch(`${later.url}/healthz`)).status, 200, 'and then the daemon runs')
})

test('an engine that does not answer at start is logged at warn; the daemon keeps running', async (t) => {
  const dir = tempDir(t)
  const wd = await startWatchdog(config(dir), { dockerHost: deadEngine(dir) })
  defer(t, () => wd.stop())
  const warned = await waitFor('the engine warning', () =>
    wd.records.find((r) => /docker engine unreachable at start/.test(r.msg)),
  )
  assert.equal(warned.level, 'warn')
  assert.ok(!wd.records.some((r) => r.level === 'error' || r.level === 'fatal'))
  const ready = await fetch(`${wd.url}/readyz`)
  assert.equal(ready.status, 503, 'not ready without the engine')
  assert.equal((await fetch(`${wd.url}/healthz`)).status, 200, 'but alive')
})
