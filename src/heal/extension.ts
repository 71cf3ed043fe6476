// The daemon extension that turns `netbird-watchdog run` from observing into self-healing: it adapts
// the daemon's Docker port and events to the healer, mounts POST /reset, and stops (finishing or rolling
// back an in-flight repair) before the watcher does.
import type { Extension } from '../daemon.js'
import { healDockerFrom, healEventsFrom } from './adapters.js'
import { startSelfHealing } from './self-heal.js'

export const selfHealing: Extension = function selfHealing(ctx) {
  const heal = startSelfHealing({
    logger: ctx.logger,
    registry: ctx.registry,
    config: ctx.config,
    secrets: ctx.secrets,
    docker: healDockerFrom(ctx.docker),
    events: healEventsFrom(ctx.events),
    version: ctx.version,
  })
  ctx.http.addRoute('POST', '/reset', heal.resetHandler)
  return { stop: () => heal.stop() }
}
