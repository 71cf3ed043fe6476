// The idp.db issuer repair: plan → verified backup → one BEGIN IMMEDIATE transaction → verify in the
// transaction → commit → re-read and integrity_check → restore the backup on any failure after commit.
// Only the `issuer` value inside the chosen connectors' stored JSON changes (src/core/connector-json.ts);
// dryRun opens the database read-only and returns the plan, leaving the file byte-identical.
import { accessSync, constants } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type Database from 'better-sqlite3'
import { setConnectorIssuer } from '../core/connector-json.js'
import { WatchdogError, errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import {
  fixStaticIssuers,
  readStaticConnectors,
  type StaticIssuerEdit,
} from '../netbird/management-json.js'
import {
  defaultBackupDir,
  integrityCheck,
  listBackups,
  restoreBackup,
  sameConnectors,
  takeBackup,
} from './backup.js'
import {
  connectorIssuer,
  defaultBusyTimeoutMs,
  mapSqliteError,
  openIdpDb,
  readConnectorsFrom,
  type ConnectorRow,
} from './idp-db.js'

export interface IssuerChange {
  connectorId: string
  to: string
}

export interface RepairChange {
  connectorId: string
  field: 'issuer'
  from: string
  to: string
}

export interface RepairResult {
  db: string
  dryRun: boolean
  /** The verified pre-repair backup, null when nothing was written (dry run, nothing to do). */
  backup: string | null
  changes: RepairChange[]
  /** Set by the caller that restarts the container; repairIssuers never restarts anything. */
  restarted: string | null
  /** management.json static-connector edits, when a management.json was given and needed a fix. */
  managementJson?: { path: string; backup: string | null; changes: RepairChange[] }
}

export interface RepairOptions {
  dbPath: string
  changes: readonly IssuerChange[]
  dryRun: boolean
  backupDir?: string
  /** management.json to check for EmbeddedIdP.StaticConnectors (v0.67.2+). */
  managementJsonPath?: string
  /**
   * When a changed connector is a static one: true fixes management.json too (backup first, in place);
   * false (default) refuses, since NetBird would rewrite idp.db from management.json on its next start.
   */
  fixStaticConnectors?: boolean
  version: string
  logger?: Logger
  busyTimeoutMs?: number
}

interface PlannedEdit {
  row: ConnectorRow
  from: string
  to: string
  newText: string
}

export async function repairIssuers(opts: RepairOptions): Promise<RepairResult> {
  const dbPath = resolve(opts.dbPath)
  const log = opts.logger?.child({ component: 'repair', db: dbPath })
  validateChanges(opts.changes)
  const busyTimeoutMs = opts.busyTimeoutMs ?? defaultBusyTimeoutMs

  if (opts.dryRun) {
    const db = openIdpDb(dbPath, { readonly: true, busyTimeoutMs })
    let plan: PlannedEdit[]
    try {
      plan = planEdits(readConnectorsFrom(db, dbPath), opts.changes)
    } finally {
      db.close()
    }
    const result: RepairResult = {
      db: dbPath,
      dryRun: true,
      backup: null,
      changes: plan.map(toChange),
      restarted: null,
    }
    const mj = planStatic(opts, true, '')
    if (mj !== undefined) result.managementJson = mj
    log?.info({ changes: result.changes.length }, 'repair planned (dry run)')
    return result
  }

  assertWritable(dbPath)
  const db = openIdpDb(dbPath, { readonly: false, busyTimeoutMs })
  let backupPath: string | null = null
  let committed = false
  try {
    beginImmediate(db, dbPath)
    const before = readConnectorsFrom(db, dbPath)
    const plan = planEdits(before, opts.changes)
    // Refuse before anything is written if a static connector would undo the fix.
    planStatic(opts, true, '')
    const backupDir = resolve(opts.backupDir ?? defaultBackupDir(dbPath))
    if (plan.length === 0) {
      db.exec('rollback')
      db.close()
      // idp.db is right already; management.json may still hold the old issuer of a static connector.
      const result: RepairResult = {
        db: dbPath,
        dryRun: false,
        backup: null,
        changes: [],
        restarted: null,
      }
      const mj = planStatic(opts, false, backupDir)
      if (mj !== undefined) result.managementJson = mj
      log?.info({ managementJson: mj?.changes.length ?? 0 }, 'idp.db needs no repair')
      return result
    }
    // We hold RESERVED: no other writer can commit, so the backup is exactly the state we change.
    const backup = await takeBackup(
      dbPath,
      { backupDir, reason: 'pre-repair', version: opts.version, busyTimeoutMs },
      before,
    )
    backupPath = backup.path
    log?.info({ backup: backup.path }, 'verified backup taken')

    const update = db.prepare('update connector set config = ? where id = ?')
    for (const e of plan) {
      // Keep the storage class: Dex writes []byte (BLOB); a TEXT row stays TEXT.
      const value = e.row.storage === 'blob' ? Buffer.from(e.newText, 'utf8') : e.newText
      const info = update.run(value, e.row.id)
      if (info.changes !== 1) throw new Error(`update of ${e.row.id} changed ${info.changes} rows`)
    }
    const expected = expectedAfter(before, plan)
    const problem = verifyState(db, dbPath, expected)
    if (problem !== undefined) throw new Error(`verification before commit failed: ${problem}`)
    db.exec('commit')
    committed = true
    log?.info({ changes: plan.map(toChange) }, 'repair committed')
    db.close()

    // After commit: a fresh connection sees what NetBird will see.
    const check = openIdpDb(dbPath, { readonly: true, busyTimeoutMs })
    let after: string | undefined
    try {
      after = verifyTouched(check, dbPath, expected, plan)
    } finally {
      check.close()
    }
    if (after !== undefined) throw new Error(`verification after commit failed: ${after}`)

    const result: RepairResult = {
      db: dbPath,
      dryRun: false,
      backup: backupPath,
      changes: plan.map(toChange),
      restarted: null,
    }
    const mj = planStatic(opts, false, backupDir)
    if (mj !== undefined) result.managementJson = mj
    return result
  } catch (err) {
    if (db.open && db.inTransaction) {
      try {
        db.exec('rollback')
      } catch (rollbackErr) {
        log?.error({ err: rollbackErr }, 'rollback failed')
      }
    }
    if (db.open) db.close()
    if (!committed) {
      if (err instanceof WatchdogError && err.code !== 'REPAIR_FAILED') throw err
      throw new WatchdogError(
        'REPAIR_FAILED',
        `repair failed and was rolled back, nothing changed: ${errorMessage(err)}`,
        { cause: err },
      )
    }
    // Committed but something after it failed: put the verified backup back.
    return await restoreAfterFailure(dbPath, backupPath, opts, err, log)
  }
}

async function restoreAfterFailure(
  dbPath: string,
  backupPath: string | null,
  opts: RepairOptions,
  err: unknown,
  log: Logger | undefined,
): Promise<never> {
  const backupDir = resolve(opts.backupDir ?? defaultBackupDir(dbPath))
  log?.error({ err: errorMessage(err) }, 'repair failed after commit; restoring the backup')
  try {
    const info = listBackups(backupDir).find((b) => b.path === backupPath)
    if (info === undefined) throw new Error(`backup ${String(backupPath)} is not listed`)
    await restoreBackup(info, { dbPath, backupDir, version: opts.version })
  } catch (restoreErr) {
    throw new WatchdogError(
      'REPAIR_FAILED',
      `repair failed (${errorMessage(err)}) and restoring ${String(backupPath)} failed too: ${errorMessage(restoreErr)}`,
      { cause: err },
    )
  }
  throw new WatchdogError(
    'REPAIR_FAILED',
    `repair failed and idp.db was restored from ${String(backupPath)}: ${errorMessage(err)}`,
    { cause: err },
  )
}

function validateChanges(changes: readonly IssuerChange[]): void {
  const seen = new Set<string>()
  for (const c of changes) {
    if (c.connectorId === '') throw new WatchdogError('USAGE', 'empty connector id')
    if (seen.has(c.connectorId)) {
      throw new WatchdogError('USAGE', `connector ${JSON.stringify(c.connectorId)} given twice`)
    }
    seen.add(c.connectorId)
    if (c.to.trim() === '' || c.to.trim() !== c.to) {
      throw new WatchdogError(
        'USAGE',
        `issuer for ${JSON.stringify(c.connectorId)} is empty or has surrounding whitespace`,
      )
    }
    let url: URL
    try {
      url = new URL(c.to)
    } catch {
      throw new WatchdogError('USAGE', `issuer ${JSON.stringify(c.to)} is not a URL`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new WatchdogError('USAGE', `issuer ${JSON.stringify(c.to)} is not an http(s) URL`)
    }
  }
}

function planEdits(rows: readonly ConnectorRow[], changes: readonly IssuerChange[]): PlannedEdit[] {
  const plan: PlannedEdit[] = []
  for (const c of changes) {
    const row = rows.find((r) => r.id === c.connectorId)
    if (row === undefined) {
      throw new WatchdogError(
        'CONNECTOR_NOT_FOUND',
        `no connector ${JSON.stringify(c.connectorId)} (have: ${rows.map((r) => r.id).join(', ')})`,
      )
    }
    if (row.configError !== undefined) {
      // Never quotes the config (it may hold a client secret); Dex skips this connector too.
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${row.configError}; not changing it (restore a backup with \`netbird-watchdog backups restore\` or re-create the connector in the dashboard)`,
      )
    }
    const from = connectorIssuer(row)
    if (from === undefined || row.rawConfig === null) {
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `connector ${JSON.stringify(row.id)} (type ${row.type}) has no issuer to repair`,
      )
    }
    const edit = setConnectorIssuer(row.rawConfig, c.to)
    if (!edit.ok) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `connector ${JSON.stringify(row.id)}: cannot locate its issuer (${edit.reason})`,
      )
    }
    if (edit.changed) plan.push({ row, from: edit.from, to: c.to, newText: edit.text })
  }
  return plan
}

function toChange(e: PlannedEdit): RepairChange {
  return { connectorId: e.row.id, field: 'issuer', from: e.from, to: e.to }
}

/**
 * Static connectors: refuse (or, with fixStaticConnectors, plan/apply the same edit to management.json).
 * `checkOnly` plans without writing; otherwise applies, backing management.json up into `backupDir`.
 */
function planStatic(
  opts: RepairOptions,
  checkOnly: boolean,
  backupDir: string,
): RepairResult['managementJson'] {
  if (opts.managementJsonPath === undefined) return undefined
  const path = resolve(opts.managementJsonPath)
  const statics = readStaticConnectors(path)
  // Every requested change, not only the ones idp.db still needs: a static entry that keeps the old
  // issuer would be written back into idp.db on NetBird's next start. An entry that already has the
  // target issuer needs nothing (NetBird would write the right value anyway).
  const affected = opts.changes.filter((c) =>
    statics.some((s) => s.id === c.connectorId && s.issuer !== c.to),
  )
  if (affected.length === 0) return undefined
  if (opts.fixStaticConnectors !== true) {
    throw new WatchdogError(
      'REPAIR_REFUSED',
      `connector(s) ${affected.map((c) => JSON.stringify(c.connectorId)).join(', ')} are static connectors in ${path} (EmbeddedIdP.StaticConnectors) with another issuer: NetBird rewrites idp.db from that file on every start, so fixing idp.db alone would be undone. Fix the issuer there too (--fix-management-json), or edit ${path} yourself.`,
    )
  }
  const res: { backup: string | null; edits: StaticIssuerEdit[] } = checkOnly
    ? fixStaticIssuers(path, affected, { backupDir: dirname(path), dryRun: true })
    : fixStaticIssuers(path, affected, { backupDir })
  return {
    path,
    backup: res.backup,
    changes: res.edits.map((e) => ({
      connectorId: e.connectorId,
      field: 'issuer',
      from: e.from,
      to: e.to,
    })),
  }
}

function assertWritable(dbPath: string): void {
  for (const p of [dbPath, dirname(dbPath)]) {
    try {
      accessSync(p, constants.W_OK)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue // openIdpDb reports it
      throw new WatchdogError(
        'DB_READ_ONLY',
        `${p} is not writable (SQLite needs the file and its directory, for the rollback journal)`,
        { cause: err },
      )
    }
  }
}

function beginImmediate(db: Database.Database, dbPath: string): void {
  try {
    db.exec('begin immediate')
  } catch (err) {
    const mapped = mapSqliteError(err, dbPath)
    if (mapped.code === 'DB_LOCKED') {
      throw new WatchdogError(
        'DB_LOCKED',
        `another process holds a write transaction on ${dbPath} and did not finish within the busy timeout; nothing was changed. Stop NetBird (or wait) and retry.`,
        { cause: err },
      )
    }
    throw mapped
  }
}

function expectedAfter(
  before: readonly ConnectorRow[],
  plan: readonly PlannedEdit[],
): ConnectorRow[] {
  return before.map((r) => {
    const e = plan.find((p) => p.row.id === r.id)
    if (e === undefined) return r
    return { ...r, rawConfig: e.newText, config: JSON.parse(e.newText) as Record<string, unknown> }
  })
}

/** Inside the transaction: every connector row as planned, the JSON semantics unchanged but for issuer. */
function verifyState(
  db: Database.Database,
  dbPath: string,
  expected: readonly ConnectorRow[],
): string | undefined {
  const now = readConnectorsFrom(db, dbPath)
  if (!sameConnectors(now, expected)) return 'connector rows differ from the plan'
  for (const row of now) {
    const want = expected.find((r) => r.id === row.id)!
    if (JSON.stringify(row.config) !== JSON.stringify(want.config))
      return `config of ${row.id} differs`
  }
  const integrity = integrityCheck(db)
  return integrity === 'ok' ? undefined : `integrity_check: ${integrity}`
}

/** After commit: the changed connectors read back as planned, and the file passes integrity_check. */
function verifyTouched(
  db: Database.Database,
  dbPath: string,
  expected: readonly ConnectorRow[],
  plan: readonly PlannedEdit[],
): string | undefined {
  const now = readConnectorsFrom(db, dbPath)
  for (const e of plan) {
    const got = now.find((r) => r.id === e.row.id)
    const want = expected.find((r) => r.id === e.row.id)
    if (got === undefined || want === undefined || !sameConnectors([got], [want])) {
      return `connector ${e.row.id} does not read back as written`
    }
    if (connectorIssuer(got) !== e.to) return `connector ${e.row.id} issuer reads back differently`
  }
  const integrity = integrityCheck(db)
  return integrity === 'ok' ? undefined : `integrity_check: ${integrity}`
}
