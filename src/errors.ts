// Typed errors: one class, a stable code per failure, the original error kept as `cause`.
// Adapters wrap library errors once, at their boundary; the CLI maps codes to exit statuses.

export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'INPUT_UNREADABLE'
  | 'DB_NOT_FOUND'
  | 'DB_NOT_SQLITE'
  | 'DB_NO_CONNECTOR_TABLE'
  | 'DB_LOCKED'
  | 'DB_READ_ONLY'
  | 'DB_CORRUPT'
  | 'CONNECTOR_NOT_FOUND'
  | 'CONNECTOR_CONFIG_INVALID'
  | 'BACKUP_FAILED'
  | 'BACKUP_VERIFY_FAILED'
  | 'BACKUP_NOT_FOUND'
  | 'DISK_SPACE_LOW'
  | 'REPAIR_FAILED'
  | 'REPAIR_REFUSED'
  | 'MANAGEMENT_JSON_INVALID'
  | 'OIDC_DISCOVERY_FAILED'
  | 'DOCKER_UNAVAILABLE'
  | 'DOCKER_ACTION_FAILED'
  | 'DB_HOT_JOURNAL'
  | 'DB_UNREADABLE'
  | 'STORE_UNREACHABLE'
  | 'STORE_UNKNOWN'
  | 'STORE_AUTH_FAILED'
  | 'STORE_NOT_DEX'
  | 'STORE_TIMEOUT'
  | 'RESTORE_REFUSED'
  | 'BACKUP_DIR_REFUSED'
  | 'INTERRUPTED'
  | 'BUNDLE_FAILED'

/**
 * What a failed write left in the store, for the caller to act on (never read from the message):
 * `none` — nothing was changed (rolled back before the commit); `undone` — committed, then undone
 * (value by value, or the backup restored whole); `kept` — committed and left in place (an undo that
 * does not check out, or an undo that failed); `unknown` — the commit's answer was lost and nobody can
 * say yet whether it landed (the change is there whole or not at all).
 */
export type StoreChange = 'none' | 'undone' | 'kept' | 'unknown'

export class WatchdogError extends Error {
  override name = 'WatchdogError'
  readonly code: ErrorCode
  /** Set on errors of a write: what the store holds now (see StoreChange). */
  readonly change?: StoreChange

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; change?: StoreChange },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined)
    this.code = code
    if (options?.change !== undefined) this.change = options.change
  }
}

/** What a write's error says the store holds now; undefined when it does not say. */
export function changeOf(err: unknown): StoreChange | undefined {
  return err instanceof WatchdogError ? err.change : undefined
}

export function isWatchdogError(err: unknown, code?: ErrorCode): err is WatchdogError {
  return err instanceof WatchdogError && (code === undefined || err.code === code)
}

/** Errors that mean "the input or the invocation is wrong" (CLI exit 2), as opposed to a failed action. */
export const inputErrorCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'USAGE',
  'CONFIG_INVALID',
  'INPUT_UNREADABLE',
  'DB_NOT_FOUND',
  'DB_NOT_SQLITE',
  'DB_NO_CONNECTOR_TABLE',
  'DB_LOCKED',
  'DB_READ_ONLY',
  'DB_CORRUPT',
  'CONNECTOR_NOT_FOUND',
  'CONNECTOR_CONFIG_INVALID',
  'BACKUP_NOT_FOUND',
  'MANAGEMENT_JSON_INVALID',
  'DB_HOT_JOURNAL',
  'DB_UNREADABLE',
  'STORE_AUTH_FAILED',
  'STORE_NOT_DEX',
  'RESTORE_REFUSED',
  'BACKUP_DIR_REFUSED',
])

/**
 * Errors that say the IdP store itself is damaged (what SQLite's integrity_check would say): the only
 * store errors that count as evidence against a repair, and the only reason to restore a whole backup.
 * A store that cannot answer right now (locked, busy, unreachable, timing out) is never damaged.
 */
export const damagedStoreCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'DB_CORRUPT',
  'DB_NOT_SQLITE',
  'DB_NO_CONNECTOR_TABLE',
])

export function isDamagedStore(err: unknown): err is WatchdogError {
  return err instanceof WatchdogError && damagedStoreCodes.has(err.code)
}

/**
 * Errors that say the IdP store could not be reached at all (a PostgreSQL server down, unreachable,
 * refusing the credentials or not answering in time; an idp.db that is missing or cannot be read; a
 * store that cannot be known while NetBird's config file is broken) — as opposed to a store that
 * answered with a problem (locked, corrupt, not Dex's schema) or a failure elsewhere (backup
 * directory, disk). An unreachable store is no evidence about a repair, and
 * netbird_watchdog_idp_store_up says 0.
 */
export const unreachableStoreCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'STORE_UNREACHABLE',
  'STORE_UNKNOWN',
  'STORE_TIMEOUT',
  'STORE_AUTH_FAILED',
  'DB_NOT_FOUND',
  'DB_UNREADABLE',
])

/** True when `err`, or an error it wraps (`cause`, a few levels deep), has one of `codes`. */
export function hasErrorCode(err: unknown, codes: ReadonlySet<ErrorCode>): boolean {
  let e: unknown = err
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (e instanceof WatchdogError && codes.has(e.code)) return true
    e = e instanceof Error ? e.cause : undefined
  }
  return false
}

/** True when `err`, or an error it wraps (`cause`), says the store could not be reached. */
export function isStoreUnreachable(err: unknown): boolean {
  return hasErrorCode(err, unreachableStoreCodes)
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
