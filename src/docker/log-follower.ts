// Follows one container's logs across its restarts and across engine reconnects: attach with
// `follow` from the resume point, read until the engine ends the stream (the container stopped, or
// the engine went away), then reattach while the container runs. Every attachment starts at the last
// complete line's timestamp and drops the lines it had already read there, so nothing is lost or
// counted twice.
import type { Readable } from 'node:stream'
import type { Finding } from '../core/detect.js'
import { delay } from '../delay.js'
import { isWatchdogError } from '../errors.js'
import type { Logger } from '../log.js'
import type { DockerPort } from './engine.js'
import { LogLineGate, type ResumePoint } from './log-stream.js'

export interface LogFollowerOptions {
  readonly docker: DockerPort
  readonly id: string
  readonly tty: boolean
  /** Lines before this engine time are not read (the first attachment's `since`). */
  readonly sinceNs: bigint
  readonly logger: Logger
  /** `at`: the engine's time of the line (ms since the epoch), when the stream carries one. */
  readonly onFinding: (finding: Finding, at: number | undefined) => void
  /** Complete lines read, and lines of them longer than the matching bound. */
  readonly onLines: (lines: number, truncated: number) => void
}

/** Shortest time between two attachments of a running container (a stream the engine ends at once). */
const minAttachGapMs = 250

export class LogFollower {
  readonly #o: LogFollowerOptions
  readonly #abort = new AbortController()
  #resume: ResumePoint | undefined
  #poked = false
  #wake: (() => void) | undefined
  #stream: Readable | undefined
  #detaching = false
  readonly #done: Promise<void>

  constructor(options: LogFollowerOptions) {
    this.#o = options
    this.#done = this.#run()
  }

  /** Attach now if idle; if attached, look again once the current stream ends. */
  poke(): void {
    this.#poked = true
    this.#wake?.()
  }

  /**
   * Drop the current stream (it may hang on a connection the engine no longer serves) and attach
   * again from the resume point. Used after a reconnect.
   */
  reattach(): void {
    this.#poked = true
    this.#detaching = true
    this.#stream?.destroy()
    this.#wake?.()
  }

  /** Where the next attachment will start. */
  get resumePoint(): ResumePoint | undefined {
    return this.#resume
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    this.#stream?.destroy()
    this.#wake?.()
    await this.#done
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      if (!this.#poked) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve
        })
        this.#wake = undefined
        continue
      }
      this.#poked = false
      const began = Date.now()
      let reattach = false
      try {
        await this.#attachOnce(signal)
        if (signal.aborted) return
        const d = await this.#o.docker.inspect(this.#o.id, signal)
        reattach = d !== undefined && d.state.running
      } catch (err) {
        if (signal.aborted) return
        // The engine went away or refused: wait for the watcher's next poke (after reconnect).
        const level = isWatchdogError(err, 'DOCKER_ACTION_FAILED') ? 'warn' : 'debug'
        if (!this.#detaching) this.#o.logger[level]({ err }, 'log stream failed')
      }
      this.#detaching = false
      if (reattach) {
        this.#poked = true
        const wait = minAttachGapMs - (Date.now() - began)
        if (wait > 0) await delay(wait, signal)
      }
    }
  }

  async #attachOnce(signal: AbortSignal): Promise<void> {
    const sinceNs = this.#resume?.sinceNs ?? this.#o.sinceNs
    const stream = await this.#o.docker.logs(this.#o.id, { follow: true, sinceNs, signal })
    this.#stream = stream
    const gate = new LogLineGate({
      tty: this.#o.tty,
      resume: this.#resume,
      onFinding: this.#o.onFinding,
    })
    let lines = 0
    let truncated = 0
    const flush = (): void => {
      const dl = gate.lines - lines
      const dt = gate.truncatedLines - truncated
      if (dl > 0 || dt > 0) this.#o.onLines(dl, dt)
      lines = gate.lines
      truncated = gate.truncatedLines
    }
    try {
      for await (const chunk of stream) {
        gate.push(chunk as Buffer)
        flush()
      }
    } catch (err) {
      if (!signal.aborted) throw err
    } finally {
      flush()
      this.#resume = gate.resumePoint
      stream.destroy()
      this.#stream = undefined
    }
  }
}
