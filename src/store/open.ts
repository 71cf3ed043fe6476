// The IdP store at a known location, opened as the port (store/port.ts): NetBird's SQLite idp.db or,
// since NetBird v0.66.1, Dex's tables in a PostgreSQL database; and where that store's backups go.
// Which location to use — from the flags, the watchdog's config and NetBird's own files — is decided
// above the adapters, in locate/resolve-store.ts.
import { resolve } from 'node:path'
import type { StoreArgs } from '../core/store-identity.js'
import { WatchdogError } from '../errors.js'
import { defaultBackupDir } from './backup-files.js'
import type { IdpStore } from './port.js'
import { dsnLabel, type PgSettings } from '../core/dsn.js'
import { PostgresStore } from './postgres/store.js'
import { SqliteStore } from './sqlite/store.js'

/** Where the store is, and which setting said so (for messages: never the DSN itself). */
export type StoreLocation =
  | { readonly engine: 'sqlite'; readonly path: string; readonly source: string }
  | {
      readonly engine: 'postgres'
      readonly settings: PgSettings
      readonly source: string
      /** NetBird's config file the DSN was read from, and the flag that makes a command read it too. */
      readonly netbirdFile?: NetbirdFileFlag
    }

export interface NetbirdFileFlag {
  readonly flag: '--config-yaml' | '--management-json'
  readonly path: string
}

/** For messages and logs: the file path, or `postgres://user@host:port/dbname` (never a password). */
export function locationLabel(location: StoreLocation): string {
  return location.engine === 'sqlite' ? location.path : dsnLabel(location.settings)
}

export interface OpenOptions {
  /** How long to wait for a lock Dex holds: SQLite's busy timeout, PostgreSQL's lock_timeout. */
  readonly busyTimeoutMs?: number
}

/** The store at `location`, as the port. Nothing is opened or connected until it is used. */
export function openStore(location: StoreLocation, opts: OpenOptions = {}): IdpStore {
  const busyTimeoutMs = opts.busyTimeoutMs
  if (location.engine === 'sqlite') {
    return new SqliteStore(location.path, busyTimeoutMs !== undefined ? { busyTimeoutMs } : {})
  }
  return new PostgresStore(
    location.settings,
    busyTimeoutMs !== undefined ? { lockTimeoutMs: busyTimeoutMs } : {},
  )
}

/** Where the daemon keeps backups of a PostgreSQL store when `backups.dir` is unset: the image's state volume. */
export const defaultPostgresBackupDir = '/var/lib/netbird-watchdog/backups'

/**
 * Where backups of the store go: `explicit` (`--backup-dir`, `backups.dir`), else next to idp.db, else
 * (PostgreSQL, which has no file to sit next to) `postgresDefault` — or, without one (the CLI), a
 * USAGE error naming `flag`.
 */
export function backupDirFor(
  location: StoreLocation,
  explicit: string | undefined,
  opts: { postgresDefault?: string; flag?: string } = {},
): string {
  if (explicit !== undefined) return explicit
  if (location.engine === 'sqlite') return defaultBackupDir(location.path)
  if (opts.postgresDefault !== undefined) return opts.postgresDefault
  throw new WatchdogError(
    'USAGE',
    `${locationLabel(location)} is a PostgreSQL store: there is no idp.db for its backups to sit next to, so give ${opts.flag ?? '--backup-dir'} DIR (a private directory on this machine)`,
  )
}

/** How a printed command (a restore, a backup) names the store: never with the DSN's password. */
export function storeArgsOf(at: StoreLocation): StoreArgs {
  if (at.engine === 'sqlite') return { engine: 'sqlite', label: resolve(at.path) }
  return {
    engine: 'postgres',
    label: locationLabel(at),
    ...(at.netbirdFile !== undefined ? { dsnFile: at.netbirdFile } : {}),
  }
}
