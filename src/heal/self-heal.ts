// Self-healing as one daemon extension: builds the heal metrics, the webhook notifier, the healer and
// the cron jobs (issuer-drift check, verified backups with retention, integrity check), and hands the
// POST /reset handler to the HTTP server. stop() (SIGTERM) stops the jobs, then lets an in-flight repair
// finish or roll back.
import { resolve } from 'node:path'
import type { Registry } from 'prom-client'
import type { Config, Secrets } from '../config/schema.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { runDoctor, type DoctorReport } from '../doctor/run-doctor.js'
import { fetchDiscovery } from '../oidc/discovery.js'
import { createBackup, defaultBackupDir, integrityCheck, pruneBackups } from '../sqlite/backup.js'
import { openIdpDb, readConnectorsFrom } from '../sqlite/idp-db.js'
import { Healer } from './healer.js'
import { createHealMetrics, type CheckName, type HealMetrics } from './metrics.js'
import type { Discover, HealDocker, HealEvents } from './ports.js'
import { createResetHandler, type RequestHandler } from './reset.js'
import { startScheduler, type Scheduler } from './scheduler.js'
import { createNotifier } from './webhook.js'

export interface SelfHealContext {
  readonly logger: Logger
  readonly registry: Registry
  readonly config: Config
  readonly secrets: Secrets
  readonly docker: HealDocker
  readonly events: HealEvents
  readonly version: string
  /** Replaces the real discovery probe (demo narration); tests use the real one. */
  readonly discover?: Discover
  readonly now?: () => number
}

export interface SelfHealing {
  readonly healer: Healer
  readonly scheduler: Scheduler
  readonly metrics: HealMetrics
  /** Mount at POST /reset. */
  readonly resetHandler: RequestHandler
  stop(): Promise<void>
}

export function startSelfHealing(ctx: SelfHealContext): SelfHealing {
  const { config, logger } = ctx
  const log = logger.child({ component: 'self-heal' })
  const metrics = createHealMetrics(ctx.registry, config.mode)
  const notifier = createNotifier({
    url: ctx.secrets.webhookUrl,
    events: config.webhook.events,
    timeoutMs: config.webhook.timeoutMs,
    version: ctx.version,
    logger,
  })
  const discover: Discover =
    ctx.discover ??
    ((issuer) =>
      fetchDiscovery(issuer, {
        timeoutMs: config.oidc.timeoutMs,
        allowInsecure: config.oidc.allowInsecure,
      }))
  const healer = new Healer({
    config,
    logger,
    docker: ctx.docker,
    events: ctx.events,
    metrics,
    discover,
    notifier,
    version: ctx.version,
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  })
  healer.start()

  const dbPath = resolve(config.idp.dbPath)
  const backupDir = resolve(config.backups.dir ?? defaultBackupDir(dbPath))
  const timed = async (check: CheckName, run: () => Promise<boolean>): Promise<void> => {
    const started = performance.now()
    let ok = false
    try {
      ok = await run()
    } catch (err) {
      log.error({ check, err: errorMessage(err) }, 'check failed')
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
          // Every doctor check; an issuer-matches-discovery failure hands over to the healer, which
          // confirms the drift with its own live discovery before it changes anything.
          let report: DoctorReport | undefined
          await timed('doctor', async () => {
            report = await runDoctor(
              {
                dbPath,
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
                busyTimeoutMs: config.idp.busyTimeoutMs,
              },
            )
            const failed = report.checks.filter((c) => c.status === 'fail')
            if (failed.length > 0) {
              log.warn(
                { failed: failed.map((c) => ({ id: c.id, target: c.target, message: c.message })) },
                'scheduled doctor: checks failing',
              )
            }
            return report.ok
          })
          const drift =
            report === undefined ||
            report.checks.some((c) => c.id === 'issuer-matches-discovery' && c.status === 'fail')
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
            try {
              const b = await createBackup(dbPath, {
                backupDir,
                reason: 'scheduled',
                version: ctx.version,
                busyTimeoutMs: config.idp.busyTimeoutMs,
              })
              metrics.backups.inc()
              metrics.lastBackup.set(Date.parse(b.manifest.createdAt) / 1000)
              metrics.lastBackupSize.set(b.manifest.size)
              const pruned = pruneBackups(backupDir, {
                keep: config.backups.keep,
                maxAgeDays: config.backups.maxAgeDays,
              })
              log.info(
                { backup: b.path, size: b.manifest.size, pruned: pruned.deleted.length },
                'scheduled backup taken and verified',
              )
              return true
            } catch (err) {
              metrics.backupFailures.inc()
              log.error({ err: errorMessage(err) }, 'scheduled backup failed')
              return false
            }
          }),
      },
      {
        name: 'integrity',
        expression: config.schedules.integrity,
        run: () =>
          timed('integrity', () => {
            const db = openIdpDb(dbPath, {
              readonly: true,
              busyTimeoutMs: config.idp.busyTimeoutMs,
            })
            try {
              const result = integrityCheck(db)
              readConnectorsFrom(db, dbPath) // the connector table parses
              if (result !== 'ok') log.error({ result }, 'idp.db integrity_check failed')
              return Promise.resolve(result === 'ok')
            } finally {
              db.close()
            }
          }),
      },
    ],
  })

  return {
    healer,
    scheduler,
    metrics,
    resetHandler: createResetHandler({ token: ctx.secrets.resetToken, healer, logger }),
    async stop() {
      // Abort the healer first: a scheduled job may be the one waiting in a confirm window.
      const healerStopped = healer.stop()
      await scheduler.stop()
      await healerStopped
    },
  }
}
