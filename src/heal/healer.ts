// The self-healing orchestrator: turns an `oidc-issuer-mismatch` finding (or drift found by the scheduled
// check) into detect → confirm with live discovery → verified backup + exact issuer fix
// (src/sqlite/repair.ts) → restart through the engine → confirm recovery → roll back if it got worse.
// Decisions are made by the pure src/core/heal-decision.ts and src/core/breaker.ts; this file gathers
// the facts, acts, and reports (logs, metrics, webhook). One repair per target at a time.
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { modeFor, type Config } from '../config/schema.js'
import {
  closedBreaker,
  recordRepair,
  recordRestart,
  recordTrouble,
  recordUp,
  requestRestart,
  resetBreaker,
  tripBreaker,
  isOpen,
  advance,
  type BreakerPolicy,
  type BreakerState,
} from '../core/breaker.js'
import {
  decideHeal,
  decideRestart,
  type ConnectorDiscovery,
  type HealTrigger,
  type IssuerFix,
} from '../core/heal-decision.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { restoreManagementJson } from '../netbird/management-json.js'
import { defaultBackupDir, integrityCheck, listBackups, restoreBackup } from '../sqlite/backup.js'
import { connectorIssuer, openIdpDb, readConnectors } from '../sqlite/idp-db.js'
import { repairIssuers, type RepairResult } from '../sqlite/repair.js'
import type { HealMetrics, RepairResultLabel } from './metrics.js'
import type { Discover, FindingEvent, HealDocker, HealEvents, TargetSnapshot } from './ports.js'
import type { Notification, Notifier } from './webhook.js'

export interface HealerOptions {
  readonly config: Config
  readonly logger: Logger
  readonly docker: HealDocker
  readonly events: HealEvents
  readonly metrics: HealMetrics
  readonly discover: Discover
  readonly notifier: Notifier
  readonly version: string
  /** Injected clock (ms since the epoch). */
  readonly now?: () => number
  /** How often the confirm loop looks at the container. */
  readonly pollMs?: number
  /** How long a restarted (or Docker-restarting) container may take to come up before it counts as failed. */
  readonly startTimeoutMs?: number
  /** The repair step; the real one unless a test needs a fault only a fake can produce. */
  readonly repair?: typeof repairIssuers
}

export type HealOutcome =
  | { readonly kind: 'skipped'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'repaired'; readonly result: RepairResultLabel; readonly detail: string }

interface TargetState {
  name: string
  id: string
  breaker: BreakerState
  inFlight: Promise<HealOutcome> | null
  /** Set while a repair is waiting for the container to prove itself. */
  confirm: ConfirmWatch | null
  /** Last detection webhook: a crash loop notifies once per episode, not once per crash. */
  notifiedAt: number
}

interface ConfirmWatch {
  /** Findings received after this time count against the repair. */
  readonly armedAt: number
  failures: Array<{ at: number; what: string }>
}

/** Findings that mean "the identity provider still (or newly) fails to start". */
function isFailureFinding(e: FindingEvent): boolean {
  return e.finding.fatal || e.finding.severity === 'critical'
}

export class Healer {
  readonly #o: HealerOptions
  readonly #log: Logger
  readonly #policy: BreakerPolicy
  readonly #targets = new Map<string, TargetState>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #abort = new AbortController()
  readonly #now: () => number
  readonly #dbPath: string
  readonly #backupDir: string

  constructor(o: HealerOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'healer' })
    this.#now = o.now ?? Date.now
    const r = o.config.repair
    this.#policy = {
      maxRepairs: r.maxRepairs,
      windowMs: r.windowSeconds * 1000,
      cooldownMs: r.cooldownSeconds * 1000,
      backoffInitialMs: r.restartBackoffSeconds * 1000,
      backoffMaxMs: r.restartBackoffMaxSeconds * 1000,
      stableResetMs: o.config.detection.stableSeconds * 1000,
    }
    this.#dbPath = resolve(o.config.idp.dbPath)
    this.#backupDir = resolve(o.config.backups.dir ?? defaultBackupDir(this.#dbPath))
  }

  get backupDir(): string {
    return this.#backupDir
  }

  start(): void {
    const { events } = this.#o
    this.#unsubscribe.push(
      events.onFinding((e) => this.#onFinding(e)),
      events.onDied((e) => {
        const t = this.#target(e.container, e.containerId)
        t.breaker = recordTrouble(t.breaker, this.#policy, this.#now())
      }),
      events.onStarted((e) => {
        const t = this.#target(e.container, e.containerId)
        t.breaker = recordUp(t.breaker, this.#policy, this.#now())
        this.#publishBreaker(t)
      }),
    )
    for (const name of this.#o.config.targets.names) this.#o.metrics.addTarget(name)
    this.#log.info(
      {
        mode: this.#o.config.mode,
        overrides: this.#o.config.targets.overrides,
        db: this.#dbPath,
        backups: this.#backupDir,
      },
      `self-healing active, mode ${this.#o.config.mode}`,
    )
  }

  /** SIGTERM: stop listening, let an in-flight repair finish or roll back, then resolve. */
  async stop(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off()
    this.#abort.abort()
    const inFlight = [...this.#targets.values()].flatMap((t) => (t.inFlight ? [t.inFlight] : []))
    if (inFlight.length > 0) this.#log.warn('shutting down: finishing the in-flight repair first')
    await Promise.allSettled(inFlight)
    await this.#o.notifier.flush()
  }

  /** Operator reset (POST /reset): close the breaker of one target or of all. Returns the names reset. */
  reset(container?: string): string[] {
    const names: string[] = []
    for (const t of this.#targets.values()) {
      if (container !== undefined && t.name !== container) continue
      t.breaker = resetBreaker()
      this.#publishBreaker(t)
      names.push(t.name)
    }
    if (names.length > 0) this.#log.warn({ containers: names }, 'circuit breaker reset by operator')
    return names
  }

  /** For /reset and the demo: each known target's breaker. */
  status(): Array<{ container: string; breakerOpen: boolean; repairing: boolean }> {
    const now = this.#now()
    return [...this.#targets.values()].map((t) => ({
      container: t.name,
      breakerOpen: isOpen(t.breaker, this.#policy, now),
      repairing: t.inFlight !== null,
    }))
  }

  /**
   * The scheduled drift check (doctor job): live discovery of every OIDC connector; drift on a known
   * target starts the repair flow before NetBird ever crashes. Returns whether every issuer matched.
   */
  async checkDrift(): Promise<{ ok: boolean; drift: number; unreachable: number }> {
    const discovery = await this.discoverAll()
    const drift = discovery.filter((d) => d.result.ok && d.result.returned !== d.stored)
    const unreachable = discovery.filter((d) => !d.result.ok).length
    if (drift.length === 0) return { ok: unreachable === 0, drift: 0, unreachable }
    this.#log.warn(
      {
        drift: drift.map((d) => ({
          connectorId: d.connectorId,
          stored: d.stored,
          returned: d.result.ok ? d.result.returned : undefined,
        })),
      },
      'issuer drift detected by the scheduled check',
    )
    const target = await this.#resolveTarget()
    if (target === undefined) {
      this.#log.warn(
        'drift found but no target container is known; nothing to restart, not repairing',
      )
      return { ok: false, drift: drift.length, unreachable }
    }
    this.#notifyDetection(this.#target(target.name, target.id), {
      event: 'detection',
      container: target.name,
      text: `${target.name}: issuer drift on ${drift.map((d) => d.connectorId).join(', ')} (found by the scheduled check)`,
    })
    await this.heal(target.name, target.id, { kind: 'drift' }, discovery)
    return { ok: false, drift: drift.length, unreachable }
  }

  /** Live discovery of every OIDC connector in idp.db, with go-oidc semantics (raw strings). */
  async discoverAll(): Promise<ConnectorDiscovery[]> {
    const rows = readConnectors(this.#dbPath, { busyTimeoutMs: this.#o.config.idp.busyTimeoutMs })
    const out: ConnectorDiscovery[] = []
    for (const row of rows) {
      if (row.configError !== undefined) {
        // Dex skips such a connector too; the others are still checked. The message never quotes the
        // config (it may hold a client secret).
        this.#log.warn(
          { connectorId: row.id, problem: row.configError },
          'connector config cannot be parsed: not checking it for drift (restore a backup or re-create the connector)',
        )
        continue
      }
      const stored = connectorIssuer(row)
      if (stored === undefined) continue
      const first = await this.#o.discover(stored)
      if (!first.ok) {
        out.push({
          connectorId: row.id,
          stored,
          result: { ok: false, reason: first.reason, message: first.message },
        })
        continue
      }
      let selfConsistent: boolean | undefined
      if (first.issuer !== stored) {
        // Never fix towards a value the provider does not stand by: discovery at the new value must
        // answer the same value (it does for the trailing-slash case: go-oidc trims it for the URL).
        const second = await this.#o.discover(first.issuer)
        selfConsistent = second.ok && second.issuer === first.issuer
      }
      out.push({
        connectorId: row.id,
        stored,
        result: {
          ok: true,
          returned: first.issuer,
          ...(selfConsistent !== undefined ? { selfConsistent } : {}),
        },
      })
    }
    return out
  }

  /** Run the heal flow for a target (findings, the drift check, the demo). */
  heal(
    container: string,
    containerId: string,
    trigger: HealTrigger,
    discovery?: readonly ConnectorDiscovery[],
  ): Promise<HealOutcome> {
    const t = this.#target(container, containerId)
    if (t.inFlight !== null) return this.#skipped(t, 'in_progress', 'a repair is already running')
    const run = this.#heal(t, trigger, discovery).finally(() => {
      t.inFlight = null
    })
    t.inFlight = run
    return run
  }

  /** Resolves when no repair is running (tests, demo). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#targets.values()].flatMap((t) => (t.inFlight ? [t.inFlight] : []))
      if (running.length === 0) return
      await Promise.allSettled(running)
    }
  }

  #onFinding(e: FindingEvent): void {
    const t = this.#target(e.container, e.containerId)
    if (isFailureFinding(e)) t.breaker = recordTrouble(t.breaker, this.#policy, this.#now())
    if (t.confirm !== null) {
      if (isFailureFinding(e)) {
        t.confirm.failures.push({
          // The line's own engine timestamp, not its arrival: a line from the run the repair's
          // restart killed can arrive after the fresh run started, and must not count against it.
          at: e.loggedAtMs ?? this.#now(),
          what: `${e.finding.rule}${e.finding.connectorId !== undefined ? ` (connector ${e.finding.connectorId})` : ''}`,
        })
      }
      return
    }
    if (e.finding.rule !== 'oidc-issuer-mismatch') return
    this.#log.warn(
      {
        container: e.container,
        rule: e.finding.rule,
        connectorId: e.finding.connectorId,
        configured: e.finding.expectedIssuer,
        returned: e.finding.returnedIssuer,
      },
      'issuer mismatch seen in the logs',
    )
    if (t.inFlight !== null) {
      this.#o.metrics.repairsSkipped.inc({ container: t.name, reason: 'in_progress' })
      return
    }
    this.#notifyDetection(t, {
      event: 'detection',
      container: t.name,
      text: `${t.name}: oidc-issuer-mismatch on connector ${e.finding.connectorId ?? '?'} (configured ${JSON.stringify(e.finding.expectedIssuer)}, provider returns ${JSON.stringify(e.finding.returnedIssuer)})`,
      details: { finding: e.finding },
    })
    void this.heal(t.name, t.id, {
      kind: 'finding',
      ...(e.finding.connectorId !== undefined ? { connectorId: e.finding.connectorId } : {}),
    })
  }

  async #heal(
    t: TargetState,
    trigger: HealTrigger,
    known?: readonly ConnectorDiscovery[],
  ): Promise<HealOutcome> {
    const log = this.#log.child({ container: t.name })
    const mode = modeFor(this.#o.config, t.name)
    const snapshot = await this.#inspect(t)
    const status = snapshot?.status ?? 'missing'
    const base = { mode, trigger, status, inFlight: false, policy: this.#policy } as const
    const wasOpen = t.breaker.open !== null
    let step = decideHeal({ ...base, breaker: t.breaker, now: this.#now() })
    if (step.decision.action === 'discover' || known !== undefined) {
      let discovery = known
      if (discovery === undefined) {
        try {
          discovery = await this.discoverAll()
        } catch (err) {
          return this.#skipped(
            t,
            'discovery_unreachable',
            `cannot read idp.db: ${errorMessage(err)}`,
          )
        }
      }
      step = decideHeal({ ...base, discovery, breaker: t.breaker, now: this.#now() })
    }
    t.breaker = step.breaker
    this.#publishBreaker(t)
    const decision = step.decision
    switch (decision.action) {
      case 'discover':
        return this.#skipped(t, 'discovery_unreachable', 'no discovery result')
      case 'skip':
        if (decision.reason === 'dry_run' && decision.fixes !== undefined) {
          await this.#dryRun(t, decision.fixes, log)
        }
        if (decision.reason === 'breaker_open' && !wasOpen) {
          log.error(`CIRCUIT BREAKER OPEN: ${decision.detail}`)
          this.#o.notifier.notify({ event: 'breaker', container: t.name, text: decision.detail })
        }
        return this.#skipped(t, decision.reason, decision.detail)
      case 'repair':
        return this.#repair(t, decision.fixes, log)
    }
  }

  async #dryRun(t: TargetState, fixes: readonly IssuerFix[], log: Logger): Promise<void> {
    try {
      const plan = await (this.#o.repair ?? repairIssuers)({
        ...this.#repairOptions(fixes),
        dryRun: true,
      })
      log.warn(
        { plan: plan.changes, managementJson: plan.managementJson?.changes },
        `dry-run: would back up ${this.#dbPath}, apply ${plan.changes.length} issuer fix(es) and restart ${t.name}`,
      )
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'dry-run: the repair would be refused')
    }
  }

  #repairOptions(fixes: readonly IssuerFix[]): Parameters<typeof repairIssuers>[0] {
    const idp = this.#o.config.idp
    return {
      dbPath: this.#dbPath,
      changes: fixes.map((f) => ({ connectorId: f.connectorId, to: f.to })),
      dryRun: false,
      backupDir: this.#backupDir,
      ...(idp.managementJson !== undefined ? { managementJsonPath: idp.managementJson } : {}),
      fixStaticConnectors: idp.fixStaticConnectors,
      version: this.#o.version,
      logger: this.#o.logger,
      busyTimeoutMs: idp.busyTimeoutMs,
    }
  }

  async #repair(t: TargetState, fixes: readonly IssuerFix[], log: Logger): Promise<HealOutcome> {
    const m = this.#o.metrics
    const startedAt = this.#now()
    log.warn(
      {
        fixes: fixes.map((f) => ({
          connectorId: f.connectorId,
          from: f.from,
          to: f.to,
          why: f.why,
        })),
      },
      'repairing: verified backup, then the exact issuer fix',
    )
    let result: RepairResult
    try {
      result = await (this.#o.repair ?? repairIssuers)(this.#repairOptions(fixes))
    } catch (err) {
      // repairIssuers left the database as it was (or restored its own backup).
      t.breaker = recordRepair(t.breaker, this.#policy, startedAt)
      t.breaker = tripBreaker(t.breaker, this.#policy, 'repair_failed', this.#now())
      this.#publishBreaker(t)
      m.repairs.inc({ container: t.name, result: 'failed' })
      m.repairFailures.inc({ container: t.name })
      const detail = `repair failed, idp.db unchanged, breaker opened: ${errorMessage(err)}`
      log.error({ err: errorMessage(err) }, detail)
      this.#o.notifier.notify({ event: 'repair', container: t.name, text: `${t.name}: ${detail}` })
      return { kind: 'repaired', result: 'failed', detail }
    }
    const committedAt = this.#now()
    if (result.backup !== null) this.#countBackup(result.backup)
    if (result.changes.length === 0) {
      return this.#skipped(t, 'no_drift', 'nothing to change: idp.db already has the right issuers')
    }
    t.breaker = recordRepair(t.breaker, this.#policy, startedAt)
    log.warn(
      { backup: result.backup, changes: result.changes, managementJson: result.managementJson },
      'idp.db repaired and verified; restarting the container',
    )
    const confirm: ConfirmWatch = { armedAt: committedAt, failures: [] }
    t.confirm = confirm
    try {
      const restart = await this.#restart(t, log)
      if (restart === 'left-stopped') {
        m.repairs.inc({ container: t.name, result: 'unconfirmed' })
        const detail =
          'idp.db fixed; the container is stopped, so it was not started (not confirmed)'
        log.warn(detail)
        return { kind: 'repaired', result: 'unconfirmed', detail }
      }
      const verdict = await this.#confirm(t, confirm, committedAt)
      if (verdict.ok) {
        t.breaker = recordUp(t.breaker, this.#policy, this.#now())
        m.repairs.inc({ container: t.name, result: 'success' })
        m.lastRepair.set(this.#now() / 1000)
        const detail = `recovered: ${t.name} stayed up for ${this.#o.config.repair.confirmSeconds}s with no new failure after setting ${fixes.map((f) => `${f.connectorId} issuer to ${JSON.stringify(f.to)}`).join(', ')}`
        log.info(
          { backup: result.backup, tookMs: this.#now() - startedAt, changes: result.changes },
          detail,
        )
        this.#o.notifier.notify({
          event: 'repair',
          container: t.name,
          text: `${t.name}: ${detail}`,
          details: { backup: result.backup, changes: result.changes },
        })
        return { kind: 'repaired', result: 'success', detail }
      }
      if (verdict.why === 'shutdown') {
        m.repairs.inc({ container: t.name, result: 'unconfirmed' })
        const detail =
          'shutting down during the confirm window with no failure seen: the repair stays in place, unconfirmed'
        log.warn({ backup: result.backup }, detail)
        return { kind: 'repaired', result: 'unconfirmed', detail }
      }
      return await this.#rollback(t, result, verdict.why, log)
    } finally {
      t.confirm = null
    }
  }

  /** Restart the target so NetBird reloads idp.db — unless Docker is already doing it, or it is stopped. */
  async #restart(t: TargetState, log: Logger): Promise<'restarted' | 'docker' | 'left-stopped'> {
    for (;;) {
      const snap = await this.#inspect(t)
      const backoff = requestRestart(t.breaker, this.#policy, this.#now())
      const action = decideRestart(snap?.status ?? 'missing', backoff)
      switch (action.action) {
        case 'let-docker':
          log.info("container is in Docker's restart loop; its restart policy will start it")
          return 'docker'
        case 'leave':
          log.warn(action.detail)
          return 'left-stopped'
        case 'wait':
          if (this.#abort.signal.aborted) {
            // Shutting down: finish the repair rather than leave the fix unloaded.
            await this.#doRestart(t, log)
            return 'restarted'
          }
          log.info({ waitMs: action.waitMs }, 'restart backoff: waiting')
          await delay(action.waitMs, this.#abort.signal)
          continue
        case 'restart':
          await this.#doRestart(t, log)
          return 'restarted'
      }
    }
  }

  async #doRestart(t: TargetState, log: Logger): Promise<void> {
    t.breaker = recordRestart(t.breaker, this.#policy, this.#now())
    log.info('restarting the container')
    await this.#o.docker.restart(t.id, {
      timeoutSeconds: this.#o.config.repair.stopTimeoutSeconds,
    })
  }

  /**
   * Recovered = a run that started after the fix is still running `confirmSeconds` after its start, no
   * failure finding arrived since that start, and idp.db passes integrity_check. Evidence from older
   * runs (their deaths, their last log lines) is ignored.
   */
  async #confirm(
    t: TargetState,
    watch: ConfirmWatch,
    committedAt: number,
  ): Promise<{ ok: true } | { ok: false; why: string }> {
    const confirmMs = this.#o.config.repair.confirmSeconds * 1000
    const deadline = this.#now() + confirmMs + (this.#o.startTimeoutMs ?? 90_000)
    const pollMs = this.#o.pollMs ?? 250
    for (;;) {
      const snap = await this.#inspect(t)
      const now = this.#now()
      // A run that started before the commit may have read the old rows: only later runs count.
      const fresh = snap !== undefined && snap.startedAt >= committedAt
      if (fresh) {
        const failed = watch.failures.find((f) => f.at >= snap.startedAt)
        if (failed !== undefined) return { ok: false, why: `${failed.what} after the restart` }
        const died =
          snap.status !== 'running' &&
          Number.isFinite(snap.finishedAt) &&
          snap.finishedAt >= snap.startedAt
        if (died) return { ok: false, why: `the container died again (${snap.status})` }
        if (snap.status === 'running' && now - snap.startedAt >= confirmMs) {
          const integrity = this.#integrity()
          if (integrity !== 'ok') return { ok: false, why: `idp.db check failed: ${integrity}` }
          return { ok: true }
        }
      } else if (snap === undefined) {
        return { ok: false, why: 'the container disappeared' }
      }
      if (this.#abort.signal.aborted) {
        return { ok: false, why: 'shutdown' }
      }
      if (now >= deadline) {
        return { ok: false, why: 'the container did not come back up and stay up in time' }
      }
      await delay(pollMs, this.#abort.signal)
    }
  }

  async #rollback(
    t: TargetState,
    result: RepairResult,
    why: string,
    log: Logger,
  ): Promise<HealOutcome> {
    const m = this.#o.metrics
    log.error({ why, backup: result.backup }, 'REPAIR DID NOT HOLD: rolling back to the backup')
    let restored = false
    let restoreError: string | undefined
    try {
      const info = listBackups(this.#backupDir).find((b) => b.path === result.backup)
      if (info === undefined) throw new Error(`backup ${String(result.backup)} is not listed`)
      await restoreBackup(info, {
        dbPath: this.#dbPath,
        backupDir: this.#backupDir,
        version: this.#o.version,
        busyTimeoutMs: this.#o.config.idp.busyTimeoutMs,
      })
      if (result.managementJson?.backup != null) {
        restoreManagementJson(result.managementJson.path, result.managementJson.backup)
      }
      restored = true
    } catch (err) {
      restoreError = errorMessage(err)
    }
    if (restored) {
      try {
        await this.#restart(t, log)
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'restart after rollback failed')
      }
    }
    t.breaker = tripBreaker(t.breaker, this.#policy, 'rolled_back', this.#now())
    this.#publishBreaker(t)
    m.rollbacks.inc({ container: t.name })
    m.repairFailures.inc({ container: t.name })
    m.repairs.inc({ container: t.name, result: restored ? 'rolled_back' : 'failed' })
    const detail = restored
      ? `ROLLED BACK: ${why}; idp.db restored from ${String(result.backup)}, container restarted, circuit breaker OPEN (no more automatic repairs until POST /reset or a long quiet period)`
      : `ROLLBACK FAILED: ${why}; restoring ${String(result.backup)} failed: ${restoreError}; circuit breaker OPEN — restore it by hand: netbird-watchdog backups restore`
    log.error({ backup: result.backup }, detail)
    this.#o.notifier.notify({
      event: 'rollback',
      container: t.name,
      text: `${t.name}: ${detail}`,
      details: { backup: result.backup, why },
    })
    this.#o.notifier.notify({
      event: 'breaker',
      container: t.name,
      text: `${t.name}: breaker open`,
    })
    return { kind: 'repaired', result: restored ? 'rolled_back' : 'failed', detail }
  }

  #notifyDetection(t: TargetState, n: Notification): void {
    const now = this.#now()
    if (now - t.notifiedAt < this.#policy.stableResetMs) return
    t.notifiedAt = now
    this.#o.notifier.notify(n)
  }

  #integrity(): string {
    try {
      const db = openIdpDb(this.#dbPath, {
        readonly: true,
        busyTimeoutMs: this.#o.config.idp.busyTimeoutMs,
      })
      try {
        return integrityCheck(db)
      } finally {
        db.close()
      }
    } catch (err) {
      return errorMessage(err)
    }
  }

  #countBackup(path: string): void {
    const m = this.#o.metrics
    m.backups.inc()
    m.lastBackup.set(this.#now() / 1000)
    try {
      m.lastBackupSize.set(statSync(path).size)
    } catch {
      m.lastBackupSize.set(0)
    }
  }

  #skipped(t: TargetState, reason: string, detail: string): Promise<HealOutcome> {
    this.#o.metrics.repairsSkipped.inc({ container: t.name, reason })
    const level = reason === 'observe' || reason === 'in_progress' ? 'info' : 'warn'
    this.#log[level]({ container: t.name, reason }, `not repairing: ${detail}`)
    return Promise.resolve({ kind: 'skipped', reason, detail })
  }

  #publishBreaker(t: TargetState): void {
    t.breaker = advance(t.breaker, this.#policy, this.#now())
    this.#o.metrics.breakerOpen.set({ container: t.name }, t.breaker.open !== null ? 1 : 0)
  }

  #target(name: string, id: string): TargetState {
    let t = this.#targets.get(name)
    if (t === undefined) {
      t = { name, id, breaker: closedBreaker, inFlight: null, confirm: null, notifiedAt: -Infinity }
      this.#targets.set(name, t)
      this.#o.metrics.addTarget(name)
    } else if (id !== '' && id !== t.id) {
      t.id = id // recreated by compose: same name, new id
    }
    return t
  }

  async #inspect(t: TargetState): Promise<TargetSnapshot | undefined> {
    // By name: a recreated container keeps its name, not its id.
    const snap = await this.#o.docker.inspect(t.name)
    if (snap !== undefined) t.id = snap.id
    return snap
  }

  async #resolveTarget(): Promise<{ name: string; id: string } | undefined> {
    const known = [...this.#targets.values()][0]
    if (known !== undefined) return { name: known.name, id: known.id }
    for (const name of this.#o.config.targets.names) {
      const snap = await this.#o.docker.inspect(name)
      if (snap !== undefined) return { name: snap.name, id: snap.id }
    }
    return undefined
  }
}

/** An abortable wait (the daemon's own timing; tests never sleep). Resolves early on abort. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveDelay) => {
    if (signal.aborted) return resolveDelay()
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolveDelay()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
