// Adapters from the daemon's Docker port and the watcher's typed events to the healer's narrow ports.
import type { DockerPort } from '../docker/engine.js'
import type { WatchdogEvents } from '../docker/events.js'
import type { HealDocker, HealEvents } from './ports.js'

/** Docker's "never" timestamp (0001-01-01T00:00:00Z) and unparsable values become NaN. */
function engineTime(text: string): number {
  const ms = Date.parse(text)
  return Number.isFinite(ms) && ms > 0 ? ms : Number.NaN
}

export function healDockerFrom(port: DockerPort): HealDocker {
  return {
    async inspect(idOrName) {
      const c = await port.inspect(idOrName)
      if (c === undefined) return undefined
      return {
        id: c.id,
        name: c.name.replace(/^\//, ''),
        status: c.state.status,
        startedAt: engineTime(c.state.startedAt),
        finishedAt: engineTime(c.state.finishedAt),
      }
    },
    restart: (id, opts) => port.restart(id, opts),
  }
}

export function healEventsFrom(events: WatchdogEvents): HealEvents {
  return {
    onFinding: (listener) => events.on('finding', listener),
    onDied: (listener) => events.on('died', listener),
    onStarted: (listener) => events.on('started', listener),
  }
}
