// Dex's `connector` table in PostgreSQL: which columns make it Dex's, how its rows are read, and the
// raw record the PostgreSQL adapter backs up and restores. Pure (the queries run in store.ts).
//
// Dex's own migrations (dexidp/dex storage/sql/migrate.go; netbirdio/dex v0.244.0 the same) create
//   connector (id text not null primary key, type text not null, name text not null,
//              resource_version text not null, config bytea)
// and newer Dex (dexidp/dex 77777730, in NetBird ≥ v0.71's fork) adds `grant_types bytea`, which
// CreateConnector fills with json.Marshal(nil) = `null`. Both generations are supported. Dex runs
// its statements unqualified, so the table is the one the connection's search_path finds
// (`to_regclass('connector')`).
import { toConnectorRow, type ConnectorRow } from '../../core/connectors.js'
import { WatchdogError } from '../../errors.js'

export interface DexSchema {
  /** The connector table has Dex's newer `grant_types bytea` column. */
  readonly grantTypes: boolean
}

/** One connector row exactly as stored: every column, the bytea ones as bytes. */
export interface PgConnectorRecord {
  readonly id: string
  readonly type: string
  readonly name: string
  readonly resourceVersion: string
  readonly config: Buffer | null
  /** Present when the table has the column. */
  readonly grantTypes?: Buffer | null
}

const required: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'],
  ['type', 'text'],
  ['name', 'text'],
  ['resource_version', 'text'],
  ['config', 'bytea'],
]

/** The connector table's columns and their types, as the search_path resolves the table. */
export const describeSql = `
  select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type
  from pg_catalog.pg_attribute a
  where a.attrelid = to_regclass('connector') and a.attnum > 0 and not a.attisdropped`

/** Dex's schema from `describeSql`'s rows; STORE_NOT_DEX saying what is missing otherwise. */
export function dexSchemaOf(rows: readonly Record<string, unknown>[], label: string): DexSchema {
  if (rows.length === 0) {
    throw new WatchdogError(
      'STORE_NOT_DEX',
      `${label} has no connector table in the DSN user's search_path: not Dex's schema (is this the database NetBird's embedded IdP uses, and has it started on it once?)`,
    )
  }
  const types = new Map(rows.map((r) => [String(r.name), String(r.type)]))
  const problems: string[] = []
  for (const [column, type] of required) {
    const got = types.get(column)
    if (got === undefined) problems.push(`no column ${column}`)
    else if (got !== type) problems.push(`column ${column} is ${got}, not ${type}`)
  }
  const grant = types.get('grant_types')
  if (grant !== undefined && grant !== 'bytea') {
    problems.push(`column grant_types is ${grant}, not bytea`)
  }
  if (problems.length > 0) {
    throw new WatchdogError(
      'STORE_NOT_DEX',
      `${label}: not Dex's schema (connector table: ${problems.join('; ')})`,
    )
  }
  return { grantTypes: grant !== undefined }
}

/**
 * Every connector row (or those whose id is in the array bound as $1), in a stable order (ids compared
 * bytewise, whatever the database's collation), optionally locking them against other writers until
 * the transaction ends.
 */
export function selectSql(
  schema: DexSchema,
  opts: { forUpdate?: boolean; onlyIds?: boolean } = {},
): string {
  const columns = `id, type, name, resource_version, config${schema.grantTypes ? ', grant_types' : ''}`
  const where = opts.onlyIds === true ? ' where id = any($1::text[])' : ''
  const lock = opts.forUpdate === true ? ' for update' : ''
  return `select ${columns} from connector${where} order by id collate "C"${lock}`
}

/** A row from `selectSql` (node-postgres gives text as string and bytea as Buffer). */
export function toRecord(row: Record<string, unknown>, schema: DexSchema): PgConnectorRecord {
  const text = (column: string): string => {
    const v = row[column]
    if (typeof v !== 'string') {
      throw new WatchdogError('STORE_NOT_DEX', `connector column ${column} is not text`)
    }
    return v
  }
  const bytes = (column: string): Buffer | null => {
    const v = row[column]
    if (v === null) return null
    if (!Buffer.isBuffer(v)) {
      throw new WatchdogError('STORE_NOT_DEX', `connector column ${column} is not bytea`)
    }
    return v
  }
  return {
    id: text('id'),
    type: text('type'),
    name: text('name'),
    resourceVersion: text('resource_version'),
    config: bytes('config'),
    ...(schema.grantTypes ? { grantTypes: bytes('grant_types') } : {}),
  }
}

/** The watchdog's view of a record (core/connectors.ts): bytea is `blob`, the JSON parsed. */
export function toRow(record: PgConnectorRecord): ConnectorRow {
  return toConnectorRow({
    id: record.id,
    type: record.type,
    name: record.name,
    resource_version: record.resourceVersion,
    config: record.config,
  })
}

function sameBytes(a: Buffer | null | undefined, b: Buffer | null | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a === null || b === null) return a === b
  return a.equals(b)
}

/** Record-for-record equality, every column byte for byte (grant_types only where both have it). */
export function sameRecords(
  a: readonly PgConnectorRecord[],
  b: readonly PgConnectorRecord[],
  opts: { grantTypes: boolean } = { grantTypes: true },
): boolean {
  if (a.length !== b.length) return false
  return a.every((r, i) => {
    const o = b[i]!
    return (
      r.id === o.id &&
      r.type === o.type &&
      r.name === o.name &&
      r.resourceVersion === o.resourceVersion &&
      sameBytes(r.config, o.config) &&
      (!opts.grantTypes || sameBytes(r.grantTypes, o.grantTypes))
    )
  })
}

/** Records ordered as `selectSql` orders them (ids bytewise). */
export function sortRecords<T extends { id: string }>(records: readonly T[]): T[] {
  return [...records].sort((x, y) => Buffer.compare(Buffer.from(x.id), Buffer.from(y.id)))
}
