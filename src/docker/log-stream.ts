// Turning a container's `docker logs --timestamps` byte stream into classified lines, in constant
// memory: the 8-byte frame demultiplexer (non-TTY containers), and a per-stream line gate that reads
// each line's engine timestamp, drops the lines already seen before a reconnect (the resume point),
// and hands the rest, without the timestamp, to the rule catalogue's LineScanner.
import type { Finding } from '../core/detect.js'
import { LineScanner } from '../scan/scan-stream.js'

const headerSize = 8

/**
 * Demultiplexes the Engine API's attach/logs framing: [stream, 0, 0, 0, size (uint32 BE)] then
 * `size` payload bytes; stream 1 is stdout, 2 stderr. Payload is passed on as it arrives, so a huge
 * frame is never buffered. https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Container/operation/ContainerAttach
 */
export class FrameDemuxer {
  #header = Buffer.alloc(headerSize)
  #headerLen = 0
  #remaining = 0
  #stream = 1
  readonly #onPayload: (stream: 1 | 2, payload: Buffer) => void

  constructor(onPayload: (stream: 1 | 2, payload: Buffer) => void) {
    this.#onPayload = onPayload
  }

  push(chunk: Buffer): void {
    let pos = 0
    while (pos < chunk.length) {
      if (this.#remaining === 0) {
        const take = Math.min(headerSize - this.#headerLen, chunk.length - pos)
        chunk.copy(this.#header, this.#headerLen, pos, pos + take)
        this.#headerLen += take
        pos += take
        if (this.#headerLen < headerSize) return
        this.#headerLen = 0
        this.#stream = this.#header[0] === 2 ? 2 : 1
        this.#remaining = this.#header.readUInt32BE(4)
        continue
      }
      const take = Math.min(this.#remaining, chunk.length - pos)
      this.#onPayload(this.#stream as 1 | 2, chunk.subarray(pos, pos + take))
      this.#remaining -= take
      pos += take
    }
  }
}

/** Where to resume: the engine timestamp of the last complete line, and how many lines carried it. */
export interface ResumePoint {
  /** RFC3339Nano as the engine prints it (fixed width, UTC), so strings compare in time order. */
  readonly ts: string
  readonly count: number
}

const space = 0x20
const newline = 0x0a
const maxHead = 40

/**
 * Lines of one stream (stdout or stderr). Shares the resume point with its sibling: both come from
 * the same log file, in time order.
 */
class StreamLines {
  #head: Buffer = Buffer.alloc(maxHead)
  #headLen = 0
  #state: 'head' | 'pass' | 'skip' = 'head'
  #lineTs = ''
  readonly #owner: LogLineGate
  readonly #scanner: LineScanner

  constructor(owner: LogLineGate, scanner: LineScanner) {
    this.#owner = owner
    this.#scanner = scanner
  }

  push(chunk: Buffer): void {
    let pos = 0
    while (pos < chunk.length) {
      if (this.#state === 'head') {
        // Collect the timestamp up to its trailing space (it may span chunks).
        let i = pos
        while (i < chunk.length && this.#headLen < maxHead) {
          const b = chunk[i] as number
          if (b === space || b === newline) break
          this.#head[this.#headLen++] = b
          i++
        }
        if (i === chunk.length && this.#headLen < maxHead) return
        const ts = this.#head.toString('latin1', 0, this.#headLen)
        const sep = i < chunk.length ? chunk[i] : undefined
        if (sep === space) {
          this.#lineTs = ts
          this.#state = this.#owner.admit(ts) ? 'pass' : 'skip'
          this.#headLen = 0
          pos = i + 1
        } else {
          // No timestamp (a TTY artefact or a fake peer): classify the head bytes as content.
          this.#lineTs = ''
          this.#state = 'pass'
          const head = Buffer.from(this.#head.subarray(0, this.#headLen))
          this.#headLen = 0
          this.#scanner.push(head)
          pos = i
        }
        continue
      }
      const nl = chunk.indexOf(newline, pos)
      const end = nl === -1 ? chunk.length : nl + 1
      if (this.#state === 'pass') this.#scanner.push(chunk.subarray(pos, end))
      if (nl !== -1) {
        if (this.#state === 'pass') this.#owner.completed(this.#lineTs)
        this.#state = 'head'
      }
      pos = end
    }
  }
}

/**
 * One attachment to a container's log stream. `resume` is where the previous attachment stopped
 * (undefined for the first one: everything the engine sends is new).
 */
export class LogLineGate {
  readonly #scanners: readonly [LineScanner, LineScanner]
  readonly #stdout: StreamLines
  readonly #stderr: StreamLines
  readonly #demux: FrameDemuxer | undefined
  readonly #resume: ResumePoint | undefined
  #seenAtResume = 0
  #last: ResumePoint | undefined
  /** Complete lines passed to the scanner. */
  lines = 0

  constructor(options: {
    tty: boolean
    resume: ResumePoint | undefined
    onFinding: (finding: Finding) => void
  }) {
    // One scanner per stream: a partial stdout line and a partial stderr line never mix.
    this.#scanners = [new LineScanner(options.onFinding), new LineScanner(options.onFinding)]
    this.#stdout = new StreamLines(this, this.#scanners[0])
    this.#stderr = new StreamLines(this, this.#scanners[1])
    this.#resume = options.resume
    this.#last = options.resume
    this.#demux = options.tty
      ? undefined
      : new FrameDemuxer((stream, payload) =>
          (stream === 2 ? this.#stderr : this.#stdout).push(payload),
        )
  }

  push(chunk: Buffer): void {
    if (this.#demux) this.#demux.push(chunk)
    else this.#stdout.push(chunk)
  }

  /** The resume point after what has been read so far. */
  get resumePoint(): ResumePoint | undefined {
    return this.#last
  }

  /** Lines cut to 64 KiB for matching, on both streams. */
  get truncatedLines(): number {
    return this.#scanners[0].stats.truncatedLines + this.#scanners[1].stats.truncatedLines
  }

  /** Whether a line stamped `ts` is new. */
  admit(ts: string): boolean {
    const r = this.#resume
    if (r === undefined || ts > r.ts) return true
    if (ts < r.ts) return false
    if (this.#seenAtResume < r.count) {
      this.#seenAtResume++
      return false
    }
    return true
  }

  completed(ts: string): void {
    this.lines++
    if (ts === '') return
    const last = this.#last
    if (last !== undefined && last.ts === ts) this.#last = { ts, count: last.count + 1 }
    else if (last === undefined || ts > last.ts) this.#last = { ts, count: 1 }
  }
}
