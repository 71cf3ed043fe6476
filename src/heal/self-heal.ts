// Self-healing, as the composition root (daemon.ts) wires it: the heal metrics, the webhook notifier,
// the outcome reporter, the healer, and the cron jobs — the doctor with the issuer-drift check, verified
// backups with retention, the store's own check (SQLite integrity_check; PostgreSQL reachable, Dex's
// schema, not a standby) — plus the POST /reset handler. Everything here uses the store through
// heal/store-health.ts, so any use of it keeps netbird_watchdog_idp_store_up current; the store is
// also checked once at start. At start and on every run of a job, the store is compared with the last
// kept backup (heal/store-watch.ts): a store found lost or replaced holds the scheduled backup and
// retention back. stop() (SIGTERM) stops the jobs, then lets an in-flight repair finish or roll back.
import { performance } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import type { Config, Secrets } from '../config/schema.js'
import type { DockerPort } from '../docker/engine.js'
import type { WatchdogEvents } from '../docker/events.js'
import type { StoreArgs } from '../core/store-identity.js'
import type { Logger } from '../log.js'
import { runDoctor } from '../doctor/run-doctor.js'
import { fetchDiscovery } from '../oidc/discovery.js'
import { pruneBackups } from '../store/retention.js'
import type { IdpStore } from '../store/port.js'
import { Healer, type Discover } from './healer.js'
import { createHealMetrics, type CheckName, type HealMetrics } from './metrics.js'
import { createOutcomeReporter } from './outcome.js'
import { createResetHandler, type RequestHandler } from './reset.js'
import { startScheduler, type Scheduler } from './scheduler.js'
import { createSsoMetrics } from './sso-metrics.js'
import { SsoMonitor } from './sso-monitor.js'
import { observeStore } from './store-health.js'
import { createStoreWatchMetrics, StoreWatch } from './store-watch.js'
import { createNotifier } from './webhook.js'

export interface SelfHealContext {
  readonly logger: Logger
  readonly registry: Registry
  readonly config: Config
  readonly secrets: Secrets
  readonly docker: DockerPort
  readonly events: WatchdogEvents
  readonly store: IdpStore
  /** Where backups go (resolved from the config by the composition root). */
  readonly backupDir: string
  readonly version: string
  /** How a printed command names the store (the restore command); by default its engine and label. */
  readonly storeArgs?: () => StoreArgs
  /** Replaces the real discovery probe (demo narration); tests use the real one. */
  readonly discover?: Discover
  readonly now?: () => number
}

export interface SelfHealing {
  readonly healer: Healer
  readonly scheduler: Scheduler
  /** The SSO login probe job. */
  readonly sso: SsoMonitor
  readonly metrics: HealMetrics
  /** The check that the IdP store is still the one last backed up. */
  readonly storeWatch: StoreWatch
  /** Mount at POST /reset. */
  readonly resetHandler: RequestHandler
  stop(): Promise<void>
}

export function startSelfHealing(ctx: SelfHealContext): SelfHealing {
  const { config, logger, backupDir } = ctx
  const log = logger.child({ component: 'self-heal' })
  const metrics = createHealMetrics(ctx.registry, config.mode, ctx.store.engine)
  const store = observeStore(ctx.store, (up) => metrics.storeUp.set(up ? 1 : 0))
  const notifier = createNotifier({
    url: ctx.secrets.webhookUrl,
    events: config.webhook.events,
    timeoutMs: config.webhook.timeoutMs,
    version: ctx.version,
    logger,
  })
  const reporter = createOutcomeReporter({ metrics, notifier, logger })
  const discover: Discover =
    ctx.discover ??
    ((issuer) =>
      fetchDiscovery(issuer, {
        timeoutMs: config.oidc.timeoutMs,
        allowInsecure: config.oidc.allowInsecure,
      }))
  // The login probe hands its failures to the healer (`sso-failure` events), which asks it for proof
  // after a repair.
  const sso: SsoMonitor = new SsoMonitor({
    config,
    store,
    docker: ctx.docker,
    events: ctx.events,
    logger,
    onRound: (container, results) => ssoMetrics.round(container, results),
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  })
  const ssoMetrics = createSsoMetrics(ctx.registry, () => sso.state())
  const healer = new Healer({
    config,
    logger,
    docker: ctx.docker,
    events: ctx.events,
    store,
    backupDir,
    discover,
    metrics,
    reporter,
    version: ctx.version,
    sso,
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  })
  healer.start()
  sso.start()
  // Compared at start and on every run of a job (doctor every 10 minutes by default, integrity
  // hourly, backup daily): no timer of its own, so an idle daemon wakes no more often than before.
  const storeWatch = new StoreWatch({
    store,
    backupDir,
    logger,
    notifier,
    ...(ctx.storeArgs !== undefined ? { storeArgs: ctx.storeArgs } : {}),
  })
  createStoreWatchMetrics(ctx.registry, () => storeWatch.finding)

  /** One run of a check: its 0/1 success gauge and duration, whatever happens inside. */
  const timed = async (check: CheckName, run: () => Promise<boolean>): Promise<void> => {
    const started = performance.now()
    let ok = false
    try {
      ok = await run()
    } catch (err) {
      log.error({ check, err }, 'check failed')
    }
    metrics.checkSuccess.set({ check }, ok ? 1 : 0)
    metrics.checkDuration.set({ check }, (performance.now() - started) / 1000)
  }

  const scheduler = startScheduler({
    timezone: config.schedules.timezone,
    metrics,
    logger,
    jobs: [
      {
        name: 'doctor',
        expression: config.schedules.doctor,
        run: async () => {
          await storeWatch.check()
          // Every doctor check; an issuer-matches-discovery failure hands over to the healer, which
          // judges the same live discovery with the same issuer policy before it changes anything.
          let drift = true
          await timed('doctor', async () => {
            const report = await runDoctor(
              {
                store,
                ...(config.idp.managementJson !== undefined
                  ? { managementJson: config.idp.managementJson }
                  : {}),
                ...(config.idp.configYaml !== undefined
                  ? { configYaml: config.idp.configYaml }
                  : {}),
              },
              {
                timeoutMs: config.oidc.timeoutMs,
                allowInsecure: config.oidc.allowInsecure,
              },
            )
            const failed = report.checks.filter((c) => c.status === 'fail')
            if (failed.length > 0) {
              log.warn(
                { failed: failed.map((c) => ({ id: c.id, target: c.target, message: c.message })) },
                'scheduled doctor: checks failing',
              )
            }
            drift = report.checks.some(
              (c) => c.id === 'issuer-matches-discovery' && c.status === 'fail',
            )
            return report.ok
          })
          await timed('issuer-drift', async () => {
            if (!drift) return true
            const res = await healer.checkDrift()
            log.info(res, 'scheduled issuer-drift check done')
            return res.ok
          })
        },
      },
      {
        name: 'backup',
        expression: config.schedules.backup,
        run: () =>
          timed('backup', async () => {
            // A backup of a replaced store would become the one compared with (the finding would end
            // unseen) and retention could then delete the backup that holds the old connectors.
            await storeWatch.check()
            if (storeWatch.critical) {
              log.warn(
                { backup: storeWatch.finding?.backup.id },
                'scheduled backup and retention held back: the IdP store was lost or replaced (see the IdP STORE line); nothing is backed up or deleted until it is restored or a backup of it is taken by hand',
              )
              return false
            }
            try {
              const b = await store.backup({
                dir: backupDir,
                reason: 'scheduled',
                version: ctx.version,
              })
              reporter.backedUp(b.path, Date.parse(b.manifest.createdAt))
              // Replaced between the check and the copy: this backup is of the new store (it does not
              // count as kept), and retention must not make room for it at the old one's expense.
              await storeWatch.check()
              if (storeWatch.critical) {
                log.warn(
                  { backup: b.path, kept: storeWatch.finding?.backup.id },
                  'retention held back: the IdP store was replaced while it was being backed up (see the IdP STORE line)',
                )
                return true
              }
              const pruned = pruneBackups(backupDir, {
                keep: config.backups.keep,
                maxAgeDays: config.backups.maxAgeDays,
              })
              log.info(
                {
                  backup: b.path,
                  size: b.manifest.size,
                  pruned: pruned.deleted.length + pruned.deletedFiles.length,
                },
                'scheduled backup taken and verified',
              )
              return true
            } catch (err) {
              metrics.backupFailures.inc()
              log.error({ err }, 'scheduled backup failed')
              return false
            }
          }),
      },
      {
        name: 'integrity',
        expression: config.schedules.integrity,
        run: () =>
          timed('integrity', async () => {
            const result = await store.check()
            if (result !== 'ok') log.error({ result }, 'the IdP store fails its check')
            await storeWatch.check()
            return result === 'ok'
          }),
      },
    ],
  })

  // Whether the store answers, from the start (a mistyped DSN or an unmounted idp.db shows at once).
  const probe = store.check().then(
    (result) => {
      if (result === 'ok') log.info({ store: store.label }, 'the IdP store answers and checks out')
      else log.warn({ store: store.label, result }, 'the IdP store answers but fails its check')
    },
    (err: unknown) => log.warn({ store: store.label, err }, 'the IdP store cannot be used now'),
  )
  const compared = probe.then(() => storeWatch.check())

  return {
    healer,
    scheduler,
    sso,
    metrics,
    storeWatch,
    resetHandler: createResetHandler({ token: ctx.secrets.resetToken, healer, logger }),
    async stop() {
      // Abort the healer first: a scheduled job may be the one waiting in a confirm window.
      const healerStopped = healer.stop()
      await scheduler.stop()
      await healerStopped
      await sso.stop()
      await probe
      await compared
      await storeWatch.idle()
      await notifier.flush()
    },
  }
}
