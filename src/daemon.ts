// The composition root of `netbird-watchdog run`: builds the adapters from the Config (registry and
// metrics, Docker engine port, typed events, the IdP store — SQLite idp.db or PostgreSQL, decided by
// store/open.ts — watcher, HTTP server), wires self-healing to them, starts everything, and releases
// it in reverse order on stop(). Nothing here exits the process. Everything that can be wrong with
// the configuration is found before anything starts.
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
import {
  backupDirFor,
  defaultPostgresBackupDir,
  locationLabel,
  openStore,
  storeArgsOf,
  type StoreLocation,
} from './store/open.js'
import { resolveStore } from './locate/resolve-store.js'
import { LocatedStore, type Located } from './locate/located-store.js'
import type { IdpStore } from './store/port.js'
import { dsnNotes, Secret } from './core/dsn.js'

export interface DaemonOptions {
  readonly config: Config
  readonly secrets: Secrets
  readonly env: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  readonly version: string
  /** The engine port; by default the dockerode adapter for config.docker / DOCKER_HOST. */
  readonly docker?: DockerPort
  /** Watcher timings (tests shorten the reconnect backoff and the ping period). */
  readonly watcherTuning?: Pick<WatcherOptions, 'reconnectInitialMs' | 'pingMs' | 'pingTimeoutMs'>
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
  // Before anything starts: which store (a malformed DSN is a configuration error), and where its
  // backups go, which must be usable (a directory, private).
  const { store, location, unknown, where } = storeOf(options, logger)
  releasers.push({ name: 'store', release: () => store.close() })
  const backupDir = resolve(
    backupDirFor(location, config.backups.dir, { postgresDefault: defaultPostgresBackupDir }),
  )
  try {
    checkBackupDir(backupDir)
  } catch (err) {
    await stopAll()
    const key = config.backups.dir !== undefined ? 'backups.dir' : 'the default backup directory'
    throw new WatchdogError('CONFIG_INVALID', `${key}: ${errorMessage(err)}`, { cause: err })
  }
  if (unknown !== true) logStore(logger, location, backupDir, config)
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
      storeArgs: () => storeArgsOf(where()),
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

/**
 * The daemon's store: NETBIRD_WATCHDOG_IDP_DSN[_FILE], else `idp.dsn`, else NetBird's config.yaml or
 * management.json when they name a PostgreSQL store, else `idp.dbPath` (store/open.ts). When NetBird's
 * files take part, the store is found again whenever they change, and is unknown (nothing read or
 * written) while one of them cannot be used (store/located.ts). `location` is where it was found at
 * start (for the backup directory and the start-up log), idp.dbPath while it is unknown.
 */
function storeOf(
  options: DaemonOptions,
  logger: Logger,
): {
  store: IdpStore
  location: StoreLocation
  unknown?: true
  /** Where the store is now (it may have been found again elsewhere since the start). */
  where: () => StoreLocation
} {
  const { idp } = options.config
  const log = logger.child({ component: 'store' })
  const dsn =
    options.secrets.idpDsn ??
    (idp.dsn !== undefined ? { value: new Secret(idp.dsn), source: 'idp.dsn' } : undefined)
  const fallback: StoreLocation = { engine: 'sqlite', path: idp.dbPath, source: 'idp.dbPath' }
  const open = (at: StoreLocation): IdpStore =>
    openStore(at, { busyTimeoutMs: options.config.idp.busyTimeoutMs })
  const files = [idp.configYaml, idp.managementJson].filter((f): f is string => f !== undefined)
  if (dsn !== undefined || files.length === 0) {
    // Nothing of NetBird's takes part: the watchdog's own settings say where the store is.
    const location =
      resolveStore({
        ...(dsn !== undefined ? { dsn } : {}),
        env: options.env,
        dbPath: { path: idp.dbPath, onlyIfExists: false },
      }) ?? fallback
    return { store: open(location), location, where: () => location }
  }
  const locate = (): Located => {
    const unusable: string[] = []
    const location = resolveStore({
      ...(idp.configYaml !== undefined ? { configYaml: idp.configYaml } : {}),
      ...(idp.managementJson !== undefined ? { managementJson: idp.managementJson } : {}),
      env: options.env,
      dbPath: { path: idp.dbPath, onlyIfExists: false },
      // A broken NetBird file does not keep the daemon from starting (NetBird fails on it too, and the
      // rules and the scheduled doctor say so), but the store it would name is then unknown.
      onUnusableNetbirdFile: (err) => unusable.push(errorMessage(err)),
    })
    if (unusable.length > 0) return { unknown: unusable.join('; ') }
    return { location: location ?? fallback }
  }
  const store = new LocatedStore({
    locate,
    files,
    open,
    onChange: (now, before) => {
      if ('unknown' in now) {
        log.warn(
          { problem: now.unknown },
          'a NetBird config file cannot tell where the IdP store is: nothing is read or written until it is fixed',
        )
      } else if (before !== undefined) {
        log.warn(
          {
            engine: now.location.engine,
            store: locationLabel(now.location),
            from: now.location.source,
          },
          'IdP store found again after a NetBird config file changed',
        )
      }
    },
  })
  const where = (): StoreLocation => {
    const now = store.located
    return 'location' in now ? now.location : fallback
  }
  const located = store.located
  return 'location' in located
    ? { store, location: located.location, where }
    : { store, location: fallback, unknown: true, where }
}

/** Say at start which store, from where, and anything about its DSN an operator should know. */
function logStore(
  logger: Logger,
  location: StoreLocation,
  backupDir: string,
  config: Config,
): void {
  const log = logger.child({ component: 'store' })
  log.info(
    { engine: location.engine, store: locationLabel(location), from: location.source, backupDir },
    'IdP store',
  )
  if (location.engine !== 'postgres') return
  for (const note of dsnNotes(location.settings)) log.info({ from: location.source }, note)
  if (location.source === 'idp.dsn' && location.settings.password !== undefined) {
    log.warn(
      'idp.dsn in the config file holds a password: move the DSN to a secret file named by NETBIRD_WATCHDOG_IDP_DSN_FILE',
    )
  }
  if (config.backups.dir === undefined) {
    log.info(
      { dir: backupDir },
      "backups of the PostgreSQL store go to the default directory (the image's state volume); set backups.dir to change it",
    )
  }
}
