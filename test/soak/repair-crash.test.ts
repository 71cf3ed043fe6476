// Crash safety and concurrency of the idp.db repair, against real processes and real SQLite files.
// Needs dist/ (npm test builds it first): the child processes run the compiled code, as the CLI does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { listBackups, type BackupInfo } from '../../src/store/backup-files.js'
import { pruneBackups } from '../../src/store/retention.js'
import { verifyBackup } from '../helpers/store.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectorsFrom } from '../../src/store/sqlite/idp-db.js'
import { repairDb } from '../helpers/store.js'
import { testSeed } from '../helpers/seed.js'
import { prng } from '../../bench/lib/fuzz-lines.js'
import {
  createIdpDb,
  defaultConnectors,
  jumpcloudId,
  jumpcloudIssuerDiscovered as B,
  jumpcloudIssuerStored as A,
} from '../helpers/idp-fixture.js'
import { defer } from '../helpers/cleanup.js'

const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
const loopScript = fileURLToPath(new URL('../fixtures/idp/repair-loop.mjs', import.meta.url))
const inserterScript = fileURLToPath(new URL('../fixtures/idp/inserter.mjs', import.meta.url))

function assertBuilt(): void {
  assert.ok(existsSync(join(dist, 'heal/repair.js')), 'dist/ is missing: run `npm run build` first')
}

/** Resolves once the child printed its first line (it is ready). */
function waitReady(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const onData = (b: Buffer): void => {
      seen += b.toString()
      if (seen.includes('ready\n')) {
        child.stdout.off('data', onData)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', (code, signal) => reject(new Error(`child exited early: ${code} ${signal}`)))
  })
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
}

/** Resolves after the child has printed `n` more progress dots (or right away for n = 0). */
function afterDots(child: ChildProcessWithoutNullStreams, n: number): Promise<void> {
  if (n === 0) return Promise.resolve()
  return new Promise((resolve) => {
    let count = 0
    const onData = (b: Buffer): void => {
      count += b.toString().split('.').length - 1
      if (count >= n) {
        child.stdout.off('data', onData)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', () => resolve())
  })
}

/** Resolves once the child has printed `text` (or has exited). */
function afterText(child: ChildProcessWithoutNullStreams, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = ''
    const onData = (b: Buffer): void => {
      seen = (seen + b.toString()).slice(-4 * text.length)
      if (seen.includes(text)) {
        child.stdout.off('data', onData)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', () => resolve())
  })
}

const rawA = defaultConnectors()[1]!.config!
const rawB = rawA.replace(`"issuer":"${A}"`, `"issuer":"${B}"`)

/** Open as Dex would (read-write: a hot journal is rolled back), check integrity, return the issuer. */
function inspect(db: string): string {
  const h = new Database(db)
  try {
    const integrity = (h.prepare('pragma integrity_check').all() as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join('; ')
    assert.equal(integrity, 'ok')
    const rows = readConnectorsFrom(h, db)
    assert.equal(rows.length, 4, 'no connector row lost')
    const row = rows.find((r) => r.id === jumpcloudId)!
    assert.equal(row.storage, 'blob')
    assert.ok(
      row.rawConfig === rawA || row.rawConfig === rawB,
      'config is exactly the old or the new text',
    )
    return connectorIssuer(row)!
  } finally {
    h.close()
  }
}

async function backupHolding(
  dir: string,
  issuer: string,
  since: string,
): Promise<BackupInfo | undefined> {
  for (const b of listBackups(dir)) {
    if (b.manifest.createdAt < since) break
    const h = new Database(b.path, { readonly: true })
    let held: string | undefined
    try {
      held = connectorIssuer(readConnectorsFrom(h, b.path).find((r) => r.id === jumpcloudId)!)
    } finally {
      h.close()
    }
    if (held === issuer && (await verifyBackup(b)).ok) return b
  }
  return undefined
}

test('SIGKILL at random moments during repairs (4 lanes × 52 kills): never a torn database', async (t) => {
  assertBuilt()
  const lanes = 4
  const killsPerLane = 52
  let hotJournals = 0
  const seed = testSeed(t)
  const runLane = async (lane: number): Promise<number> => {
    const dir = await mkdtemp(join(tmpdir(), `nbw-crash-${lane}-`))
    defer(t, () => rm(dir, { recursive: true, force: true }))
    const db = join(dir, 'idp.db')
    const backupDir = join(dir, 'netbird-watchdog-backups')
    createIdpDb(db)
    let last = A
    let lastCheck = new Date(0).toISOString()
    let changedKills = 0
    // Each lane draws its kill points from its own generator, so a seed replays every lane's choices.
    const random = prng(seed + lane)
    for (let k = 0; k < killsPerLane; k++) {
      const child = spawn(process.execPath, [loopScript, dist, db, jumpcloudId, A, B], {
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      await waitReady(child)
      // Even kills: after 0–2 completed repairs plus a random slice of the next one. Odd kills: aimed at
      // the write transaction, a random 0–4 ms after the child reports its backup taken.
      if (k % 2 === 0) await afterDots(child, Math.floor(random() * 3))
      else await afterText(child, '<verified backup taken>')
      await new Promise<void>((r) => setImmediate(r))
      const spin = random() * (k % 2 === 0 ? 12 : 4)
      const until = performance.now() + spin
      while (performance.now() < until) await new Promise<void>((r) => setImmediate(r))
      child.kill('SIGKILL')
      await exited(child)
      assert.equal(child.signalCode, 'SIGKILL', `child failed on its own: ${stderr}`)
      if (existsSync(db + '-journal')) hotJournals++
      const now = inspect(db)
      if (now !== last) {
        changedKills++
        const b = await backupHolding(backupDir, now === A ? B : A, lastCheck)
        assert.ok(
          b !== undefined,
          `DB changed to ${now} but no verified backup of the previous state`,
        )
      }
      last = now
      lastCheck = new Date().toISOString()
      // Checked: drop them (retention under crash conditions, and keeps each listing short).
      pruneBackups(backupDir, { keep: 0, maxAgeDays: 0 })
    }
    return changedKills
  }
  const changed = await Promise.all(Array.from({ length: lanes }, (_, i) => runLane(i)))
  t.diagnostic(
    `${lanes * killsPerLane} kills; DB changed since the previous check after ${changed.reduce((a, b) => a + b, 0)}; left a journal behind ${hotJournals}`,
  )
  // The kills must have landed in every phase, including after commits, or the test proves little.
  assert.ok(changed.reduce((a, b) => a + b, 0) > 0, 'no kill ever happened after a commit')
})

test('another process inserting rows during repairs loses no row', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-insert-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const db = join(dir, 'idp.db')
  createIdpDb(db)
  const child = spawn(process.execPath, [inserterScript, db], { stdio: ['pipe', 'pipe', 'pipe'] })
  child.stderr.pipe(process.stderr)
  defer(t, () => child.kill('SIGKILL'))
  await waitReady(child)
  for (let i = 0; i < 12; i++) {
    await repairDb({
      dbPath: db,
      changes: [{ connectorId: jumpcloudId, to: i % 2 === 0 ? B : A }],
      dryRun: false,
      version: '1',
      busyTimeoutMs: 10_000,
    })
  }
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stdin.end()
  await exited(child)
  const { committed } = JSON.parse(out.trim()) as { committed: number }
  assert.ok(committed > 0)
  const h = new Database(db, { readonly: true })
  defer(t, () => h.close())
  const n = (h.prepare('select count(*) n from refresh_token').get() as { n: number }).n
  assert.equal(n, committed)
  assert.equal(inspect(db), A)
})
