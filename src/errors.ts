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
  | 'STORE_AUTH_FAILED'
  | 'STORE_NOT_DEX'
  | 'STORE_TIMEOUT'
  | 'RESTORE_REFUSED'
  | 'INTERRUPTED'
  | 'BUNDLE_FAILED'

export class WatchdogError extends Error {
  override name = 'WatchdogError'
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
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
])

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
