// Whether a store failure means the store could not be reached at all (a PostgreSQL server down,
// unreachable, refusing the credentials or not answering in time; an idp.db that is missing or
// cannot be read; a store that cannot be known while NetBird's config file is broken) — as opposed to a
// store that answered with a problem (locked, corrupt, not Dex's
// schema) or a failure elsewhere (backup directory, disk). An unreachable store is no evidence about
// a repair: self-healing never rolls back on it, and netbird_watchdog_idp_store_up says 0.
import { isWatchdogError, type ErrorCode } from '../errors.js'

export const unreachableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'STORE_UNREACHABLE',
  'STORE_UNKNOWN',
  'STORE_TIMEOUT',
  'STORE_AUTH_FAILED',
  'DB_NOT_FOUND',
  'DB_UNREADABLE',
])

/** True when `err`, or an error it wraps (`cause`), says the store could not be reached. */
export function isStoreUnreachable(err: unknown): boolean {
  let e: unknown = err
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (isWatchdogError(e) && unreachableCodes.has(e.code)) return true
    e = e instanceof Error ? e.cause : undefined
  }
  return false
}
