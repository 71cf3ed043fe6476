// The daemon's IdP store when NetBird's own config files (config.yaml, management.json) take part in
// finding it: asked again whenever one of those files changes (its inode, size or modification time,
// looked at on every use — a stat, no watcher to lose on a bind mount), and unknown while a file that
// could name it cannot be used (not valid YAML or JSON, `postgres` without a DSN, a malformed DSN).
// An unknown store refuses every operation with STORE_UNKNOWN — reads, backups and above all writes:
// the idp.db the watchdog would otherwise fall back to may be one NetBird no longer uses (it moved to
// PostgreSQL, or to another file), and repairing it would change nothing NetBird reads.
import { statSync } from 'node:fs'
import type { ConnectorRow } from '../core/connectors.js'
import { WatchdogError, errorMessage } from '../errors.js'
import type { BackupInfo, VerifyResult } from '../store/backup-files.js'
import { locationLabel, type StoreLocation } from '../store/open.js'
import type {
  BackupRequest,
  IdpStore,
  RestoreResult,
  StoreEngine,
  StoreIdentity,
  StoreTransaction,
} from '../store/port.js'

/** What finding the store gave: where it is, or why it cannot be known now. */
export type Located = { readonly location: StoreLocation } | { readonly unknown: string }

export interface LocatedStoreOptions {
  /** Find the store now (store/open.ts resolveStore, with NetBird's files read afresh). */
  readonly locate: () => Located
  /** The NetBird files whose change means the store must be found again. */
  readonly files: readonly string[]
  /** Open the store at a location (store/open.ts openStore). */
  readonly open: (location: StoreLocation) => IdpStore
  /** Told when the store becomes known, unknown, or moves (for the log). */
  readonly onChange?: (now: Located, before: Located | undefined) => void
}

export class LocatedStore implements IdpStore {
  readonly #o: LocatedStoreOptions
  #fingerprint = ''
  #located: Located | undefined
  #store: IdpStore | undefined
  /** The last store that was known: its engine and label stand while it is unknown. */
  #last: IdpStore | undefined

  constructor(o: LocatedStoreOptions) {
    this.#o = o
    this.#refresh()
  }

  /** Where the store is now, or why it is unknown (files looked at again first). */
  get located(): Located {
    this.#refresh()
    return this.#located!
  }

  get engine(): StoreEngine {
    this.#refresh()
    return (this.#store ?? this.#last)?.engine ?? 'sqlite'
  }

  get label(): string {
    this.#refresh()
    const located = this.#located!
    return 'location' in located ? locationLabel(located.location) : `unknown (${located.unknown})`
  }

  /** While the store is unknown nothing is backed up or restored, so no manifest records this. */
  get identity(): string {
    this.#refresh()
    return this.#store?.identity ?? 'unknown'
  }

  /** What the store is; while it is unknown, only its engine and label (nothing identifies it). */
  async identify(): Promise<StoreIdentity> {
    this.#refresh()
    const located = this.#located!
    if (this.#store === undefined || !('location' in located)) {
      return { engine: this.engine, label: this.label }
    }
    return await this.#store.identify()
  }

  readConnectors(): Promise<ConnectorRow[]> {
    return this.#with((s) => s.readConnectors())
  }

  check(): Promise<string> {
    return this.#with((s) => s.check())
  }

  backup(request: BackupRequest): Promise<BackupInfo> {
    return this.#with((s) => s.backup(request))
  }

  verifyBackup(info: BackupInfo): Promise<VerifyResult> {
    return this.#with((s) => s.verifyBackup(info))
  }

  restore(info: BackupInfo, request: BackupRequest): Promise<RestoreResult> {
    return this.#with((s) => s.restore(info, request))
  }

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#with((s) => s.transaction(fn))
  }

  async close(): Promise<void> {
    const open = [this.#store, this.#last].filter((s): s is IdpStore => s !== undefined)
    this.#store = undefined
    await Promise.allSettled([...new Set(open)].map((s) => s.close()))
  }

  /** An async wrapper: STORE_UNKNOWN reaches the caller as a rejection, never synchronously. */
  async #with<T>(use: (store: IdpStore) => Promise<T>): Promise<T> {
    return await use(this.#known())
  }

  #known(): IdpStore {
    this.#refresh()
    const located = this.#located!
    if (this.#store === undefined || !('location' in located)) {
      throw new WatchdogError(
        'STORE_UNKNOWN',
        `where NetBird keeps its IdP store cannot be known now (${'unknown' in located ? located.unknown : 'not found'}): nothing is read or written until the file is fixed (it is read again when it changes)`,
      )
    }
    return this.#store
  }

  /** Find the store again if a NetBird file changed since the last time. */
  #refresh(): void {
    const fingerprint = this.#o.files.map(fileStamp).join('|')
    if (this.#located !== undefined && fingerprint === this.#fingerprint) return
    this.#fingerprint = fingerprint
    let located: Located
    try {
      located = this.#o.locate()
    } catch (err) {
      located = { unknown: errorMessage(err) }
    }
    const before = this.#located
    this.#located = located
    if ('location' in located) {
      const same =
        before !== undefined &&
        'location' in before &&
        this.#store !== undefined &&
        sameLocation(before.location, located.location)
      if (!same) {
        if (this.#store !== undefined) this.#last = this.#store
        void this.#last?.close()
        this.#store = this.#o.open(located.location)
      }
    } else if (this.#store !== undefined) {
      this.#last = this.#store
      this.#store = undefined
    }
    if (before === undefined || describe(before) !== describe(located)) {
      this.#o.onChange?.(located, before)
    }
  }
}

/** A file's identity and version as stat sees it ('missing' when it is not there). */
function fileStamp(path: string): string {
  try {
    const s = statSync(path)
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`
  } catch {
    return 'missing'
  }
}

function sameLocation(a: StoreLocation, b: StoreLocation): boolean {
  return locationLabel(a) === locationLabel(b) && a.engine === b.engine
}

function describe(l: Located): string {
  return 'location' in l
    ? `${l.location.engine} ${locationLabel(l.location)}`
    : `unknown ${l.unknown}`
}
