// The IdP store port: what the watchdog needs from the database NetBird's embedded Dex keeps its
// connectors in, whatever engine holds it — the SQLite file idp.db (store/sqlite/) or, since NetBird
// v0.66.1, a PostgreSQL database (store/postgres/). The repair, rollback and backup logic
// (store/issuer-edits.ts) is written once against this interface; no caller knows the engine.
import type { ConnectorRow } from '../core/connectors.js'
import type { StoreEngine } from '../core/store-identity.js'
import type { BackupInfo, VerifyResult } from './backup-files.js'

export type { StoreEngine } from '../core/store-identity.js'

/** What a backup records about why and by whom it was taken. */
export interface BackupRequest {
  /** Where backup files and their manifests go. */
  readonly dir: string
  /** `pre-repair`, `pre-rollback`, `pre-restore`, `scheduled`, `manual`: part of the name and manifest. */
  readonly reason: string
  /** The watchdog's version, recorded in the manifest. */
  readonly version: string
  /**
   * Aborts the backup (a command stopped by a signal): the copy stops at its next step, nothing of it
   * is kept, and it fails with INTERRUPTED. A backup that is complete is returned even so.
   */
  readonly signal?: AbortSignal
}

/**
 * What a store is, as opposed to what it is called: a backup records it, and a restore (or a later
 * check that the store was lost or replaced) compares it — core/store-identity.ts decides.
 */
export interface StoreIdentity {
  readonly engine: StoreEngine
  /** How it was reached: the file path, or `postgres://user@host:port/dbname` (for messages). */
  readonly label: string
  /**
   * Which instance it is. SQLite: `dev:ino` of the file (the same file under any mount path has the
   * same one; a file copied over it in place keeps it). PostgreSQL: `<system identifier>/<database
   * OID>` — the cluster (pg_control_system(); empty when the role may not call it) and the database
   * in it (a dropped and re-created database has a new OID). Undefined when there is no such file.
   */
  readonly instance?: string
  /** The connector ids it holds; undefined when they cannot be read (a damaged file). */
  readonly connectors?: readonly string[]
}

export interface RestoreResult {
  readonly restored: BackupInfo
  /** The backup of the store as it was just before the restore (null when there was nothing). */
  readonly preRestoreBackup: string | null
}

/**
 * One connector store. Every method throws a WatchdogError with a code an operator can act on
 * (DB_NOT_FOUND, DB_LOCKED, DB_CORRUPT, STORE_UNREACHABLE, …); messages never carry a secret (a
 * client secret, a DSN password).
 */
export interface IdpStore {
  readonly engine: StoreEngine
  /** For messages and logs: the file path, or `postgres://user@host:port/dbname` (never a password). */
  readonly label: string
  /**
   * Recorded as a backup manifest's `source`: the resolved file path, or `host:port/dbname`. A name,
   * not an identity — `identify()` says what the store is.
   */
  readonly identity: string
  /** What this store is (see StoreIdentity); never throws for a store that cannot be read. */
  identify(): Promise<StoreIdentity>
  /** Every connector row, read without taking a write lock and without writing anything. */
  readConnectors(): Promise<ConnectorRow[]>
  /**
   * The store's health: SQLite `PRAGMA integrity_check` plus a readable connector table; PostgreSQL
   * reachable plus Dex's schema. `'ok'`, or the problem in one line.
   */
  check(): Promise<string>
  /** Take a verified backup now (scheduled, manual, before a restore). */
  backup(request: BackupRequest): Promise<BackupInfo>
  /** Check one of this engine's backups against its manifest. */
  verifyBackup(info: BackupInfo): Promise<VerifyResult>
  /**
   * Put a whole backup back (the current state is backed up first). Only for a store that fails
   * `check()` or an operator's explicit `backups restore`: a rollback undoes values, not the file.
   */
  restore(info: BackupInfo, request: BackupRequest): Promise<RestoreResult>
  /**
   * One write transaction with the connector rows locked against other writers (SQLite BEGIN
   * IMMEDIATE, PostgreSQL SELECT … FOR UPDATE), lock waits bounded, a durable commit (SQLite
   * synchronous=FULL). When `fn` throws, nothing it wrote is kept.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>
  /** Release connections; idempotent. */
  close(): Promise<void>
}

export interface StoreTransaction {
  /** The connector rows as this transaction sees (and locks) them. */
  readConnectors(): Promise<ConnectorRow[]>
  /** A verified backup of exactly the locked state; call it before the first write. */
  backup(request: BackupRequest): Promise<BackupInfo>
  /** The store's check (`IdpStore.check`) as this transaction sees it, uncommitted writes included. */
  check(): Promise<string>
  /**
   * Replace one connector's stored config with `config` — exactly these bytes (a string: its UTF-8
   * bytes) — keeping its storage class (BLOB stays BLOB, TEXT stays TEXT), and set its
   * `resource_version` in the same statement (Dex reopens a connector whose version changed).
   */
  writeConfig(
    row: ConnectorRow,
    config: string | Uint8Array,
    resourceVersion: string,
  ): Promise<void>
}
