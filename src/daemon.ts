// The composition root of `netbird-watchdog run`: builds the adapters from the Config (registry and
// metrics, Docker engine port, typed events, the IdP store, watcher, HTTP server), wires self-healing
// to them, starts everything, and releases it in reverse order on stop(). Nothing here exits the
// process. Everything that can be wrong with the configuration is found before anything starts.
import { resolve } from 'node:path'
import { Registry } from 'prom-client'
import type { Config, Secrets } from './config/schema.js'
import { DockerEngine, dockerConnection, type DockerPort } from './docker/engine.js'
import { WatchdogEvents } from './docker/events.js'
import { Watcher, type WatcherOptions } from './docker/watcher.js'
import { WatchdogError, errorMessage } from './errors.js'
import { startSelfHealing, type SelfHealing } from './heal/self-heal.js'
import { HttpServer } from './http-server.js'
import type { Logger } from './log.js'
import { createWatchMetrics, type WatchMetrics } from './metrics.js'
import { checkBackupDir } from './store/backup-files.js'
import { openStore, storeBackupDir } from './store/open.js'
import type { IdpStore } from './store/port.js'

export interface DaemonOptions {
  readonly config: Config
  readonly secrets: Secrets
  readonly env: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  readonly version: string
  /** The engine port; by default the dockerode adapter for config.docker / DOCKER_HOST. */
  readonly docker?: DockerPort
  /** Watcher timings (tests shorten the reconnect backoff and the ping period). */
  readonly watcherTuning?: Pick<
    WatcherOptions,
    'reconnectInitialMs' | 'pingMs' | 'pingTimeoutMs' | 'tickMs'
  >
}

export interface Daemon {
  readonly registry: Registry
  readonly metrics: WatchMetrics
  readonly events: WatchdogEvents
  readonly watcher: Watcher
  readonly docker: DockerPort
  readonly store: IdpStore
  readonly selfHealing: SelfHealing
  /** Where the HTTP server listens. */
  readonly address: { host: string; port: number }
  /** Stops everything in reverse order of start; idempotent. */
  stop(): Promise<void>
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options
  const releasers: Array<{ name: string; release: () => Promise<void> }> = []
  const stopAll = async (): Promise<void> => {
    while (releasers.length > 0) {
      const r = releasers.pop()
      if (!r) break
      try {
        await r.release()
      } catch (err) {
        logger.error({ err, component: r.name }, 'stop failed')
      }
    }
  }
  // Before anything starts: where backups go must be usable (a directory, private).
  const store = openStore(config.idp)
  releasers.push({ name: 'store', release: () => store.close() })
  const backupDir = resolve(storeBackupDir(config))
  try {
    const tightened = checkBackupDir(backupDir)
    if (tightened !== undefined) {
      logger.warn(
        { dir: backupDir, was: tightened },
        'backup directory was open to other users; tightened to 0700 (backups hold client secrets)',
      )
    }
  } catch (err) {
    await stopAll()
    throw new WatchdogError('CONFIG_INVALID', `backups.dir: ${errorMessage(err)}`, { cause: err })
  }
  try {
    const registry = new Registry()
    const metrics = createWatchMetrics(registry, { version: options.version })
    const docker = options.docker ?? new DockerEngine(dockerConnection(config.docker, options.env))
    const events = new WatchdogEvents((err, event) =>
      logger.error({ err, event }, 'event listener failed'),
    )
    const watcher = new Watcher({
      docker,
      config,
      metrics,
      events,
      logger: logger.child({ component: 'watcher' }),
      ...options.watcherTuning,
    })
    const http = new HttpServer({
      address: config.metrics.address,
      registry,
      readiness: () => watcher.readiness(),
      logger: logger.child({ component: 'http' }),
    })
    await http.listen()
    releasers.push({ name: 'http', release: () => http.close() })
    // Self-healing subscribes before the watcher emits anything, and stops before it (finishing or
    // rolling back an in-flight repair while the engine is still watched).
    const selfHealing = startSelfHealing({
      logger,
      registry,
      config,
      secrets: options.secrets,
      docker,
      events,
      store,
      backupDir,
      version: options.version,
    })
    http.addRoute('POST', '/reset', selfHealing.resetHandler)
    releasers.push({ name: 'self-healing', release: () => selfHealing.stop() })
    watcher.start()
    releasers.push({ name: 'watcher', release: () => watcher.stop() })
    const address = http.address ?? { host: '', port: 0 }
    logger.info(
      {
        mode: config.mode,
        address: `${address.host}:${address.port}`,
        targets: config.targets,
        version: options.version,
      },
      'watchdog started',
    )
    let stopping: Promise<void> | undefined
    return {
      registry,
      metrics,
      events,
      watcher,
      docker,
      store,
      selfHealing,
      address,
      stop: () => (stopping ??= stopAll()),
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
