// The composition root of `netbird-watchdog run`: builds the adapters from the Config (registry and
// metrics, Docker engine port, typed events, watcher, HTTP server), lets extensions (the healer) plug
// in, starts everything, and releases it in reverse order on stop(). Nothing here exits the process.
import { Registry } from 'prom-client'
import type { Config, Secrets } from './config/schema.js'
import { DockerEngine, dockerConnection, type DockerPort } from './docker/engine.js'
import { WatchdogEvents } from './docker/events.js'
import { Watcher, type WatcherOptions } from './docker/watcher.js'
import { selfHealing } from './heal/extension.js'
import { errorMessage } from './errors.js'
import { HttpServer, type RouteHandler } from './http-server.js'
import type { Logger } from './log.js'
import { createWatchMetrics, type WatchMetrics } from './metrics.js'

/** What an extension receives: everything it needs, nothing global. */
export interface ExtensionContext {
  readonly config: Config
  readonly secrets: Secrets
  readonly logger: Logger
  readonly registry: Registry
  readonly docker: DockerPort
  readonly events: WatchdogEvents
  readonly http: { addRoute(method: string, path: string, handler: RouteHandler): void }
  readonly version: string
}

export interface ExtensionHandle {
  stop(): Promise<void>
}

/** A component started before the watcher runs and stopped before it (e.g. the healer). */
export type Extension = (ctx: ExtensionContext) => ExtensionHandle | Promise<ExtensionHandle>

/** The extensions `netbird-watchdog run` starts. Plug the healer in here. */
export const builtinExtensions: readonly Extension[] = [selfHealing]

export interface DaemonOptions {
  readonly config: Config
  readonly secrets: Secrets
  readonly env: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  readonly version: string
  readonly extensions?: readonly Extension[]
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
        logger.error({ err: errorMessage(err), component: r.name }, 'stop failed')
      }
    }
  }
  try {
    const registry = new Registry()
    const metrics = createWatchMetrics(registry, { version: options.version })
    const docker = options.docker ?? new DockerEngine(dockerConnection(config.docker, options.env))
    const events = new WatchdogEvents((err, event) =>
      logger.error({ err: errorMessage(err), event }, 'event listener failed'),
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
    const ctx: ExtensionContext = {
      config,
      secrets: options.secrets,
      logger,
      registry,
      docker,
      events,
      http: { addRoute: (method, path, handler) => http.addRoute(method, path, handler) },
      version: options.version,
    }
    await http.listen()
    releasers.push({ name: 'http', release: () => http.close() })
    // Extensions subscribe before the watcher emits anything; they stop before it.
    for (const extension of options.extensions ?? builtinExtensions) {
      const handle = await extension(ctx)
      releasers.push({ name: extension.name || 'extension', release: () => handle.stop() })
    }
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
      address,
      stop: () => (stopping ??= stopAll()),
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
