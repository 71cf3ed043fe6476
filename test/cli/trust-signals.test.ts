// A signal stops a one-shot command promptly, whatever it is waiting for: a provider that accepts the
// TCP connection and never completes TLS (the request and its socket are aborted, so nothing keeps the
// process alive), and the copy of a large database (aborted between two steps, nothing of it kept,
// never "created"). Each process runs under a bounded wait well below the 10 s a stuck connection kept
// it alive for before: a process that is still there at the deadline is killed, and the test fails.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { listBackups } from '../../src/store/backup-files.js'
import { runCli, spawnCli } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-signals-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * How long the process may take to end once it is asked to (a signal, or its own 1 s timeout), counted
 * from the moment its request reached the provider: well below undici's 10 s connect timeout, which
 * used to hold the process that long. Counted from there, not from the spawn, so a slow start on a
 * busy machine is not mistaken for the hold.
 */
const endWithinMs = 7000
/** Generous: only for getting as far as the request (start-up on a busy machine). */
const reachMs = 60_000

/** SIGKILL `child` unless it ends within `ms`: the run then reports the signal, and the test fails. */
function killAfter(child: { kill: (s: NodeJS.Signals) => boolean }, ms: number): () => void {
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  return () => clearTimeout(timer)
}

/**
 * A "provider" on 127.0.0.1 that accepts TCP connections and never says a word: a TLS client waits
 * for the server's hello for ever. Counts the connections, and the ones the client closed.
 */
async function stuckPeer(
  t: CleanupScope,
): Promise<{ origin: string; accepted: () => number; closedByClient: () => number }> {
  const held: Socket[] = []
  let closed = 0
  const server = createServer((s) => {
    held.push(s)
    // Read (and drop) the client's hello, so the client's close is seen.
    s.resume()
    s.on('close', () => closed++)
    s.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(
    t,
    () =>
      new Promise<void>((resolve) => {
        for (const s of held) s.destroy()
        server.close(() => resolve())
      }),
  )
  return {
    origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => held.length,
    closedByClient: () => closed,
  }
}

for (const [command, signal, status] of [
  ['repair --discover', 'SIGTERM', 143],
  ['doctor', 'SIGINT', 130],
] as const) {
  test(`${command}: a provider stuck in the TLS handshake does not hold up ${signal} (exit ${status}, the socket closed)`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const peer = await stuckPeer(t)
    createIdpDb(db, { connectors: oidcConnectors([{ id: 'corp', issuer: peer.origin }]) })
    const args =
      command === 'doctor' ? ['doctor', '--db', db] : ['repair', '--db', db, '--discover']
    const cli = spawnCli(args, { timeoutMs: reachMs + endWithinMs })
    await waitFor('the request to reach the provider', () => peer.accepted() > 0, reachMs)
    cli.child.kill(signal)
    const cancel = killAfter(cli.child, endWithinMs)
    const res = await cli.done
    cancel()
    assert.equal(res.signal, null, `ended by itself on ${signal}, not killed at the deadline`)
    assert.equal(res.code, status, res.stdout + res.stderr)
    await waitFor('the client to close its socket', () => peer.closedByClient() > 0, endWithinMs)
  })
}

test('repair --discover --timeout-ms 1000 against a provider stuck in the TLS handshake: done when the timeout says, not 10 s later', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const peer = await stuckPeer(t)
  createIdpDb(db, { connectors: oidcConnectors([{ id: 'corp', issuer: peer.origin }]) })
  const cli = spawnCli(['repair', '--db', db, '--discover', '--timeout-ms', '1000'], {
    timeoutMs: reachMs + endWithinMs,
  })
  await waitFor('the request to reach the provider', () => peer.accepted() > 0, reachMs)
  const cancel = killAfter(cli.child, endWithinMs)
  const res = await cli.done
  cancel()
  assert.equal(res.signal, null, 'ended by itself, not killed at the deadline')
  assert.equal(res.code, 1, res.stderr)
  assert.match(
    res.stderr,
    /could not check connector corp .*timeout: no complete answer .* within 1000 ms/,
  )
  assert.ok(peer.accepted() >= 1)
})

test('backups create of a 400 MB database: SIGTERM during the copy aborts it — exit 143, never "created", nothing left', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const h = new Database(db)
  try {
    const insert = h.prepare(
      "insert into offline_session (user_id, conn_id, refresh) values (?, 'local', zeroblob(1048576))",
    )
    h.transaction(() => {
      for (let i = 0; i < 400; i++) insert.run(`user-${i}`)
    })()
  } finally {
    h.close()
  }
  const backups = join(dir, 'backups')
  const cli = spawnCli(['backups', 'create', '--db', db, '--backup-dir', backups], {
    timeoutMs: 60_000,
  })
  await waitFor(
    'the copy to start (its .partial file)',
    () => existsSync(backups) && readdirSync(backups).some((n) => n.endsWith('.partial')),
    30_000,
    5,
  )
  cli.child.kill('SIGTERM')
  const res = await cli.done
  assert.equal(res.signal, null, res.stderr)
  assert.equal(res.code, 143, res.stdout + res.stderr)
  assert.doesNotMatch(res.stdout, /created/)
  assert.match(res.stderr, /stopped by a signal/)
  assert.deepEqual(listBackups(backups), [], 'no backup was completed')
  assert.deepEqual(
    readdirSync(backups).filter((n) => n.endsWith('.partial') || n.endsWith('-journal')),
    [],
    'nothing half-written left',
  )
  // The database itself is as it was: a backup afterwards works.
  const again = await runCli(['backups', 'create', '--db', db, '--backup-dir', backups])
  assert.equal(again.code, 0, again.stderr)
})
