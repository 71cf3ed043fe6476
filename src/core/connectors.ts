// Dex's `connector` rows as the watchdog sees them, whatever engine stored them: the raw column values
// (id, type, name, resource_version, config) become a ConnectorRow with the config's exact text, its
// storage class and, when the config is unusable, why. Pure: the store adapters do the reading.
//
// Dex writes `config` as a Go []byte holding the json.Marshal of the connector's settings (a BLOB in
// SQLite, bytea in PostgreSQL); a hand edit with sqlite3's replace() leaves TEXT, which Dex reads too
// (docs/reference/netbird.md, "The connector table").
import {
  issuerField,
  JsonSyntaxError,
  maxJsonDepth,
  parseLocated,
  type IssuerField,
  type JsonNode,
} from './connector-json.js'

export interface ConnectorRow {
  id: string
  type: string
  name: string
  resourceVersion: string
  /**
   * Parsed JSON object, or null when the column is NULL (the `local` connector) or when the stored
   * config cannot be used (then `configError` says why).
   */
  config: Record<string, unknown> | null
  /**
   * The stored JSON text as it is in the column, UTF-8 decoded (a byte that is not UTF-8 reads as
   * U+FFFD, as Go's decoder reads it inside a string): for parsing and display. Edits and
   * comparisons use `configBytes`.
   */
  rawConfig: string | null
  /** The column's exact bytes (null for NULL, and for an INTEGER or REAL value). */
  configBytes?: Uint8Array | null
  /** What Dex's `issuer` field holds (see `issuerField`); computed from the config when absent. */
  issuer?: IssuerField
  /**
   * Storage class of `config`: `blob` (Dex's []byte: SQLite BLOB, PostgreSQL bytea), `text` (what a
   * manual sqlite3 `replace()` leaves), `null`, or `other` (an INTEGER or REAL: never valid, always
   * with `configError`).
   */
  storage: 'blob' | 'text' | 'null' | 'other'
  /**
   * Set when the stored config is not a JSON object (e.g. after a botched manual edit); Dex logs
   * `failed to parse connector` and skips such a connector. Never quotes the config text (it may hold
   * a client secret).
   */
  configError?: string
}

/** The columns of one `connector` row as a driver returns them. */
export interface RawConnector {
  readonly id: unknown
  readonly type: unknown
  readonly name: unknown
  readonly resource_version: unknown
  readonly config: unknown
  /**
   * The exact bytes of a TEXT `config` (SQLite `cast(config as blob)`): a driver decodes TEXT into a
   * string, replacing bytes that are not UTF-8, so an edit must start from these.
   */
  readonly config_bytes?: unknown
}

const utf8 = new TextDecoder()
const utf8Encoder = new TextEncoder()

/** Connector types whose config carries an `issuer` (NetBird stores every OIDC flavour as Dex `oidc`). */
const oidcTypes: ReadonlySet<string> = new Set(['oidc'])

export function isOidcConnector(row: Pick<ConnectorRow, 'type'>): boolean {
  return oidcTypes.has(row.type.toLowerCase())
}

export function toConnectorRow(r: RawConnector): ConnectorRow {
  const id = String(r.id)
  const base = {
    id,
    type: String(r.type),
    name: String(r.name),
    resourceVersion: String(r.resource_version),
  }
  let rawConfig: string | null
  let configBytes: Uint8Array | null
  let storage: ConnectorRow['storage']
  if (r.config === null || r.config === undefined) {
    rawConfig = null
    configBytes = null
    storage = 'null'
  } else if (r.config instanceof Uint8Array) {
    configBytes = r.config
    rawConfig = utf8.decode(r.config)
    storage = 'blob'
  } else if (typeof r.config === 'string') {
    configBytes =
      r.config_bytes instanceof Uint8Array ? r.config_bytes : utf8Encoder.encode(r.config)
    rawConfig = utf8.decode(configBytes)
    storage = 'text'
  } else {
    // An INTEGER or REAL column value: not JSON text at all. Reported per row, like Dex does.
    return {
      ...base,
      config: null,
      rawConfig:
        typeof r.config === 'number' || typeof r.config === 'bigint' ? String(r.config) : null,
      configBytes: null,
      storage: 'other',
      configError: `connector ${JSON.stringify(id)}: config is a ${typeof r.config}, not JSON text`,
    }
  }
  if (rawConfig === null) return { ...base, config: null, rawConfig, configBytes, storage }
  const parsed = parseConfig(id, rawConfig)
  return 'error' in parsed
    ? { ...base, config: null, rawConfig, configBytes, storage, configError: parsed.error }
    : { ...base, config: parsed.value, rawConfig, configBytes, storage, issuer: parsed.issuer }
}

/**
 * Parse a stored config; the error never quotes the text (it can contain a client secret). The
 * located parse (iterative, Go's depth limit) checks it as Dex's decoder would and finds `issuer` by
 * Go's key rules; JSON.parse (iterative in V8 too) gives the values.
 */
function parseConfig(
  id: string,
  text: string,
): { value: Record<string, unknown>; issuer: IssuerField } | { error: string } {
  let root: JsonNode
  try {
    root = parseLocated(text)
  } catch (err) {
    // The parser's message names an offset, never the text; the depth is said as such.
    return {
      error:
        err instanceof JsonSyntaxError && err.kind === 'too-deep'
          ? `connector ${JSON.stringify(id)}: config is nested more than ${maxJsonDepth} levels deep (Go's limit: Dex refuses it too)`
          : `connector ${JSON.stringify(id)}: config is not valid JSON`,
    }
  }
  if (root.kind !== 'object') {
    return { error: `connector ${JSON.stringify(id)}: config is not a JSON object` }
  }
  return { value: JSON.parse(text) as Record<string, unknown>, issuer: issuerField(root) }
}

/** The `issuer` of a row's config as Dex's decoder reads it (undefined: no usable config). */
export function connectorIssuerField(row: ConnectorRow): IssuerField | undefined {
  if (row.config === null || row.configError !== undefined || row.rawConfig === null) {
    return undefined
  }
  if (row.issuer !== undefined) return row.issuer
  try {
    return issuerField(parseLocated(row.rawConfig))
  } catch {
    return undefined
  }
}

/**
 * The stored issuer of an OIDC-type connector, the string Dex uses (with several keys Go reads as
 * `issuer`, the last); undefined for local/google/microsoft and others, and when it is no string.
 */
export function connectorIssuer(row: ConnectorRow): string | undefined {
  if (!isOidcConnector(row)) return undefined
  const field = connectorIssuerField(row)
  if (field?.kind === 'string') return field.value
  return field?.kind === 'duplicate' ? field.value : undefined
}

/**
 * Why an OIDC connector's issuer cannot be edited, in words that say what was found and never
 * quote a value (undefined: it can be).
 */
export function issuerProblem(row: ConnectorRow): string | undefined {
  const field = connectorIssuerField(row)
  if (field === undefined || field.kind === 'string') return undefined
  const id = JSON.stringify(row.id)
  if (field.kind === 'missing') return `connector ${id} has no "issuer" in its config`
  if (field.kind === 'not-string') {
    return `connector ${id}: "${field.key === 'issuer' ? 'issuer' : 'issuer" (spelt ' + JSON.stringify(field.key) + ')'}" in its config is ${field.found}, not a string (Dex cannot open the connector either)`
  }
  return `connector ${id}: its config has ${field.keys.length} keys that Go's JSON decoder reads as "issuer" (${field.keys.map((k) => JSON.stringify(k)).join(', ')}; Dex uses the last): which to change is ambiguous`
}

/**
 * Row-for-row equality of the connector table: ids, types, names, versions, the config's bytes and
 * storage class.
 */
export function sameConnectors(a: readonly ConnectorRow[], b: readonly ConnectorRow[]): boolean {
  if (a.length !== b.length) return false
  return a.every((r, i) => {
    const o = b[i]!
    return (
      r.id === o.id &&
      r.type === o.type &&
      r.name === o.name &&
      r.resourceVersion === o.resourceVersion &&
      r.rawConfig === o.rawConfig &&
      sameBytes(r.configBytes, o.configBytes) &&
      r.storage === o.storage
    )
  })
}

function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  // A row built without bytes (a literal, not read from a store) compares by its text alone.
  if (a === undefined || b === undefined) return true
  if (a === null || b === null) return a === b
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
