// The daemon's check that the IdP store is still the one it last kept: a volume lost or recreated, or a
// database dropped and re-created, leaves NetBird running on a fresh store without the SSO connectors,
// and every SSO user sees "Invalid credentials" — while no log line and no login probe says so (there
// is no connector left to fail). The store as it is now (its identity and its connectors) is compared
// with the newest backup taken on schedule or by an operator (store/restore-guard.ts
// compareWithLastKept); core/store-identity.ts judges what changed. A critical change is one error line (what is gone, the
// backup that holds it, the exact restore command), a metric, a webhook event and an alert — and never
// a restore: nothing here writes anything. While it stands, self-heal.ts holds the scheduled backup and
// retention back, so that a backup of the new store neither becomes the one compared with nor lets
// retention delete the backup that holds the old connectors.
import { Gauge, type Registry } from 'prom-client'
import {
  describeStoreChange,
  isCritical,
  type StoreArgs,
  type StoreChange,
} from '../core/store-identity.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { engineOf, type BackupInfo } from '../store/backup-files.js'
import type { IdpStore } from '../store/port.js'
import { compareWithLastKept } from '../store/restore-guard.js'
import type { Notifier } from './webhook.js'

/** A store that is not as it was kept: every change but `unchanged`. */
export interface StoreFinding {
  readonly change: Exclude<StoreChange, { kind: 'unchanged' }>
  /** The backup the store was compared with: the one that holds what is missing. */
  readonly backup: BackupInfo
  /** `netbird-watchdog backups restore …`; undefined when the backup is of the other engine. */
  readonly command?: string
  /** The one sentence logged (and sent) about it. */
  readonly text: string
}

export interface StoreWatchOptions {
  readonly store: IdpStore
  readonly backupDir: string
  readonly logger: Logger
  readonly notifier: Notifier
  /** How a printed command names the store; by default its engine and label. */
  readonly storeArgs?: () => StoreArgs
}

export class StoreWatch {
  readonly #o: StoreWatchOptions
  readonly #log: Logger
  #finding: StoreFinding | undefined
  /** What was last reported, so that a standing finding is logged once, not at every check. */
  #reported = ''
  #running: Promise<void> | undefined

  constructor(o: StoreWatchOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'store-watch' })
  }

  /** The last comparison that could be made (undefined: nothing is missing, or nothing to compare). */
  get finding(): StoreFinding | undefined {
    return this.#finding
  }

  /** A critical finding stands: SSO users are locked out, and no scheduled backup may hide it. */
  get critical(): boolean {
    return this.#finding !== undefined && isCritical(this.#finding.change)
  }

  /**
   * Compare the store with the last kept backup now. Never throws; a check already running is joined.
   * A store that cannot be read or identified now leaves the last result standing.
   */
  check(): Promise<void> {
    this.#running ??= this.#compare()
      .catch((err: unknown) => {
        this.#log.warn({ err: errorMessage(err) }, 'cannot compare the IdP store with its backups')
      })
      .finally(() => (this.#running = undefined))
    return this.#running
  }

  /** Resolves when a check in progress is done (shutdown). */
  async idle(): Promise<void> {
    await this.#running
  }

  async #compare(): Promise<void> {
    const { store, backupDir } = this.#o
    const args = this.#o.storeArgs?.() ?? { engine: store.engine, label: store.label }
    const compared = await compareWithLastKept(store, backupDir, args)
    if (compared === undefined) return this.#settle(undefined, 'no backup to compare with')
    const { backup, change, advice } = compared
    if (change === undefined || advice === undefined) return
    if (change.kind === 'unchanged') {
      return this.#settle(undefined, `it holds every connector of backup ${backup.id}`)
    }
    const text = describeStoreChange(change, {
      label: store.label,
      backupId: backup.id,
      backupEngine: engineOf(backup.manifest),
      advice,
    })
    const { command } = advice
    this.#settle({ change, backup, ...(command !== undefined ? { command } : {}), text })
  }

  /** Take a comparison's result, and report it if it differs from the last one reported. */
  #settle(finding: StoreFinding | undefined, why?: string): void {
    const before = this.#finding
    this.#finding = finding
    const key =
      finding === undefined
        ? ''
        : [finding.change.kind, finding.backup.id, ...missingOf(finding.change)].join('\u0000')
    if (key === this.#reported) return
    this.#reported = key
    if (before !== undefined && isCritical(before.change) && !this.critical) {
      const now =
        finding === undefined
          ? (why ?? 'compared again')
          : finding.change.kind === 'other-store'
            ? `it holds every connector of backup ${finding.backup.id} (in another store: restored or moved)`
            : `only some connectors of backup ${finding.backup.id} are missing now`
      const text = `the IdP store is no longer lost or replaced: ${now}`
      this.#log.info({ store: this.#o.store.label }, text)
      this.#o.notifier.notify({ event: 'store', text })
    }
    if (finding === undefined) return
    const fields = {
      store: this.#o.store.label,
      change: finding.change.kind,
      missing: missingOf(finding.change),
      backup: finding.backup.id,
      backupPath: finding.backup.path,
      backupCreatedAt: finding.backup.manifest.createdAt,
      ...(finding.command !== undefined ? { command: finding.command } : {}),
    }
    if (isCritical(finding.change)) {
      this.#log.error(fields, finding.text)
      this.#o.notifier.notify({ event: 'store', text: finding.text, details: fields })
    } else if (finding.change.kind === 'connectors-removed') {
      this.#log.warn(fields, finding.text)
    } else {
      this.#log.info(fields, finding.text)
    }
  }
}

function missingOf(change: StoreChange): readonly string[] {
  return 'missing' in change ? change.missing : []
}

/** The store watch's gauges, read from its last comparison at scrape time. */
export function createStoreWatchMetrics(
  registry: Registry,
  finding: () => StoreFinding | undefined,
): void {
  const registers = [registry]
  new Gauge({
    name: 'netbird_watchdog_idp_store_replaced',
    help: 'Whether the IdP store was lost or replaced (1): another store lacking connectors the last kept backup holds, or the same store with every one of them gone; 0 otherwise. Never restored by the watchdog: the log line has the restore command.',
    registers,
    collect() {
      const f = finding()
      this.set(f !== undefined && isCritical(f.change) ? 1 : 0)
    },
  })
  new Gauge({
    name: 'netbird_watchdog_idp_connectors_missing',
    help: "Connectors (other than NetBird's local one) the last kept backup holds that the IdP store does not: replaced or emptied stores and connectors deleted since that backup alike; 0 when none is missing.",
    registers,
    collect() {
      const f = finding()
      this.set(f === undefined ? 0 : missingOf(f.change).length)
    },
  })
}
