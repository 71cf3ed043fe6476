// The self-healing flow, one target at a time, read top to bottom in `#run`:
//   finding, failed SSO login probe, or drift -> gate -> live discovery + issuer policy -> decision ->
//   verified backup + repair (with a new resource_version) -> activation: live, proven by the login
//   probe (no restart), or a restart (crash loop, stopped, no probe, or a live fix the probe could not
//   prove) -> confirm -> outcome (success, unconfirmed, rolled back, failed, or a skip).
// The decisions are pure (core/heal-decision.ts, core/issuer-policy.ts, core/recovery.ts), the steps
// are small modules (repair.ts, restart.ts, confirm.ts), and every outcome is reported in one place
// (outcome.ts). No step throws out of the flow: an engine or store failure becomes an outcome.
// Why ~600 lines: the order of the steps (`#run`), the events that start and resume the flow, and
// the per-target bookkeeping stay together so that the flow reads in one place; every step it takes
// is its own module (the confirmation after the commit: settle.ts).
import type { BreakerPolicy } from '../core/breaker.js'
import {
  decideActivation,
  decideGate,
  decideRepair,
  type HealTrigger,
  type SkipReason,
} from '../core/heal-decision.js'
import { changesFor } from '../core/edit-plan.js'
import { describeVerdict, type DiscoveryAnswer, type IssuerVerdict } from '../core/issuer-policy.js'
import { quoteText } from '../core/issuer.js'
import { isIdpFailure } from '../core/recovery.js'
import { modeFor, type Config } from '../config/schema.js'
import type { DockerPort } from '../docker/engine.js'
import type { WatchdogEvents, WatchdogEventMap } from '../docker/events.js'
import { errorMessage, isWatchdogError } from '../errors.js'
import type { Logger } from '../log.js'
import { discoverConnectors } from '../oidc/connector-discovery.js'
import type { IdpStore } from '../store/port.js'
import { viewTarget } from './confirm.js'
import type { HealMetrics } from './metrics.js'
import type { HealOutcome, OutcomeReporter } from './outcome.js'
import { repairIssuers, type RepairResult } from './repair.js'
import { finishCutRestart, restartTarget } from './restart.js'
import { confirmLive, settleAfterRestart, unconfirmed, type SettleContext } from './settle.js'
import type { FailedProbe, SsoProbe } from './sso-monitor.js'
import { Target } from './target.js'

/** OIDC discovery with go-oidc semantics: the raw `issuer` string of the document, never normalised. */
export type Discover = (issuer: string) => Promise<DiscoveryAnswer>

export interface HealerOptions {
  readonly config: Config
  readonly logger: Logger
  readonly docker: DockerPort
  readonly events: WatchdogEvents
  readonly store: IdpStore
  readonly backupDir: string
  readonly discover: Discover
  readonly metrics: HealMetrics
  readonly reporter: OutcomeReporter
  readonly version: string
  /** Injected clock (ms since the epoch). */
  readonly now?: () => number
  /** How often the confirm loop looks at the container. */
  readonly pollMs?: number
  /** How long a restarted (or Docker-restarting) container may take to come up. */
  readonly startTimeoutMs?: number
  /** The SSO login probe: proves a live repair, and gives the evidence for or against one. */
  readonly sso?: SsoProbe
}

type FindingEvent = WatchdogEventMap['finding']

export class Healer {
  readonly #o: HealerOptions
  readonly #log: Logger
  readonly #policy: BreakerPolicy
  readonly #targets = new Map<string, Target>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #abort = new AbortController()
  readonly #now: () => number
  readonly #settling: SettleContext

  constructor(o: HealerOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'healer' })
    this.#now = o.now ?? Date.now
    this.#settling = {
      config: o.config,
      docker: o.docker,
      store: o.store,
      ...(o.sso !== undefined ? { sso: o.sso } : {}),
      backupDir: o.backupDir,
      version: o.version,
      logger: o.logger,
      now: this.#now,
      signal: this.#abort.signal,
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
      ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
    }
    o.metrics.breakersFrom(() =>
      [...this.#targets.values()].map((t) => ({ container: t.name, open: t.isOpen })),
    )
    const r = o.config.repair
    this.#policy = {
      maxRepairs: r.maxRepairs,
      windowMs: r.windowSeconds * 1000,
      cooldownMs: r.cooldownSeconds * 1000,
      backoffInitialMs: r.restartBackoffSeconds * 1000,
      backoffMaxMs: r.restartBackoffMaxSeconds * 1000,
      stableResetMs: o.config.detection.stableSeconds * 1000,
    }
  }

  start(): void {
    const { events } = this.#o
    this.#unsubscribe.push(
      events.on('finding', (e) => this.#onFinding(e)),
      events.on('died', (e) => {
        const t = this.#target(e.container, e.containerId)
        t.lastDeathAt = e.at
        t.noteTrouble()
      }),
      events.on('loop', (e) => {
        this.#target(e.container, '').looping = e.active
      }),
      events.on('sso-failure', (e) => this.#onProbeFailure(e.container, e.failure)),
      events.on('started', (e) => {
        const t = this.#target(e.container, e.containerId)
        t.restartOwed = false
        t.noteUp()
        this.#resume(t)
      }),
      events.on('docker', (e) => {
        if (!e.up) return
        for (const t of this.#targets.values()) this.#finishRestart(t)
      }),
      events.on('restarted', (e) => this.#resume(this.#target(e.container, e.containerId))),
      events.on('container', (e) => {
        if (e.action === 'kill' || e.action.startsWith('kill:')) {
          this.#target(e.container, e.containerId).evidence.kills.push(e.at)
        }
      }),
    )
    for (const name of this.#o.config.targets.names) this.#o.metrics.addTarget(name)
    this.#log.info(
      {
        mode: this.#o.config.mode,
        overrides: this.#o.config.targets.overrides,
        store: this.#o.store.label,
        backups: this.#o.backupDir,
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
  }

  /** Operator reset (POST /reset): close the breaker of one target or of all. Returns the names reset. */
  reset(container?: string): string[] {
    const names: string[] = []
    for (const t of this.#targets.values()) {
      if (container !== undefined && t.name !== container) continue
      t.reset()
      names.push(t.name)
    }
    if (names.length > 0) this.#log.warn({ containers: names }, 'circuit breaker reset by operator')
    return names
  }

  /** For /reset and the demo: each known target's breaker. */
  status(): Array<{ container: string; breakerOpen: boolean; repairing: boolean }> {
    return [...this.#targets.values()].map((t) => ({
      container: t.name,
      breakerOpen: t.isOpen,
      repairing: t.inFlight !== null,
    }))
  }

  /** Resolves when no repair is running (tests, demo). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#targets.values()].flatMap((t) => (t.inFlight ? [t.inFlight] : []))
      if (running.length === 0) return
      await Promise.allSettled(running)
    }
  }

  /**
   * The scheduled drift check: live discovery of every OIDC connector; a fix or a refusal on a known
   * target starts the flow before NetBird ever crashes. Returns whether every issuer matched.
   */
  async checkDrift(): Promise<{ ok: boolean; drift: number; unreachable: number }> {
    const verdicts = await this.discover()
    const drift = verdicts.filter((v) => v.kind === 'fix' || v.kind === 'refuse')
    const unreachable = verdicts.filter((v) => v.kind === 'unreachable').length
    if (drift.length === 0) return { ok: unreachable === 0, drift: 0, unreachable }
    this.#log.warn(
      { drift: drift.map(describeVerdict) },
      'issuer drift detected by the scheduled check',
    )
    const target = await this.#resolveTarget()
    if (target === undefined) {
      this.#log.warn(
        'drift found but no target container is known; nothing to restart, not repairing',
      )
      return { ok: false, drift: drift.length, unreachable }
    }
    this.#notifyDetection(
      target,
      `${target.name}: issuer drift on ${drift.map((d) => d.connectorId).join(', ')} (found by the scheduled check)`,
    )
    await this.heal(target.name, target.id, { kind: 'drift' }, verdicts)
    return { ok: false, drift: drift.length, unreachable }
  }

  /** The issuer policy's verdict for every OIDC connector, from live discovery (never throws for a provider). */
  async discover(): Promise<readonly IssuerVerdict[]> {
    const rows = await this.#o.store.readConnectors()
    const { verdicts } = await discoverConnectors(rows, this.#o.discover, {
      allowInsecure: this.#o.config.oidc.allowInsecure,
    })
    for (const v of verdicts) {
      if (v.kind === 'skipped') {
        // Dex skips such a connector too; the others are still checked. Never quotes the config.
        this.#log.warn(
          { connectorId: v.connectorId, reason: v.reason },
          `not checking a connector: ${v.detail}`,
        )
      }
    }
    return verdicts
  }

  /**
   * A failed SSO login probe (heal/sso-monitor.ts hands over the failures that warrant it): like a log
   * finding, it starts the diagnosis and, in repair mode, the guarded repair.
   */
  #onProbeFailure(container: string, failure: FailedProbe): void {
    const t = this.#target(container, '')
    if (t.pending !== null) return // a confirmation is under way: it judges the probe itself
    this.#log.warn(
      { container, connectorId: failure.connectorId, reason: failure.reason },
      'SSO login probe failed: diagnosing',
    )
    if (t.inFlight !== null) {
      this.#o.metrics.repairsSkipped.inc({ container, reason: 'in_progress' })
      return
    }
    this.#notifyDetection(
      t,
      `${container}: SSO login through connector ${failure.connectorId} fails (${failure.reason}): ${failure.detail}`,
      { probe: failure },
    )
    void this.heal(container, t.id, {
      kind: 'probe',
      connectorId: failure.connectorId,
      reason: failure.reason,
    })
  }

  /** Run the flow for a target (findings, the drift check, the demo). Never rejects. */
  heal(
    container: string,
    containerId: string,
    trigger: HealTrigger,
    verdicts?: readonly IssuerVerdict[],
  ): Promise<HealOutcome> {
    const t = this.#target(container, containerId)
    if (t.inFlight !== null) {
      return Promise.resolve(this.#finish(t, skipped('in_progress', 'a repair is already running')))
    }
    return this.#exclusive(t, () => this.#run(t, trigger, verdicts))
  }

  /** Run `step` as the target's one flow in flight; its outcome is reported, whatever happens. */
  #exclusive(t: Target, step: () => Promise<HealOutcome>): Promise<HealOutcome> {
    const run = step()
      .catch((err: unknown): HealOutcome => {
        // A true bug in the flow: still an outcome (metric, log with stack, breaker), never a crash.
        t.trip('repair_failed')
        return {
          kind: 'repaired',
          result: 'failed',
          detail: `the self-healing flow failed unexpectedly: ${errorMessage(err)}`,
          error: err,
          breakerOpened: true,
        }
      })
      .then((outcome) => this.#finish(t, outcome))
      .finally(() => {
        t.inFlight = null
      })
    t.inFlight = run
    return run
  }

  async #run(
    t: Target,
    trigger: HealTrigger,
    known?: readonly IssuerVerdict[],
  ): Promise<HealOutcome> {
    const log = this.#log.child({ container: t.name })
    const mode = modeFor(this.#o.config, t.name)

    // 1. The target, and the gate: nothing is asked of anyone when the answer could not be used.
    const view = await viewTarget(this.#o.docker, t.name)
    if (view.kind === 'engine-unreachable') {
      return skipped('docker_unreachable', 'the Docker engine does not answer; nothing is changed')
    }
    if (view.details !== undefined) t.id = view.details.id
    const status = view.kind === 'missing' ? 'missing' : view.details!.state.status
    const gate = decideGate({
      mode,
      status,
      inFlight: false,
      breaker: t.breaker,
      policy: this.#policy,
      now: this.#now(),
    })
    if (gate.action === 'skip') return skipped(gate.reason, gate.detail)

    // 2. The facts: the stored issuers against live discovery, judged by the one issuer policy.
    let verdicts = known
    if (verdicts === undefined) {
      try {
        verdicts = await this.discover()
      } catch (err) {
        return skipped('store_unreadable', `cannot read the IdP store: ${errorMessage(err)}`)
      }
    }

    // 3. The decision (a dry run reports its plan; the breaker's budget is spent only here).
    const wasOpen = t.isOpen
    const decided = decideRepair({
      mode,
      trigger,
      verdicts,
      breaker: t.breaker,
      policy: this.#policy,
      now: this.#now(),
    })
    t.breaker = decided.breaker
    const decision = decided.decision
    if (decision.action === 'skip') {
      if (decision.reason === 'dry_run' && decision.fixes !== undefined) {
        await this.#dryRun(t, verdicts, log)
      }
      return skipped(
        decision.reason,
        decision.detail,
        decision.reason === 'breaker_open' && !wasOpen,
      )
    }

    // 4. The login probe's round before the change: the baseline any evidence is judged against.
    const sso = this.#o.sso
    const baseline = sso?.available(t.name) === true ? await sso.probe(t.name) : undefined

    // 5. Verified backup + the exact issuer fix (store, and management.json's static connectors).
    const fixes = decision.fixes
    const startedAt = this.#now()
    log.warn({ fixes }, 'repairing: verified backup, then the exact issuer fix')
    let repair: RepairResult
    try {
      repair = await repairIssuers(this.#repairRequest(verdicts, false))
    } catch (err) {
      // The error says what the store holds now: rolled back before the commit, undone after it, or
      // (a PostgreSQL commit whose answer was lost) applied whole or not at all.
      t.noteRepair(startedAt)
      t.trip('repair_failed')
      return {
        kind: 'repaired',
        result: 'failed',
        detail: `repair failed, breaker opened: ${errorMessage(err)}`,
        error: err,
        breakerOpened: true,
      }
    }
    if (repair.backup !== null) {
      this.#o.reporter.backedUp(repair.backup.path, Date.parse(repair.backup.manifest.createdAt))
    }
    if (repair.changes.length === 0 && (repair.managementJson?.changes.length ?? 0) === 0) {
      return skipped('no_drift', 'nothing to change: the IdP store already has the right issuers')
    }
    t.noteRepair(startedAt)

    // 6. Activation: live (Dex reopens the connector, the probe proves it) or a restart.
    const committedAt = this.#now()
    const crashLooping =
      t.looping ||
      (trigger.kind === 'finding' && trigger.fatal === true) ||
      committedAt - t.lastDeathAt < this.#o.config.detection.loopWindowSeconds * 1000
    const activation = decideActivation({
      probeAvailable: sso?.available(t.name) === true,
      status,
      crashLooping,
    })
    t.armEvidence()
    t.restartOwed = false
    t.pending = {
      repair,
      committedAt,
      ...(baseline !== undefined ? { baseline } : {}),
      // Staying up proves a repair of a crash loop (NetBird ≤ v0.65.1 exits on a connector it cannot
      // open), and is all there is without the probe; on v0.65.2+ only the probe proves it.
      upProves: crashLooping || (activation.how === 'restart' && sso?.available(t.name) !== true),
    }
    if (activation.how === 'live') {
      log.warn(
        { backup: repair.backup?.path ?? null, changes: repair.changes },
        'IdP store repaired and verified; NetBird picks it up at the next login (no restart): proving it with the login probe',
      )
      const live = await confirmLive(this.#settling, t, t.pending, log)
      if (live.kind === 'outcome') return live.outcome
      log.warn(
        { why: live.why },
        'the login probe shows the live fix is not loaded; restarting NetBird to load it (the cost paid only when nothing else works)',
      )
    } else {
      log.warn(
        { backup: repair.backup?.path ?? null, changes: repair.changes, why: activation.why },
        'IdP store repaired and verified; restarting the container',
      )
    }

    // 7. Restart, so NetBird loads the fix; 8. confirm and settle.
    try {
      const restart = await restartTarget({
        docker: this.#o.docker,
        target: t,
        stopTimeoutSeconds: this.#o.config.repair.stopTimeoutSeconds,
        signal: this.#abort.signal,
        log,
      })
      if (restart === 'left-stopped') {
        return unconfirmed(
          repair,
          'the IdP store is fixed; the container is stopped, so it was not started (confirmation resumes when it starts)',
        )
      }
    } catch (err) {
      // The engine went away inside the restart: it may have stopped the container and not started
      // it again (moby/moby#46688). Finished when the engine is back (#finishRestart).
      if (isWatchdogError(err, 'DOCKER_UNAVAILABLE')) t.restartOwed = true
      return unconfirmed(
        repair,
        `the IdP store is fixed, but restarting the container failed (${errorMessage(err)}); confirmation resumes when it is back`,
      )
    }
    return await settleAfterRestart(this.#settling, t, log)
  }

  /**
   * A confirmation cut short resumes when the target runs again: its start event, or a start the
   * watcher found by inspecting it after the engine came back.
   */
  #resume(t: Target): void {
    if (t.pending === null || t.inFlight !== null || this.#abort.signal.aborted) return
    this.#log.info({ container: t.name }, 'resuming the confirmation of the last repair')
    void this.#exclusive(t, () =>
      settleAfterRestart(this.#settling, t, this.#log.child({ container: t.name })),
    )
  }

  /** The engine is back: finish the restart its outage cut short (restart.ts), then confirm. */
  #finishRestart(t: Target): void {
    if (!t.restartOwed || t.pending === null || t.inFlight !== null) return
    if (this.#abort.signal.aborted) return
    const log = this.#log.child({ container: t.name })
    void this.#exclusive(t, async () => {
      const pending = t.pending
      if (pending === null) {
        return { kind: 'skipped', reason: 'no_drift', detail: 'no repair waits for confirmation' }
      }
      t.restartOwed = false
      try {
        await finishCutRestart({
          docker: this.#o.docker,
          target: t,
          committedAt: pending.committedAt,
          stopTimeoutSeconds: this.#o.config.repair.stopTimeoutSeconds,
          signal: this.#abort.signal,
          log,
        })
      } catch (err) {
        if (isWatchdogError(err, 'DOCKER_UNAVAILABLE')) t.restartOwed = true
        return unconfirmed(
          pending.repair,
          `the IdP store is fixed, but restarting the container failed again (${errorMessage(err)}); confirmation resumes when it is back`,
        )
      }
      return await settleAfterRestart(this.#settling, t, log)
    })
  }

  async #dryRun(t: Target, verdicts: readonly IssuerVerdict[], log: Logger): Promise<void> {
    try {
      const plan = await repairIssuers(this.#repairRequest(verdicts, true))
      log.warn(
        { plan: plan.changes, managementJson: plan.managementJson?.changes },
        `dry-run: would back up ${this.#o.store.label}, apply ${plan.changes.length} issuer fix(es) and restart ${t.name}`,
      )
    } catch (err) {
      log.warn({ err }, 'dry-run: the repair would be refused')
    }
  }

  #repairRequest(
    verdicts: readonly IssuerVerdict[],
    dryRun: boolean,
  ): Parameters<typeof repairIssuers>[0] {
    const idp = this.#o.config.idp
    return {
      store: this.#o.store,
      // The one verdict -> change mapping (compare-and-set), shared with `repair --discover`.
      changes: changesFor(verdicts, { checkStatics: idp.managementJson !== undefined }),
      dryRun,
      backupDir: this.#o.backupDir,
      allowInsecure: this.#o.config.oidc.allowInsecure,
      ...(idp.managementJson !== undefined ? { managementJsonPath: idp.managementJson } : {}),
      fixStaticConnectors: idp.fixStaticConnectors,
      version: this.#o.version,
      logger: this.#o.logger,
    }
  }

  #onFinding(e: FindingEvent): void {
    const t = this.#target(e.container, e.containerId)
    if (isIdpFailure(e.finding)) {
      t.noteTrouble()
      // The line's own engine time, not its arrival: a line from the run the repair's restart killed
      // can arrive after the fresh run started, and must not count against it.
      t.evidence.failures.push({
        at: e.at ?? this.#now(),
        what: `${e.finding.rule}${e.finding.connectorId !== undefined ? ` (connector ${e.finding.connectorId})` : ''}`,
      })
    }
    if (t.pending !== null || e.finding.rule !== 'oidc-issuer-mismatch') return
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
    this.#notifyDetection(
      t,
      `${t.name}: oidc-issuer-mismatch on connector ${e.finding.connectorId ?? '?'} (configured ${quoteText(e.finding.expectedIssuer ?? '?')}, provider returns ${quoteText(e.finding.returnedIssuer ?? '?')})`,
      { finding: e.finding },
    )
    void this.heal(t.name, t.id, {
      kind: 'finding',
      ...(e.finding.connectorId !== undefined ? { connectorId: e.finding.connectorId } : {}),
      fatal: e.finding.fatal,
    })
  }

  #finish(t: Target, outcome: HealOutcome): HealOutcome {
    this.#o.reporter.report(t.name, outcome)
    return outcome
  }

  #notifyDetection(
    t: { name: string },
    text: string,
    details?: Readonly<Record<string, unknown>>,
  ): void {
    const target = this.#target(t.name, '')
    const now = this.#now()
    if (now - target.notifiedAt < this.#policy.stableResetMs) return
    target.notifiedAt = now
    this.#o.reporter.detected(t.name, text, details)
  }

  #target(name: string, id: string): Target {
    let t = this.#targets.get(name)
    if (t === undefined) {
      t = new Target(name, id, {
        policy: this.#policy,
        now: this.#now,
      })
      this.#targets.set(name, t)
      this.#o.metrics.addTarget(name)
    } else if (id !== '' && id !== t.id) {
      t.id = id // recreated by compose: same name, new id
    }
    return t
  }

  async #resolveTarget(): Promise<{ name: string; id: string } | undefined> {
    const known = [...this.#targets.values()][0]
    if (known !== undefined) return { name: known.name, id: known.id }
    for (const name of this.#o.config.targets.names) {
      const d = await this.#o.docker.inspect(name).catch(() => undefined)
      if (d !== undefined) return { name: d.name, id: d.id }
    }
    return undefined
  }
}

function skipped(reason: SkipReason, detail: string, breakerOpened = false): HealOutcome {
  return { kind: 'skipped', reason, detail, ...(breakerOpened ? { breakerOpened } : {}) }
}
