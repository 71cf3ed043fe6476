// Dex's `connector` rows as the watchdog sees them, whatever engine stored them: the raw column values
// (id, type, name, resource_version, config) become a ConnectorRow with the config's exact text, its
// storage class and, when the config is unusable, why. Pure: the store adapters do the reading.
//
// Dex writes `config` as a Go []byte holding the json.Marshal of the connector's settings (a BLOB in
// SQLite, bytea in PostgreSQL); a hand edit with sqlite3's replace() leaves TEXT, which Dex reads too
// (docs/reference/netbird.md, "The connector table").

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
  /** The stored JSON text exactly as it is in the column (UTF-8 decoded). */
  rawConfig: string | null
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
}

const utf8 = new TextDecoder()

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
  let storage: ConnectorRow['storage']
  if (r.config === null || r.config === undefined) {
    rawConfig = null
    storage = 'null'
  } else if (r.config instanceof Uint8Array) {
    rawConfig = utf8.decode(r.config)
    storage = 'blob'
  } else if (typeof r.config === 'string') {
    rawConfig = r.config
    storage = 'text'
  } else {
    // An INTEGER or REAL column value: not JSON text at all. Reported per row, like Dex does.
    return {
      ...base,
      config: null,
      rawConfig:
        typeof r.config === 'number' || typeof r.config === 'bigint' ? String(r.config) : null,
      storage: 'other',
      configError: `connector ${JSON.stringify(id)}: config is a ${typeof r.config}, not JSON text`,
    }
  }
  if (rawConfig === null) return { ...base, config: null, rawConfig, storage }
  const parsed = parseConfig(id, rawConfig)
  return 'error' in parsed
    ? { ...base, config: null, rawConfig, storage, configError: parsed.error }
    : { ...base, config: parsed.value, rawConfig, storage }
}

/** Parse a stored config; the error never quotes the text (it can contain a client secret). */
function parseConfig(
  id: string,
  text: string,
): { value: Record<string, unknown> } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // The parser's message quotes the offending text: leave it out.
    return { error: `connector ${JSON.stringify(id)}: config is not valid JSON` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `connector ${JSON.stringify(id)}: config is not a JSON object` }
  }
  return { value: value as Record<string, unknown> }
}

/** The stored issuer of an OIDC-type connector; undefined for local/google/microsoft and others. */
export function connectorIssuer(row: ConnectorRow): string | undefined {
  if (!isOidcConnector(row) || row.config === null || row.configError !== undefined)
    return undefined
  const issuer = row.config.issuer
  return typeof issuer === 'string' ? issuer : undefined
}

/** Row-for-row equality of the connector table: ids, types, names, versions, raw config and storage class. */
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
      r.storage === o.storage
    )
  })
}
