// Backups of the PostgreSQL connector table: one JSON file per backup with every column of every
// connector row (the bytea columns base64-encoded, so the bytes come back exactly), written private
// and durably through store/backup-files.ts, read back and compared before its manifest is written
// (engine `postgres`, the source's `host:port/dbname`, the server's version). Verifying one needs the
// file and its manifest only, never the server (`backups verify`). No `pg` here.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { WatchdogError, errorMessage } from '../../errors.js'
import {
  checkAgainstManifest,
  engineOf,
  uniqueBackupId,
  writeManifest,
  type BackupInfo,
  type BackupManifest,
  type VerifyResult,
} from '../backup-files.js'
import {
  checkFreeSpace,
  hashFile,
  preparePrivateDir,
  unlinkIfExists,
  writePrivateFileAtomically,
} from '../../files.js'
import { sweepStalePartials } from '../retention.js'
import type { BackupRequest } from '../port.js'
import { sameRecords, type PgConnectorRecord } from './schema.js'

/** The `kind` of a backup file, so that nothing else is ever taken for one. */
export const backupKind = 'netbird-watchdog/postgres-connectors'
/** Backup files are `<id>.pgjson` next to their `<id>.json` manifest. */
export const backupExtension = '.pgjson'

/** A backup's content, as written and as read back. */
export interface PgBackupContent {
  readonly source: string
  readonly serverVersion: string
  readonly createdAt: string
  /** The connector table had `grant_types` (newer Dex) when the backup was taken. */
  readonly grantTypes: boolean
  readonly records: readonly PgConnectorRecord[]
}

interface FileRow {
  id: string
  type: string
  name: string
  resource_version: string
  config: string | null
  grant_types?: string | null
}

function serialize(content: PgBackupContent): Buffer {
  const columns = ['id', 'type', 'name', 'resource_version', 'config']
  if (content.grantTypes) columns.push('grant_types')
  const rows: FileRow[] = content.records.map((r) => ({
    id: r.id,
    type: r.type,
    name: r.name,
    resource_version: r.resourceVersion,
    config: r.config === null ? null : r.config.toString('base64'),
    ...(content.grantTypes
      ? { grant_types: r.grantTypes == null ? null : r.grantTypes.toString('base64') }
      : {}),
  }))
  const file = {
    kind: backupKind,
    format: 1,
    source: content.source,
    serverVersion: content.serverVersion,
    createdAt: content.createdAt,
    table: 'connector',
    columns,
    rows,
  }
  return Buffer.from(JSON.stringify(file, null, 2) + '\n', 'utf8')
}

/** Parse a backup file's bytes; throws a plain Error saying what is wrong (never quoting values). */
export function parseBackupFile(bytes: Buffer): PgBackupContent {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new Error('not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('not a JSON object')
  }
  const f = value as Record<string, unknown>
  if (f.kind !== backupKind || f.format !== 1) throw new Error('not a PostgreSQL connector backup')
  for (const k of ['source', 'serverVersion', 'createdAt'] as const) {
    if (typeof f[k] !== 'string') throw new Error(`${k} is missing`)
  }
  const columns = f.columns
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
    throw new Error('columns are missing')
  }
  const grantTypes = columns.includes('grant_types')
  if (!Array.isArray(f.rows)) throw new Error('rows are missing')
  const records = f.rows.map((row: unknown, i: number) => parseRow(row, i, grantTypes))
  return {
    source: f.source as string,
    serverVersion: f.serverVersion as string,
    createdAt: f.createdAt as string,
    grantTypes,
    records,
  }
}

function parseRow(row: unknown, i: number, grantTypes: boolean): PgConnectorRecord {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw new Error(`row ${i + 1} is not an object`)
  }
  const r = row as Record<string, unknown>
  const text = (k: string): string => {
    const v = r[k]
    if (typeof v !== 'string') throw new Error(`row ${i + 1}: ${k} is not text`)
    return v
  }
  const bytes = (k: string): Buffer | null => {
    const v = r[k]
    if (v === null) return null
    if (typeof v !== 'string') throw new Error(`row ${i + 1}: ${k} is not base64 text or null`)
    const b = Buffer.from(v, 'base64')
    // Buffer.from skips what is not base64: a damaged value would decode to other bytes silently.
    if (b.toString('base64') !== v) throw new Error(`row ${i + 1}: ${k} is not valid base64`)
    return b
  }
  return {
    id: text('id'),
    type: text('type'),
    name: text('name'),
    resourceVersion: text('resource_version'),
    config: bytes('config'),
    ...(grantTypes ? { grantTypes: bytes('grant_types') } : {}),
  }
}

/**
 * Write a verified backup of `records` (read by the caller, in its transaction) into `request.dir`:
 * the file is created 0600, fsynced and renamed into place, read back and compared, and only then
 * described by its manifest. Throws BACKUP_FAILED, BACKUP_VERIFY_FAILED or DISK_SPACE_LOW.
 */
export async function writePostgresBackup(
  content: Omit<PgBackupContent, 'createdAt'>,
  request: BackupRequest,
  opts: { label: string; now?: Date; instance?: string },
): Promise<BackupInfo> {
  const now = opts.now ?? new Date()
  const dir = resolve(request.dir)
  let path: string | undefined
  try {
    preparePrivateDir(dir)
    sweepStalePartials(dir)
    const full: PgBackupContent = { ...content, createdAt: now.toISOString() }
    const bytes = serialize(full)
    checkFreeSpace(dir, bytes.length)
    const id = uniqueBackupId(dir, now, request.reason, 'idp-pg')
    const file = `${id}${backupExtension}`
    path = join(dir, file)
    writePrivateFileAtomically(path, bytes)
    const problem = checkWritten(path, full)
    if (problem !== undefined) {
      throw new WatchdogError(
        'BACKUP_VERIFY_FAILED',
        `backup of ${opts.label} failed verification: ${problem}`,
      )
    }
    const { sha256, size } = await hashFile(path, request.signal)
    if (request.signal?.aborted === true) {
      throw new WatchdogError('INTERRUPTED', 'stopped by a signal: the backup was not completed')
    }
    const manifest: BackupManifest = {
      format: 1,
      id,
      file,
      sha256,
      size,
      source: content.source,
      engine: 'postgres',
      ...(opts.instance !== undefined ? { instance: opts.instance } : {}),
      reason: request.reason,
      version: request.version,
      createdAt: full.createdAt,
      serverVersion: content.serverVersion,
      connectors: content.records.map((r) => r.id),
    }
    const manifestPath = writeManifest(dir, manifest)
    return { id, path, manifestPath, manifest }
  } catch (err) {
    if (path !== undefined) unlinkIfExists(path)
    if (err instanceof WatchdogError) throw err
    throw new WatchdogError(
      'BACKUP_FAILED',
      `backup of ${opts.label} failed: ${errorMessage(err)}`,
      { cause: err },
    )
  }
}

/** Read the file back: a problem description, or undefined when it holds exactly `expected`. */
function checkWritten(path: string, expected: PgBackupContent): string | undefined {
  let got: PgBackupContent
  try {
    got = parseBackupFile(readFileSync(path))
  } catch (err) {
    return `it does not read back: ${errorMessage(err)}`
  }
  if (got.grantTypes !== expected.grantTypes || got.source !== expected.source) {
    return 'its header differs from what was written'
  }
  return sameRecords(got.records, expected.records)
    ? undefined
    : 'its connector rows differ from the source'
}

/**
 * Check a PostgreSQL backup without a server: size and sha256 against the manifest, the file parses
 * as a connector backup of the manifest's source, and its connector ids are the manifest's.
 */
export async function verifyPostgresBackup(info: BackupInfo): Promise<VerifyResult> {
  if (engineOf(info.manifest) !== 'postgres') {
    return { ok: false, problems: ['not a PostgreSQL backup'] }
  }
  const problems = await checkAgainstManifest(info)
  if (problems.length > 0) return { ok: false, problems }
  try {
    problems.push(...checkContent(info, parseBackupFile(readFileSync(info.path))))
  } catch (err) {
    problems.push(errorMessage(err))
  }
  return { ok: problems.length === 0, problems }
}

function checkContent(info: BackupInfo, content: PgBackupContent): string[] {
  const problems: string[] = []
  if (content.source !== info.manifest.source) problems.push('source differs from the manifest')
  const ids = content.records.map((r) => r.id)
  if (JSON.stringify(ids) !== JSON.stringify(info.manifest.connectors)) {
    problems.push('connector ids differ from the manifest')
  }
  return problems
}

/**
 * A backup's content, checked as `verifyPostgresBackup` checks it on the very bytes returned (read
 * once); BACKUP_VERIFY_FAILED when it does not verify.
 */
export function readPostgresBackup(info: BackupInfo): PgBackupContent {
  const refuse = (problems: string[]): never => {
    throw new WatchdogError(
      'BACKUP_VERIFY_FAILED',
      `backup ${info.id} failed verification, not restoring: ${problems.join('; ')}`,
    )
  }
  if (engineOf(info.manifest) !== 'postgres') refuse(['not a PostgreSQL backup'])
  let bytes: Buffer
  try {
    bytes = readFileSync(info.path)
  } catch (err) {
    return refuse([`cannot read ${info.path}: ${errorMessage(err)}`])
  }
  const problems: string[] = []
  if (bytes.length !== info.manifest.size) {
    problems.push(`size ${bytes.length} ≠ manifest ${info.manifest.size}`)
  }
  if (createHash('sha256').update(bytes).digest('hex') !== info.manifest.sha256) {
    problems.push('sha256 does not match the manifest')
  }
  if (problems.length > 0) refuse(problems)
  let content: PgBackupContent
  try {
    content = parseBackupFile(bytes)
  } catch (err) {
    return refuse([errorMessage(err)])
  }
  const mismatch = checkContent(info, content)
  if (mismatch.length > 0) refuse(mismatch)
  return content
}
