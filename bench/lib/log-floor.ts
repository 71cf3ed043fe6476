// The floor of detection: a reference follower that does the least any program can do to see a
// container's line through the Engine API — dockerode, `GET /containers/{id}/logs?follow=1&
// timestamps=1`, the 8-byte frames demultiplexed, no classification, no logging — and notes when
// each line arrives (high-resolution wall clock). Two ways, as the daemon follows:
//   running   one attachment to a container that stays up;
//   on start  an attachment opened on each `start` event of a container Docker starts again and
//             again, from that start (the engine announces a start after the process has begun,
//             so a line written at once is already waiting, or nearly).
// A line's delay is its arrival less the engine's own timestamp of it (the same host clock). The
// follower runs in a process of its own (this file as a script, with the image's NODE_OPTIONS), so
// nothing else a bench does (scraping, polling) delays it; it reports each arrival as a JSON line.
import { spawn, type ChildProcess } from 'node:child_process'
import Docker from 'dockerode'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { FrameDemuxer } from '../../src/docker/log-stream.js'
import { engineSocket } from '../../test/helpers/docker.js'
import { parseNanoTime } from './containers.js'
import { nodeEnv } from './runtime.js'

export interface Arrival {
  /** The engine's timestamp of the line, as it prints it. */
  readonly ts: string
  /** Milliseconds since the epoch, sub-millisecond: when the line reached the follower. */
  readonly at: number
  readonly text: string
}

/** Wall clock with sub-millisecond resolution (Date.now() has 1 ms). */
export const preciseNow = (): number => performance.timeOrigin + performance.now()

/** A line's delay: its arrival less the engine's timestamp (ms). */
export function delayOf(a: Arrival): number {
  return a.at - parseNanoTime(a.ts)
}

/** The follower in its own process; `arrivals` fills as it reports. */
export class FloorFollower {
  readonly arrivals: Arrival[] = []
  readonly #child: ChildProcess

  private constructor(mode: 'running' | 'start', container: string) {
    this.#child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), mode, container],
      { stdio: ['ignore', 'pipe', 'inherit'], env: nodeEnv() },
    )
    let carry = ''
    this.#child.stdout!.on('data', (b: Buffer) => {
      carry += b.toString('utf8')
      const lines = carry.split('\n')
      carry = lines.pop() ?? ''
      for (const line of lines) if (line !== '') this.arrivals.push(JSON.parse(line) as Arrival)
    })
  }

  /** Resolves once the child follows: it reports an empty arrival first. */
  static async start(mode: 'running' | 'start', container: string): Promise<FloorFollower> {
    const f = new FloorFollower(mode, container)
    const deadline = Date.now() + 30_000
    while (!f.arrivals.some((a) => a.ts === '')) {
      if (f.#child.exitCode !== null) throw new Error('the floor follower exited')
      if (Date.now() > deadline) throw new Error('the floor follower did not start')
      await new Promise((r) => setTimeout(r, 20))
    }
    return f
  }

  /** Follow a running container from now on. */
  static running(container: string): Promise<FloorFollower> {
    return FloorFollower.start('running', container)
  }

  /** Attach on every `start` event of `container`, each from that start. */
  static onStart(container: string): Promise<FloorFollower> {
    return FloorFollower.start('start', container)
  }

  /** Each arrival of a line with this text, once per engine timestamp (a reattach may repeat one). */
  of(text: string): Arrival[] {
    const seen = new Set<string>()
    return this.arrivals.filter((a) => {
      if (a.text !== text || seen.has(a.ts)) return false
      seen.add(a.ts)
      return true
    })
  }

  stop(): void {
    this.#child.kill('SIGTERM')
  }
}

/** The follower itself (in the child process). */
class Follower {
  readonly #docker = new Docker({ socketPath: engineSocket() })
  readonly #abort = new AbortController()
  readonly #streams = new Set<Readable>()
  #events: Readable | undefined

  constructor(readonly report: (a: Arrival) => void) {}

  /** Follow a running container from now on. */
  static async running(container: string, report: (a: Arrival) => void): Promise<Follower> {
    const f = new Follower(report)
    await f.#attach(container, nsNow())
    return f
  }

  /** Attach on every `start` event of `container`, each from that start. */
  static async onStart(container: string, report: (a: Arrival) => void): Promise<Follower> {
    const f = new Follower(report)
    const events = (await f.#docker.getEvents({
      filters: { type: ['container'], container: [container], event: ['start'] },
      abortSignal: f.#abort.signal,
    })) as unknown as Readable
    f.#events = events
    let carry = ''
    events.on('data', (b: Buffer) => {
      carry += b.toString('utf8')
      const lines = carry.split('\n')
      carry = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        const e = JSON.parse(line) as { timeNano?: number }
        // The start itself: the container's process began just before the engine said so.
        const sinceNs = BigInt(Math.round(e.timeNano ?? 0)) - 1_000_000_000n
        f.#attach(container, sinceNs).catch(() => undefined)
      }
    })
    events.on('error', () => undefined)
    return f
  }

  async #attach(container: string, sinceNs: bigint): Promise<void> {
    const stream = (await this.#docker.getContainer(container).logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      since:
        `${sinceNs / 1_000_000_000n}.${(sinceNs % 1_000_000_000n).toString().padStart(9, '0')}` as unknown as number,
      abortSignal: this.#abort.signal,
    })) as unknown as Readable
    this.#streams.add(stream)
    const carry = { text: '' }
    const demux = new FrameDemuxer((_stream, payload) => {
      const at = preciseNow()
      carry.text += payload.toString('utf8')
      const lines = carry.text.split('\n')
      carry.text = lines.pop() ?? ''
      for (const line of lines) {
        const sp = line.indexOf(' ')
        this.report({ ts: line.slice(0, sp), at, text: line.slice(sp + 1) })
      }
    })
    stream.on('data', (b: Buffer) => demux.push(b))
    stream.on('error', () => undefined)
    stream.once('close', () => this.#streams.delete(stream))
  }

  stop(): void {
    this.#abort.abort()
    this.#events?.destroy()
    for (const s of this.#streams) s.destroy()
  }
}

function nsNow(): bigint {
  return BigInt(Math.round(preciseNow() * 1000)) * 1000n
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, container] = process.argv.slice(2) as ['running' | 'start', string]
  const report = (a: Arrival): void => void process.stdout.write(`${JSON.stringify(a)}\n`)
  const f = await (mode === 'running'
    ? Follower.running(container, report)
    : Follower.onStart(container, report))
  // Following: the parent waits for this first, empty report.
  report({ ts: '', at: preciseNow(), text: '' })
  process.once('SIGTERM', () => {
    f.stop()
    setTimeout(() => process.exit(0), 1000).unref()
  })
}
