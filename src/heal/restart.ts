// Restarting the target after its IdP store changed, so NetBird loads the fix — unless Docker's
// restart policy is already doing it, or the container is stopped (never started by us). Restarts go
// through the Docker port and the breaker's backoff (core/heal-decision.ts decideRestart).
import { decideRestart, type TargetStatus } from '../core/heal-decision.js'
import type { DockerPort } from '../docker/engine.js'
import type { Logger } from '../log.js'
import { delay } from '../delay.js'
import type { Target } from './target.js'

export type RestartOutcome = 'restarted' | 'docker' | 'left-stopped'

export async function restartTarget(o: {
  docker: DockerPort
  target: Target
  stopTimeoutSeconds: number
  /** Aborted on shutdown: a waiting restart happens at once rather than leave the fix unloaded. */
  signal: AbortSignal
  log: Logger
}): Promise<RestartOutcome> {
  const { target: t, log } = o
  for (;;) {
    const d = await o.docker.inspect(t.name)
    if (d !== undefined) t.id = d.id
    const status: TargetStatus = d?.state.status ?? 'missing'
    const decided = decideRestart(status, t.restartVerdict())
    // Shutting down: restart now rather than wait out the backoff and leave the fix unloaded.
    const action =
      decided.action === 'wait' && o.signal.aborted ? { action: 'restart' as const } : decided
    switch (action.action) {
      case 'let-docker':
        log.info("container is in Docker's restart loop; its restart policy will start it")
        return 'docker'
      case 'leave':
        log.warn(action.detail)
        return 'left-stopped'
      case 'wait':
        log.info({ waitMs: action.waitMs }, 'restart backoff: waiting')
        await delay(action.waitMs, o.signal)
        continue
      case 'restart':
        t.noteRestart()
        log.info('restarting the container')
        await o.docker.restart(t.id, { timeoutSeconds: o.stopTimeoutSeconds })
        return 'restarted'
    }
  }
}
