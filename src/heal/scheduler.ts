// Cron jobs (node-cron, expressions validated at config load): one run of a job at a time; a tick that
// arrives while the previous run is still going is skipped and counted, never queued
// (watchtower's 1-slot lock, containrrr/watchtower internal/actions). stop() stops the timers and waits for running jobs.
import cron, { type ScheduledTask } from 'node-cron'
import type { Logger } from '../log.js'
import type { HealMetrics, JobName } from './metrics.js'

export interface Scheduler {
  /** Run a job now through the same overlap guard as a cron tick; false when it was skipped. */
  runNow(job: JobName): Promise<boolean>
  stop(): Promise<void>
}

export interface JobSpec {
  readonly name: JobName
  /** node-cron expression; "" disables the job. */
  readonly expression: string
  readonly run: () => Promise<void>
}

export function startScheduler(opts: {
  jobs: readonly JobSpec[]
  timezone: string
  metrics: HealMetrics
  logger: Logger
}): Scheduler {
  const log = opts.logger.child({ component: 'scheduler' })
  const running = new Map<JobName, Promise<void>>()
  const tasks: ScheduledTask[] = []
  const specs = new Map(opts.jobs.map((j) => [j.name, j]))
  let stopped = false

  const runGuarded = (job: JobName): Promise<boolean> => {
    const spec = specs.get(job)
    if (spec === undefined || stopped) return Promise.resolve(false)
    if (running.has(job)) {
      opts.metrics.scheduledRunsSkipped.inc({ task: job })
      log.warn({ job }, 'previous run still going; this run is skipped')
      return Promise.resolve(false)
    }
    opts.metrics.scheduledRuns.inc({ task: job })
    const run = spec
      .run()
      .catch((err: unknown) => {
        log.error({ job, err }, 'scheduled job failed')
      })
      .finally(() => running.delete(job))
    running.set(job, run)
    return run.then(() => true)
  }

  for (const spec of opts.jobs) {
    if (spec.expression === '') {
      log.info({ job: spec.name }, 'job disabled')
      continue
    }
    const task = cron.schedule(
      spec.expression,
      () => {
        void runGuarded(spec.name)
      },
      { timezone: opts.timezone, name: `netbird-watchdog-${spec.name}` },
    )
    tasks.push(task)
    log.info({ job: spec.name, cron: spec.expression, timezone: opts.timezone }, 'job scheduled')
  }

  return {
    runNow: runGuarded,
    async stop() {
      stopped = true
      for (const task of tasks) await task.destroy()
      await Promise.all([...running.values()])
    },
  }
}
