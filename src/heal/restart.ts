// Restarting the target after its IdP store changed, so NetBird loads the fix — unless Docker's
// restart policy is already doing it, or the container is stopped (never started by us, except to
// finish a restart of ours that the engine's outage cut between its stop and its start). Restarts go
// through the Docker port and the breaker's backoff (core/heal-decision.ts decideRestart).
import { decideRestart, type TargetStatus } from '../core/heal-decision.js'
import type { DockerPort } from '../docker/engine.js'
import type { Logger } from '../log.js'
import { delay } from '../delay.js'
import { WatchdogError } from '../errors.js'
import { viewTarget } from './confirm.js'
import type { Target } from './target.js'

export type RestartOutcome = 'restarted' | 'docker' | 'left-stopped'

export interface RestartOptions {
  readonly docker: DockerPort
  readonly target: Target
  readonly stopTimeoutSeconds: number
  /** Aborted on shutdown: a waiting restart happens at once rather than leave the fix unloaded. */
  readonly signal: AbortSignal
  readonly log: Logger
}

export async function restartTarget(o: RestartOptions): Promise<RestartOutcome> {
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

/**
 * The restart the engine's outage cut short, once the engine is back: nothing to do when the container
 * started since the commit (the confirmation judges that run); a container still running from before
 * is restarted (through the breaker, as above); one left stopped — the restart's stop done, its start
 * never (moby/moby#46688) — is started: the restart the watchdog asked for, finished. Throws the
 * engine's error (DOCKER_UNAVAILABLE: it went away again).
 */
export async function finishCutRestart(
  o: RestartOptions & { readonly committedAt: number },
): Promise<void> {
  const { target: t, log } = o
  const view = await viewTarget(o.docker, t.name, o.signal)
  if (view.kind === 'engine-unreachable') {
    throw new WatchdogError('DOCKER_UNAVAILABLE', 'the Docker engine went away again')
  }
  if (view.kind !== 'container' || view.details === undefined) return
  if (view.startedAt >= o.committedAt) return
  t.id = view.details.id
  if (view.status === 'exited' || view.status === 'created') {
    log.warn(
      'the engine is back and the container is still stopped by the restart its outage cut short: starting it',
    )
    t.noteRestart()
    await o.docker.start(t.id)
  } else if (view.status === 'running') {
    log.warn('the engine is back: restarting the container, as the repair still needs')
    await restartTarget(o)
  }
}
