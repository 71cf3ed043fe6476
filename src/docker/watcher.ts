// The observer: keeps a connection to the Docker engine, selects the targets, and turns the engine's
// container events and the targets' logs into state, counted events, log lines and typed events
// (events.ts). The gauges read the state at scrape time (`state()`, metrics.ts); each target logs
// through a child logger bound to its name and id.
// - Events are the source of truth for restarts and deaths (core/restart-loop.ts); inspect fills in
//   what only it knows (RestartCount, health) and covers starts whose events were lost while the
//   engine was away.
// - The engine going away is a state: docker_up 0, reconnect with capped exponential backoff, replay
//   missed events with `since` (deduplicated by time and identity), reconcile with list + inspect.
// - Observe only: nothing here changes a container.
// Why ~590 lines: one engine session's state (targets, what is known of each container by name,
// restart ledgers, loops, the event dedupe window, log followers) is one state machine; the pure parts
// already live in core/restart-loop.ts.
import type { Config } from '../config/schema.js'
import type { Finding } from '../core/detect.js'
import {
  evaluateLoop,
  initialLoopState,
  nextLoopChangeMs,
  recordDeath,
  recordStart,
  recordStartEvent,
  startEventIsAmbiguous,
  reconcileStart,
  type LoopPolicy,
  type LoopState,
  type StartLedger,
} from '../core/restart-loop.js'
import type { RuleId } from '../core/rules.js'
import { matchTarget, type TargetSelector } from '../core/targets.js'
import { errorMessage, isWatchdogError } from '../errors.js'
import type { Logger } from '../log.js'
import type { HealthStatus, WatchMetrics, WatchState } from '../metrics.js'
import { rfc3339ToNs, type ContainerDetails, type DockerPort, type EngineEvent } from './engine.js'
import type { WatchdogEvents } from './events.js'
import { LogFollower } from './log-follower.js'

export interface WatcherOptions {
  readonly docker: DockerPort
  readonly config: Pick<Config, 'targets' | 'detection' | 'docker'>
  readonly metrics: WatchMetrics
  readonly events: WatchdogEvents
  readonly logger: Logger
  /** Wall clock, ms (tests may pass their own). */
  readonly now?: () => number
  /** First reconnect delay; doubles up to docker.reconnectMaxSeconds. */
  readonly reconnectInitialMs?: number
  /** How often the engine is pinged while connected (a hung engine ends the session). */
  readonly pingMs?: number
  /** How long a ping may take before the engine counts as gone. */
  readonly pingTimeoutMs?: number
}

export interface TargetInfo {
  readonly id: string
  readonly name: string
  readonly status: string
}

interface Tracked {
  readonly id: string
  name: string
  /** Bound to the container's name and short id (bound again when it is renamed). */
  log: Logger
  tty: boolean
  status: string
  ledger: StartLedger | undefined
  diedSinceStart: boolean
  /** The kernel can report many OOM events for one run (one per killed process): count one. */
  oomSinceStart: boolean
  follower: LogFollower | undefined
}

/**
 * What is known of a container by name, kept after it went: `container` is the series' name, so a
 * container recreated under the same name continues it. (Its restart-loop state is in #loops.)
 */
interface Named {
  restartCount: number
  lastExitCode: number
  health: HealthStatus
  readonly lastFindings: Map<RuleId, number>
}

const nsPerMs = 1_000_000n

/** How far out of time order an engine event may arrive and still be counted. */
const eventDedupeWindowNs = 10_000_000_000n

export class Watcher {
  readonly #o: WatcherOptions
  readonly #log: Logger
  readonly #selector: TargetSelector
  readonly #policy: LoopPolicy
  readonly #now: () => number
  readonly #abort = new AbortController()
  /** Engine time from which everything is new: the watcher's start. */
  readonly #startNs: bigint
  readonly #tracked = new Map<string, Tracked>()
  readonly #named = new Map<string, Named>()
  readonly #loops = new Map<string, LoopState>()
  #dockerUp = false
  #everUp = false
  #lastEventNs: bigint | undefined
  /** Events already handled within the dedupe window, by id|action|timeNano. */
  readonly #seenEvents = new Map<string, bigint>()
  #eventsFromNs = 0n
  #run: Promise<void> | undefined
  /** Set only while a loop is active: fires when the earliest one may clear (stable period over). */
  #loopTimer: ReturnType<typeof setTimeout> | undefined
  #wakeReconnect: (() => void) | undefined

  constructor(options: WatcherOptions) {
    this.#o = options
    this.#log = options.logger
    this.#now = options.now ?? Date.now
    this.#startNs = BigInt(this.#now()) * nsPerMs
    const t = options.config.targets
    this.#selector = {
      names: t.names,
      composeServices: t.composeServices,
      label: t.label,
      autoDetect: t.autoDetect,
    }
    const d = options.config.detection
    this.#policy = {
      deaths: d.loopDeaths,
      windowMs: d.loopWindowSeconds * 1000,
      stableMs: d.stableSeconds * 1000,
    }
    // Explicitly named targets have their series from the start, found or not.
    for (const name of t.names) this.#known(name)
    options.metrics.collectFrom(() => this.state())
  }

  get dockerUp(): boolean {
    return this.#dockerUp
  }

  get targets(): TargetInfo[] {
    return [...this.#tracked.values()].map((t) => ({ id: t.id, name: t.name, status: t.status }))
  }

  /** What the watcher knows now; the gauges read it at scrape time. */
  state(): WatchState {
    const running = new Set<string>()
    for (const t of this.#tracked.values()) if (t.status === 'running') running.add(t.name)
    return {
      dockerUp: this.#dockerUp,
      targets: this.#tracked.size,
      containers: [...this.#named].map(([container, n]) => ({
        container,
        up: running.has(container),
        restartCount: n.restartCount,
        lastExitCode: n.lastExitCode,
        health: n.health,
        restartLoop: this.#loopOf(container).active,
        lastFindings: new Map(n.lastFindings),
      })),
    }
  }

  readiness(): { ready: boolean; reason: string } {
    if (!this.#dockerUp) return { ready: false, reason: 'Docker engine unreachable' }
    if (this.#tracked.size === 0) return { ready: false, reason: 'no target container found' }
    return { ready: true, reason: '' }
  }

  start(): void {
    if (this.#run) return
    this.#run = this.#loop()
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    this.#wakeReconnect?.()
    clearTimeout(this.#loopTimer)
    await this.#run
    await Promise.all(
      [...this.#tracked.values()].map((t) => t.follower?.stop() ?? Promise.resolve()),
    )
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal
    const initialMs = this.#o.reconnectInitialMs ?? 250
    const maxMs = this.#o.config.docker.reconnectMaxSeconds * 1000
    let delayMs = initialMs
    let lastProblem = ''
    while (!signal.aborted) {
      try {
        await this.#ping(signal)
        await this.#session(signal)
      } catch (err) {
        if (signal.aborted) break
        // The backoff restarts only after a session that got going, so an engine (or proxy) that
        // answers pings but refuses the other calls is not hammered.
        if (this.#dockerUp) delayMs = initialMs
        const problem = errorMessage(err)
        if (isWatchdogError(err, 'DOCKER_ACTION_FAILED') && problem !== lastProblem) {
          this.#log.warn({ err: problem }, 'docker engine refused a call')
        } else {
          this.#log.debug({ err: problem }, 'engine session ended')
        }
        if (!this.#everUp && lastProblem === '') {
          // Said once at start: the daemon is running, but sees nothing until the engine answers.
          this.#log.warn({ err }, 'docker engine unreachable at start; retrying with backoff')
        }
        lastProblem = problem
      }
      if (signal.aborted) break
      this.#setDockerUp(false)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs)
        this.#wakeReconnect = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#wakeReconnect = undefined
      delayMs = Math.min(delayMs * 2, maxMs)
    }
  }

  /**
   * One connection: open the event stream (replaying from the last event), reconcile, consume. A
   * periodic ping ends the session when the engine stops answering without closing the stream.
   */
  async #session(outer: AbortSignal): Promise<void> {
    const session = new AbortController()
    const signal = AbortSignal.any([outer, session.signal])
    const pinger = setInterval(() => {
      this.#ping(signal).catch(() => session.abort())
    }, this.#o.pingMs ?? 15_000)
    pinger.unref()
    try {
      const sinceNs = this.#lastEventNs ?? this.#startNs
      this.#eventsFromNs = sinceNs
      const iterator = this.#o.docker.events({ sinceNs, signal })[Symbol.asyncIterator]()
      // Issue the events request before listing, so nothing falls between the two.
      let next = iterator.next()
      next.catch(() => undefined)
      await this.#reconcile(signal)
      this.#setDockerUp(true)
      for (;;) {
        const r = await next
        if (r.done) break
        await this.#onEvent(r.value)
        next = iterator.next()
      }
      throw new Error('event stream ended')
    } finally {
      clearInterval(pinger)
      session.abort()
    }
  }

  #ping(signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#o.pingTimeoutMs ?? 10_000)
    return this.#o.docker.ping(AbortSignal.any([signal, timeout]))
  }

  #setDockerUp(up: boolean): void {
    if (up === this.#dockerUp) return
    this.#dockerUp = up
    if (up) {
      if (this.#everUp) this.#o.metrics.dockerReconnects.inc()
      this.#everUp = true
      this.#log.info({ targets: this.#tracked.size }, 'docker engine connected')
    } else {
      this.#log.warn('docker engine unreachable; reconnecting')
    }
    this.#o.events.emit('docker', { up })
  }

  async #reconcile(signal: AbortSignal): Promise<void> {
    const docker = this.#o.docker
    const list = await docker.list(signal)
    const present = new Set<string>()
    for (const c of list) {
      if (!matchTarget(c, this.#selector) && !this.#tracked.has(c.id)) continue
      const d = await docker.inspect(c.id, signal)
      if (!d) continue
      if (!matchTarget(d, this.#selector)) {
        await this.#untrack(c.id, 'no longer a target')
        continue
      }
      present.add(d.id)
      const t = this.#track(d)
      this.#applyInspect(t, d)
      const verdict = reconcileStart(t.ledger, startedNs(d), this.#eventsFromNs)
      if (verdict) {
        t.ledger = verdict.ledger
        if (verdict.restart) this.#countRestart(t, 'inspect')
      }
    }
    for (const id of [...this.#tracked.keys()]) {
      if (!present.has(id)) await this.#untrack(id, 'gone')
    }
    // Read what the targets printed while the engine was away (or since the watcher started); after
    // a reconnect, streams of the old connection may hang, so every follower attaches afresh.
    for (const t of this.#tracked.values()) {
      if (this.#everUp) t.follower?.reattach()
      else t.follower?.poke()
    }
  }

  #track(d: ContainerDetails): Tracked {
    let t = this.#tracked.get(d.id)
    if (!t) {
      t = {
        id: d.id,
        name: d.name,
        log: this.#targetLog(d),
        tty: d.tty,
        status: d.state.status,
        ledger: undefined,
        diedSinceStart: false,
        oomSinceStart: false,
        follower: undefined,
      }
      this.#tracked.set(d.id, t)
      this.#known(d.name)
      t.log.info('target found')
      if (this.#o.config.detection.followLogs) t.follower = this.#newFollower(t)
      this.#o.events.emit('target', { container: d.name, containerId: d.id })
    } else if (t.name !== d.name) {
      t.name = d.name
      t.log = this.#targetLog(d)
      this.#known(d.name)
    }
    t.tty = d.tty
    return t
  }

  async #untrack(id: string, why: string): Promise<void> {
    const t = this.#tracked.get(id)
    if (!t) return
    this.#tracked.delete(id)
    t.log.info({ why }, 'target dropped')
    await t.follower?.stop()
  }

  #targetLog(d: ContainerDetails): Logger {
    return this.#log.child({ container: d.name, containerId: short(d.id) })
  }

  /** The container's record by name, created (with every series at 0) when the name is new. */
  #known(name: string): Named {
    let n = this.#named.get(name)
    if (n === undefined) {
      n = { restartCount: 0, lastExitCode: 0, health: 'none', lastFindings: new Map() }
      this.#named.set(name, n)
    }
    return n
  }

  #newFollower(t: Tracked): LogFollower {
    return new LogFollower({
      docker: this.#o.docker,
      id: t.id,
      tty: t.tty,
      sinceNs: this.#startNs,
      logger: t.log,
      onFinding: (f, at) => this.#onFinding(t, f, at),
      onLines: (lines, truncated) => {
        this.#o.metrics.logLines.inc({ container: t.name }, lines)
        if (truncated > 0) this.#o.metrics.logTruncatedLines.inc({ container: t.name }, truncated)
      },
    })
  }

  #onFinding(t: Tracked, finding: Finding, at: number | undefined): void {
    const container = t.name
    this.#o.metrics.findings.inc({ container, rule: finding.rule })
    this.#known(container).lastFindings.set(finding.rule, this.#now() / 1000)
    t.log.warn(
      {
        rule: finding.rule,
        severity: finding.severity,
        fatal: finding.fatal,
        ...(finding.connectorId !== undefined ? { connectorId: finding.connectorId } : {}),
        ...(finding.expectedIssuer !== undefined ? { expectedIssuer: finding.expectedIssuer } : {}),
        ...(finding.returnedIssuer !== undefined ? { returnedIssuer: finding.returnedIssuer } : {}),
      },
      'finding',
    )
    this.#o.events.emit('finding', {
      container,
      containerId: t.id,
      finding,
      ...(at !== undefined ? { at } : {}),
    })
  }

  #applyInspect(t: Tracked, d: ContainerDetails): void {
    const n = this.#known(d.name)
    t.status = d.state.status
    n.restartCount = d.restartCount
    if (d.state.status === 'exited' || d.state.status === 'dead' || d.state.restarting) {
      n.lastExitCode = d.state.exitCode
    }
    n.health = d.state.health ?? 'none'
  }

  async #onEvent(e: EngineEvent): Promise<void> {
    // Replays overlap what was already seen, and the engine does not deliver events of different
    // containers strictly in timeNano order (seen at 20 restart-looping targets): skip an event only
    // if this exact event was seen, or if it is older than the dedupe window.
    const key = `${e.id}|${e.action}|${e.timeNano}`
    if (this.#seenEvents.has(key)) return
    if (this.#lastEventNs !== undefined && e.timeNano < this.#lastEventNs - eventDedupeWindowNs)
      return
    this.#seenEvents.set(key, e.timeNano)
    if (this.#lastEventNs === undefined || e.timeNano > this.#lastEventNs) {
      this.#lastEventNs = e.timeNano
      if (this.#seenEvents.size > 4096) {
        const floor = e.timeNano - eventDedupeWindowNs
        for (const [k, ns] of this.#seenEvents) if (ns < floor) this.#seenEvents.delete(k)
      }
    }

    const action = e.action.split(':')[0] ?? e.action
    let t = this.#tracked.get(e.id)
    if (!t) {
      if (action === 'destroy') return
      // Event attributes carry the container's labels and name.
      if (!matchTarget({ name: e.name, labels: e.attributes }, this.#selector)) return
      const d = await this.#o.docker.inspect(e.id, this.#abort.signal).catch(() => undefined)
      if (!d) return
      t = this.#track(d)
      this.#applyInspect(t, d)
    }
    const atMs = Number(e.timeNano / nsPerMs)
    switch (action) {
      case 'start': {
        // Rare: the event may be the own event of a start just accounted from inspect, or a quick
        // restart after it; the current StartedAt tells them apart.
        let startedAt: bigint | undefined
        if (startEventIsAmbiguous(t.ledger, e.timeNano)) {
          const d = await this.#o.docker.inspect(t.id, this.#abort.signal).catch(() => undefined)
          startedAt = d ? startedNs(d) : undefined
        }
        const verdict = recordStartEvent(t.ledger, e.timeNano, startedAt)
        t.ledger = verdict.ledger
        if (verdict.restart) {
          if (!t.diedSinceStart) this.#recordDeath(t, atMs)
          this.#countRestart(t, 'event')
        }
        t.diedSinceStart = false
        t.status = 'running'
        this.#setLoop(t.name, recordStart(this.#loopOf(t.name), atMs))
        t.oomSinceStart = false
        t.log.info('container started')
        this.#o.events.emit('started', { container: t.name, containerId: t.id, at: atMs })
        t.follower?.poke()
        await this.#refresh(t)
        break
      }
      case 'die': {
        const exitCode = Number(e.attributes.exitCode ?? '0')
        t.status = 'exited'
        t.diedSinceStart = true
        this.#known(t.name).lastExitCode = Number.isFinite(exitCode) ? exitCode : 0
        this.#o.metrics.deaths.inc({ container: t.name })
        this.#recordDeath(t, atMs)
        t.log.warn({ exitCode }, 'container died')
        this.#o.events.emit('died', { container: t.name, containerId: t.id, exitCode, at: atMs })
        // Read the last lines it printed, even if the stream ended before they were delivered.
        t.follower?.poke()
        break
      }
      case 'oom':
        if (t.oomSinceStart) break
        t.oomSinceStart = true
        this.#o.metrics.oomEvents.inc({ container: t.name })
        t.log.warn('container out of memory')
        break
      case 'health_status': {
        const status = e.action.slice(e.action.indexOf(':') + 1).trim()
        if (status === 'healthy' || status === 'unhealthy' || status === 'starting') {
          this.#known(t.name).health = status
          t.log.info({ health: status }, 'container health')
        }
        break
      }
      case 'rename': {
        const d = await this.#o.docker.inspect(e.id, this.#abort.signal).catch(() => undefined)
        if (!d || !matchTarget(d, this.#selector)) await this.#untrack(e.id, 'renamed')
        else {
          this.#track(d)
          this.#applyInspect(t, d)
        }
        break
      }
      case 'destroy':
        await this.#untrack(e.id, 'destroyed')
        break
      default:
        break
    }
    this.#o.events.emit('container', {
      container: t.name,
      containerId: t.id,
      action: e.action,
      at: atMs,
    })
  }

  /** What only inspect knows (RestartCount, health); failures are left to reconnect. */
  async #refresh(t: Tracked): Promise<void> {
    const d = await this.#o.docker.inspect(t.id, this.#abort.signal).catch(() => undefined)
    if (!d) return
    const n = this.#known(t.name)
    n.restartCount = d.restartCount
    n.health = d.state.health ?? 'none'
  }

  #countRestart(t: Tracked, source: 'event' | 'inspect'): void {
    this.#o.metrics.restarts.inc({ container: t.name })
    t.log.info({ source }, 'restart counted')
    this.#o.events.emit('restarted', { container: t.name, containerId: t.id, source })
  }

  #loopOf(name: string): LoopState {
    return this.#loops.get(name) ?? initialLoopState
  }

  #recordDeath(t: Tracked, atMs: number): void {
    this.#setLoop(t.name, recordDeath(this.#loopOf(t.name), this.#policy, atMs))
  }

  #setLoop(name: string, next: LoopState): void {
    const before = this.#loopOf(name).active
    this.#loops.set(name, next)
    this.#armLoopTimer()
    if (next.active === before) return
    // A loop is the name's, and may clear after its container went: logged by name only.
    if (next.active) {
      this.#log.error(
        {
          container: name,
          deaths: next.deaths.length,
          windowSeconds: this.#policy.windowMs / 1000,
        },
        'restart loop detected',
      )
    } else {
      this.#log.info({ container: name }, 'restart loop cleared')
    }
    this.#o.events.emit('loop', { container: name, active: next.active })
  }

  #evaluateLoops(): void {
    const now = this.#now()
    for (const [name, state] of this.#loops) {
      const next = evaluateLoop(state, this.#policy, now)
      if (next !== state) this.#setLoop(name, next)
    }
    this.#armLoopTimer()
  }

  /**
   * One timer for the earliest moment a loop may clear, instead of a tick every second: an idle
   * daemon (no loop active) is not woken at all. Re-armed whenever a loop's state changes.
   */
  #armLoopTimer(): void {
    let due: number | undefined
    for (const state of this.#loops.values()) {
      const at = nextLoopChangeMs(state, this.#policy)
      if (at !== undefined && (due === undefined || at < due)) due = at
    }
    clearTimeout(this.#loopTimer)
    this.#loopTimer = undefined
    if (due === undefined || this.#abort.signal.aborted) return
    this.#loopTimer = setTimeout(() => this.#evaluateLoops(), Math.max(0, due - this.#now()))
    this.#loopTimer.unref()
  }
}

function startedNs(d: ContainerDetails): bigint | undefined {
  return rfc3339ToNs(d.state.startedAt)
}

function short(id: string): string {
  return id.slice(0, 12)
}
