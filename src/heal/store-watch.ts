// The daemon's check that the IdP store is still the one it last kept: a volume lost or recreated, or a
// database dropped and re-created, leaves NetBird running on a fresh store without the SSO connectors,
// and every SSO user sees "Invalid credentials" — while no log line and no login probe says so (there
// is no connector left to fail). The store as it is now (its identity and its connectors) is compared
// with the newest backup taken on schedule or by an operator (store/restore-guard.ts lastKeptBackup);
// core/store-identity.ts judges what changed. A critical change is one error line (what is gone, the
// backup that holds it, the exact restore command), a metric, a webhook event and an alert — and never
// a restore: nothing here writes anything. While it stands, self-heal.ts holds the scheduled backup and
// retention back, so that a backup of the new store neither becomes the one compared with nor lets
// retention delete the backup that holds the old connectors.
import { Gauge, type Registry } from 'prom-client'
import { shellQuote } from '../core/checks/check.js'
import {
  isCritical,
  sameStore,
  storeChange,
  storeFlags,
  type StoreArgs,
  type StoreChange,
} from '../core/store-identity.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { engineOf, type BackupInfo } from '../store/backup-files.js'
import type { IdpStore } from '../store/port.js'
import { currentStore, lastKeptBackup, recordedStore } from '../store/restore-guard.js'
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
    const backup = lastKeptBackup(backupDir)
    if (backup === undefined) return this.#settle(undefined, 'no backup to compare with')
    const here = await store.identify()
    if (here.connectors === undefined) return
    const recorded = recordedStore(backup)
    const current = { ...currentStore(store, here), connectors: here.connectors }
    const change = storeChange(recorded, current)
    if (change.kind === 'unchanged') {
      return this.#settle(undefined, `it holds every connector of backup ${backup.id}`)
    }
    const args = this.#o.storeArgs?.() ?? { engine: store.engine, label: store.label }
    const flags = storeFlags(args)
    // --force exactly when the restore guard (store/restore-guard.ts) would refuse without it.
    const force = !sameStore(recorded, current).same
    const command =
      engineOf(backup.manifest) === store.engine
        ? `netbird-watchdog backups restore ${shellQuote(backup.id)} ${flags.args} --backup-dir ${shellQuote(backupDir)}${force ? ' --force' : ''}`
        : undefined
    const text = describe(change, {
      label: store.label,
      backup,
      command,
      note: flags.note,
      force,
      keep: `netbird-watchdog backups create ${flags.args} --backup-dir ${shellQuote(backupDir)}`,
    })
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
    if (finding === undefined) {
      if (before !== undefined && isCritical(before.change)) {
        const text = `the IdP store is no longer lost or replaced: ${why ?? 'compared again'}`
        this.#log.info({ store: this.#o.store.label }, text)
        this.#o.notifier.notify({ event: 'store', text })
      }
      return
    }
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

function describe(
  change: StoreFinding['change'],
  c: {
    label: string
    backup: BackupInfo
    command: string | undefined
    note: string
    force: boolean
    keep: string
  },
): string {
  const id = c.backup.id
  const ids = missingOf(change).join(', ')
  const restore =
    c.command === undefined
      ? `Backup ${id} is of a ${engineOf(c.backup.manifest)} store and cannot be restored into this one: point NetBird back at the store it was taken of, or create the connectors again.`
      : `To restore them: ${c.command}${c.note} — ${c.force ? '--force because this is not the database the backup was taken of, which the restore guard refuses without it' : 'no --force: the restore guard recognises this store as the one the backup was taken of'}; the store as it is now is backed up first; then restart NetBird.`
  const keep = `To keep this store as it is instead, take a backup of it: ${c.keep}. Until one or the other, the scheduled backup and retention are held back, so that ${id} stays.`
  switch (change.kind) {
    case 'replaced':
      return `IdP STORE REPLACED: ${c.label} is not the store backup ${id} was taken of (${change.why}), and it lacks connector(s) that backup holds: ${ids}. Every SSO login through them fails ("Invalid credentials"). Nothing was restored or changed. ${restore} ${keep}`
    case 'connectors-gone':
      return `IdP STORE EMPTIED: every connector backup ${id} holds is gone from ${c.label}: ${ids} (it is the same store by what identifies it, as an idp.db deleted and created again can be, or every identity provider was deleted). SSO logins fail for everyone. Nothing was restored or changed. ${restore} ${keep}`
    case 'connectors-removed':
      return `connector(s) gone from the IdP store ${c.label} since backup ${id}: ${ids}. The same store, other connectors still there: as when an identity provider is deleted in NetBird's dashboard. If that was not on purpose: ${c.command === undefined ? restore : `${c.command}${c.note} (it puts back the whole store as it was at that backup; the store as it is now is backed up first), then restart NetBird`}. The next scheduled backup records the store as it is now.`
    case 'other-store':
      return `the IdP store ${c.label} is not the one backup ${id} was taken of (${change.why}), but it holds every connector that backup holds (moved, migrated, or restored into a new database): nothing is lost. The next scheduled backup records it.`
  }
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
