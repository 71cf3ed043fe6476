// Fault run: SIGKILL the daemon at random moments while it repairs. One simulated NetBird management
// container (test/fixtures/fake-netbird, NetBird v0.64 behaviour) crash-loops because its idp.db
// connector lacks the trailing slash that the real oidc-provider on 127.0.0.1 returns. Each cycle:
//   1. break idp.db again (issuer without the slash) and restart the container: it crash-loops;
//   2. start the daemon (repair mode); when it logs that the repair begins, wait a random time
//      (seeded) and SIGKILL it; half the kills aim at the backup+transaction, half anywhere until
//      the repair is confirmed;
//   3. check idp.db as Dex would open it: integrity_check ok, every row there, the connector's config
//      exactly the old or the repaired text; every listed backup verifies;
//   4. start the daemon again: it must finish the job (issuer repaired, container up and staying up)
//      or roll back cleanly, and stop cleanly on SIGTERM.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { listBackups } from '../../src/store/backup-files.js'
import { verifyBackup } from '../../test/helpers/store.js'
import { readConnectorsFrom } from '../../src/store/sqlite/idp-db.js'
import { createIdpDb, jumpcloudId, oidcConnectorConfig } from '../../test/helpers/idp-fixture.js'
import { startIssuerPeer } from '../../test/helpers/selfheal.js'
import {
  docker,
  inspectState,
  nodeImage,
  parseNanoTime,
  removeBenchContainers,
  runContainer,
} from '../lib/containers.js'
import { prng } from '../lib/fuzz-lines.js'
import { delay, repoRoot, Watchdog, type LogRecord } from '../lib/watchdog.js'

export interface KillCycle {
  cycle: number
  /** ms after "repairing" was logged that SIGKILL was sent. */
  killAfterMs: number
  /** What the database held right after the kill. */
  afterKill: 'old' | 'repaired'
  /** Did the killed daemon get as far as committing the fix (its log says so)? */
  committedBeforeKill: boolean
  /** Had the killed daemon already rolled its repair back (confirm failed) before the kill? */
  rolledBackBeforeKill: boolean
  /** What the next daemon did: repaired again, or found nothing to do (already repaired). */
  nextStart: 'repaired' | 'nothing-to-do' | 'rolled-back'
  backups: number
  partialFiles: number
}

export interface KillOptions {
  cycles: number
  seed?: number
  labels?: readonly string[]
  onCycle?: (c: KillCycle) => void
  /** A cycle voided because the container was removed from outside (it is re-run). */
  onDiscard?: (cycle: number, why: string) => void
}

const watchedMsgs = new Set([
  'repairing: verified backup, then the exact issuer fix',
  'IdP store repaired and verified; restarting the container',
])
const keep = (r: LogRecord): boolean =>
  watchedMsgs.has(r.msg) ||
  r.msg.startsWith('recovered:') ||
  r.msg.startsWith('ROLLED BACK') ||
  r.msg.startsWith('ROLLBACK FAILED') ||
  r.msg.startsWith('not repairing') ||
  r.msg === 'finding' ||
  r.msg === 'container died' ||
  r.msg === 'container started' ||
  r.level === 'error' ||
  r.level === 'fatal'

function tail(w: Watchdog): string {
  return w.records
    .slice(-25)
    .map(
      (r) => `${r.time} ${r.level} ${r.msg}${typeof r.reason === 'string' ? ` (${r.reason})` : ''}`,
    )
    .join('\n')
}

/** Dex's view after a crash: open read-write (a hot journal is rolled back), check, read the row. */
function inspectDb(dbPath: string, rawOld: string, rawNew: string): 'old' | 'repaired' {
  const db = new Database(dbPath)
  try {
    const integrity = (db.prepare('pragma integrity_check').pluck().all() as string[]).join('; ')
    if (integrity !== 'ok') throw new Error(`integrity_check after kill: ${integrity}`)
    const rows = readConnectorsFrom(db, dbPath)
    if (rows.length !== 2) throw new Error(`connector rows after kill: ${rows.length}, want 2`)
    const raw = rows.find((r) => r.id === jumpcloudId)?.rawConfig
    if (raw === rawOld) return 'old'
    if (raw === rawNew) return 'repaired'
    throw new Error(`connector config is neither the old nor the repaired text: ${raw}`)
  } finally {
    db.close()
  }
}

function breakDb(dbPath: string, rawOld: string): void {
  const db = new Database(dbPath)
  try {
    db.prepare('update connector set config = ? where id = ?').run(
      Buffer.from(rawOld, 'utf8'),
      jumpcloudId,
    )
  } finally {
    db.close()
  }
}

export async function runRepairKill(options: KillOptions): Promise<KillCycle[]> {
  const rand = prng(options.seed ?? 100)
  const peer = await startIssuerPeer(undefined, { trailingSlash: true })
  const dir = mkdtempSync(join(tmpdir(), 'nbw-repair-kill-'))
  const dbPath = join(dir, 'idp.db')
  const backupDir = join(dir, 'backups')
  const rawOld = oidcConnectorConfig({
    issuer: peer.origin,
    clientID: 'client',
    clientSecret: 'secret',
  })
  const rawNew = oidcConnectorConfig({
    issuer: `${peer.origin}/`,
    clientID: 'client',
    clientSecret: 'secret',
  })
  createIdpDb(dbPath, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      { id: jumpcloudId, type: 'oidc', name: 'JumpCloud', config: rawOld },
    ],
  })
  const name = `nbw-repair-kill-${Date.now().toString(36)}`
  const config = {
    mode: 'repair',
    targets: { names: [name], autoDetect: false },
    idp: { dbPath },
    oidc: { allowInsecure: true, timeoutMs: 3000 },
    // Every cycle repairs the same target: a budget that never runs out, a short confirm window.
    repair: {
      confirmSeconds: 1,
      maxRepairs: 100_000,
      restartBackoffSeconds: 0,
      stopTimeoutSeconds: 2,
    },
    backups: { dir: backupDir, keep: 100_000 },
    schedules: { doctor: '', backup: '', integrity: '' },
  }
  const results: KillCycle[] = []
  // The daemon currently running (a holder: the cycle function and the cleanup both set it).
  const live: { wd: Watchdog | undefined } = { wd: undefined }
  let wholeMs = 0
  let writeMs = 0
  const createContainer = (): Promise<string> =>
    runContainer({
      name,
      image: nodeImage,
      network: 'host',
      restart: 'unless-stopped',
      extra: ['--init'],
      volumes: [`${dir}:/var/lib/netbird`, `${repoRoot}:${repoRoot}:ro`],
      cmd: ['node', `${repoRoot}test/fixtures/fake-netbird/main.mjs`, '--variant', 'fatal'],
      ...(options.labels ? { labels: options.labels } : {}),
    })
  const containerExists = async (): Promise<boolean> =>
    inspectState(name).then(
      () => true,
      () => false,
    )
  let discarded = 0
  try {
    await createContainer()
    // Calibration: one repair without a kill gives the time scale of the kill moments.
    live.wd = await Watchdog.start({ config, keep, waitReady: false })
    const calib = live.wd
    const rec = await calib
      .waitRecord((r) => r.msg.startsWith('recovered:') || r.msg.startsWith('ROLLED BACK'), 120_000)
      .catch((err: unknown) => {
        throw new Error(`calibration repair did not end:\n${tail(calib)}`, { cause: err })
      })
    const began = live.wd.records.find((r) => r.msg === [...watchedMsgs][0])!
    const fixed = live.wd.records.find((r) => r.msg === [...watchedMsgs][1])!
    wholeMs = Date.parse(rec.time) - Date.parse(began.time)
    writeMs = Math.max(20, Date.parse(fixed.time) - Date.parse(began.time))
    await live.wd.stop()
    live.wd = undefined

    for (let cycle = 0; cycle < options.cycles; cycle++) {
      try {
        const c = await oneCycle(cycle)
        results.push(c)
        options.onCycle?.(c)
      } catch (err) {
        // The engine is shared: a container removed by someone else's cleanup voids the cycle.
        // (set inside oneCycle: the compiler cannot see that, hence the widening)
        await (live.wd as Watchdog | undefined)?.stop()
        live.wd = undefined
        if ((await containerExists()) || ++discarded > 10) throw err
        options.onDiscard?.(cycle, err instanceof Error ? err.message : String(err))
        await createContainer()
        cycle--
      }
    }
    return results
  } finally {
    await live.wd?.stop()
    await removeBenchContainers()
    await peer.close()
    rmSync(dir, { recursive: true, force: true })
  }

  async function oneCycle(cycle: number): Promise<KillCycle> {
    breakDb(dbPath, rawOld)
    await docker(['restart', '-t', '2', name])
    live.wd = await Watchdog.start({ config, keep, waitReady: false })
    const victim = live.wd
    const repairing = await victim
      .waitRecord((r) => r.msg === [...watchedMsgs][0], 120_000)
      .catch((err: unknown) => {
        throw new Error(`cycle ${cycle}: no repair began:\n${tail(victim)}`, { cause: err })
      })
    const span = rand() < 0.5 ? writeMs * 1.5 : wholeMs
    const killAfterMs = Math.round(rand() * span)
    await delay(Math.max(0, repairing.receivedAt + killAfterMs - Date.now()))
    victim.kill('SIGKILL')
    await victim.exited
    const committedBeforeKill = victim.records.some((r) => r.msg === [...watchedMsgs][1])
    const rolledBackBeforeKill = victim.records.some((r) => r.msg.startsWith('ROLLED BACK'))
    await victim.stop()
    live.wd = undefined
    const afterKill = inspectDb(dbPath, rawOld, rawNew)
    for (const b of listBackups(backupDir)) {
      const v = await verifyBackup(b)
      if (!v.ok) throw new Error(`cycle ${cycle}: backup ${b.id} fails: ${v.problems.join('; ')}`)
    }

    // The next start must finish the job or roll back cleanly.
    live.wd = await Watchdog.start({ config, keep, waitReady: false })
    const next = live.wd
    let nextStart: KillCycle['nextStart']
    if (afterKill === 'old') {
      const done = await next
        .waitRecord(
          (r) =>
            r.msg.startsWith('recovered:') ||
            r.msg.startsWith('ROLLED BACK') ||
            r.msg.startsWith('ROLLBACK FAILED'),
          120_000,
        )
        .catch((err: unknown) => {
          throw new Error(`cycle ${cycle}: the next start did not finish:\n${tail(next)}`, {
            cause: err,
          })
        })
      nextStart = done.msg.startsWith('recovered:') ? 'repaired' : 'rolled-back'
    } else {
      // Already repaired: the container must come up (Docker's policy or the killed daemon's
      // restart) and stay up, with nothing for the new daemon to do.
      await waitStable(name, 3000, 120_000)
      nextStart = next.records.some((r) => r.msg === [...watchedMsgs][0])
        ? 'repaired'
        : 'nothing-to-do'
    }
    if (inspectDb(dbPath, rawOld, rawNew) !== 'repaired' && nextStart !== 'rolled-back') {
      throw new Error(`cycle ${cycle}: idp.db not repaired after the next start`)
    }
    const errors = next.records.filter((r) => r.level === 'error' || r.level === 'fatal')
    // A rollback is an allowed outcome (counted); anything else logged at error is not.
    const unexpected = errors.filter(
      (r) =>
        r.msg !== 'restart loop detected' &&
        r.msg !== 'REPAIR DID NOT HOLD: rolling back to the backup' &&
        !r.msg.startsWith('ROLLED BACK') &&
        !r.msg.startsWith('CIRCUIT BREAKER OPEN'),
    )
    if (unexpected.length > 0) {
      throw new Error(`cycle ${cycle}: next start logged errors:\n${tail(next)}`)
    }
    await next.stop()
    if (next.exit?.code !== 0)
      throw new Error(`cycle ${cycle}: next daemon exit ${next.exit?.code}`)
    live.wd = undefined
    const c: KillCycle = {
      cycle,
      killAfterMs,
      afterKill,
      committedBeforeKill,
      rolledBackBeforeKill,
      nextStart,
      backups: listBackups(backupDir).length,
      partialFiles: readdirSync(backupDir).filter((f) => f.includes('partial')).length,
    }
    return c
  }
}

/** Waits until the container has been running for `upMs` in one go, with a deadline. */
async function waitStable(name: string, upMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = await inspectState(name)
    if (s.status === 'running' && Date.now() - parseNanoTime(s.startedAt) >= upMs) return
    if (Date.now() > deadline) throw new Error(`${name} did not stay up (${s.status})`)
    await delay(200)
  }
}
