// Turning a container's `docker logs --timestamps` byte stream into classified lines, in constant
// memory: the 8-byte frame demultiplexer (non-TTY containers), and a per-stream line gate that reads
// each line's engine timestamp, drops the lines already seen before a reconnect (the resume point),
// and hands the rest, without the timestamp, to the rule catalogue's LineScanner.
//
// The engine stores a line longer than 16 KiB as several partial entries, and the logs endpoint
// sends each one as its own frame with its own timestamp prefix: "TS <16 KiB>", "TS <16 KiB>",
// "TS <rest>\n". The gate strips the prefix of every continuation frame, so the scanner sees the
// line the container wrote. (A TTY container's stream has no frames; its continuations cannot be
// told from content and stay as they are.)
import type { Finding } from '../core/detect.js'
import { LineScanner } from '../scan/scan-stream.js'
import { rfc3339ToNs } from './engine.js'

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
  #frameStart = false
  readonly #onPayload: (stream: 1 | 2, payload: Buffer, frameStart: boolean) => void

  /** `frameStart` is true for the first payload bytes of a frame (one engine log entry). */
  constructor(onPayload: (stream: 1 | 2, payload: Buffer, frameStart: boolean) => void) {
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
        this.#frameStart = true
        continue
      }
      const take = Math.min(this.#remaining, chunk.length - pos)
      this.#onPayload(this.#stream as 1 | 2, chunk.subarray(pos, pos + take), this.#frameStart)
      this.#frameStart = false
      this.#remaining -= take
      pos += take
    }
  }
}

/**
 * Where to resume. stdout and stderr are copied into the log by two goroutines, so entries near the
 * end may be slightly out of time order across the streams: the next attachment starts a reorder
 * window before the newest line read, and skips the lines of that window it has already read.
 */
export interface ResumePoint {
  /** `since` for the next attachment (ns): the newest line's engine time less the window. */
  readonly sinceNs: bigint
  /** The same instant as the engine prints it (RFC3339Nano, fixed width, UTC: compares as text). */
  readonly floor: string
  /** The newest line's engine time. */
  readonly maxTs: string
  /** Lines at or after `floor` already read: `${stream}|${ts}` -> how many. */
  readonly seen: ReadonlyMap<string, number>
}

/** How far out of time order two streams' entries may be and still be resumed exactly. */
export const reorderWindowNs = 2_000_000_000n

/** ns since the epoch -> the engine's RFC3339Nano text (9 fraction digits, Z). */
export function formatEngineTime(ns: bigint): string {
  const base = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)
  return `${base}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`
}

const space = 0x20
const newline = 0x0a
const maxHead = 40

/** Lines of one stream (stdout or stderr); the owner decides which are new. */
class StreamLines {
  #head: Buffer = Buffer.alloc(maxHead)
  #headLen = 0
  /**
   * head: reading a line's timestamp. pass / skip: inside a new / already-seen line. continued:
   * reading the timestamp of a partial entry that continues the current line (`#within` says
   * whether that line is passed or skipped).
   */
  #state: 'head' | 'pass' | 'skip' | 'continued' = 'head'
  #within: 'pass' | 'skip' = 'pass'
  #lineTs = ''
  readonly #owner: LogLineGate
  readonly #scanner: LineScanner
  readonly #stream: 1 | 2

  constructor(
    owner: LogLineGate,
    stream: 1 | 2,
    onFinding: (finding: Finding, at: number | undefined) => void,
  ) {
    this.#owner = owner
    this.#scanner = new LineScanner((f) => onFinding(f, engineMs(this.#lineTs)))
    this.#stream = stream
  }

  get scanner(): LineScanner {
    return this.#scanner
  }

  /** A new engine log entry begins; mid-line, it is a partial entry continuing the line. */
  entryStart(): void {
    if (this.#state === 'pass' || this.#state === 'skip') {
      this.#within = this.#state
      this.#state = 'continued'
    }
  }

  push(chunk: Buffer): void {
    let pos = 0
    while (pos < chunk.length) {
      if (this.#state === 'head' || this.#state === 'continued') {
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
        if (this.#state === 'head' && sep === space) {
          this.#lineTs = ts
          this.#state = this.#owner.admit(this.#stream, ts) ? 'pass' : 'skip'
          this.#headLen = 0
          pos = i + 1
        } else if (this.#state === 'continued' && sep === space && isEngineTime(ts)) {
          // The partial entry's own timestamp: not part of the line (which keeps its first one).
          this.#state = this.#within
          this.#headLen = 0
          pos = i + 1
        } else {
          // No timestamp (a TTY artefact or a fake peer): the head bytes are content.
          if (this.#state === 'head') this.#lineTs = ''
          this.#state = this.#state === 'head' ? 'pass' : this.#within
          const head = Buffer.from(this.#head.subarray(0, this.#headLen))
          this.#headLen = 0
          if (this.#state === 'pass') this.#scanner.push(head)
          pos = i
        }
        continue
      }
      const nl = chunk.indexOf(newline, pos)
      const end = nl === -1 ? chunk.length : nl + 1
      if (this.#state === 'pass') this.#scanner.push(chunk.subarray(pos, end))
      if (nl !== -1) {
        if (this.#state === 'pass') this.#owner.completed(this.#stream, this.#lineTs)
        this.#state = 'head'
      }
      pos = end
    }
  }
}

/** A line's engine timestamp as ms since the epoch: the one form every consumer of a finding sees. */
function engineMs(ts: string): number | undefined {
  const ns = ts === '' ? undefined : rfc3339ToNs(ts)
  return ns === undefined ? undefined : Number(ns / 1_000_000n)
}

/** The engine's timestamp prefix: RFC3339Nano, as `docker logs --timestamps` prints it. */
function isEngineTime(text: string): boolean {
  return rfc3339ToNs(text) !== undefined
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
  readonly #skipped = new Map<string, number>()
  /** Lines read within the reorder window of the newest one (carried over from `resume`). */
  readonly #recent: Map<string, number>
  readonly #queue: string[]
  #queueHead = 0
  #maxTs: string
  /** Complete lines passed to the scanner. */
  lines = 0

  constructor(options: {
    tty: boolean
    resume: ResumePoint | undefined
    /** `at`: the engine's time of the line, ms since the epoch (undefined when the stream has none). */
    onFinding: (finding: Finding, at: number | undefined) => void
  }) {
    // One scanner per stream: a partial stdout line and a partial stderr line never mix. A line is
    // classified while its own bytes are pushed, so the stream's current timestamp is the line's.
    this.#stdout = new StreamLines(this, 1, options.onFinding)
    this.#stderr = new StreamLines(this, 2, options.onFinding)
    this.#scanners = [this.#stdout.scanner, this.#stderr.scanner]
    this.#resume = options.resume
    this.#recent = new Map(options.resume?.seen ?? [])
    this.#queue = [...this.#recent].flatMap(([key, n]) => Array<string>(n).fill(key))
    this.#queue.sort((a, b) => (tsOf(a) < tsOf(b) ? -1 : tsOf(a) > tsOf(b) ? 1 : 0))
    this.#maxTs = options.resume?.maxTs ?? ''
    this.#demux = options.tty
      ? undefined
      : new FrameDemuxer((stream, payload, entryStart) => {
          const lines = stream === 2 ? this.#stderr : this.#stdout
          if (entryStart) lines.entryStart()
          lines.push(payload)
        })
  }

  push(chunk: Buffer): void {
    if (this.#demux) this.#demux.push(chunk)
    else this.#stdout.push(chunk)
  }

  /** The resume point after what has been read so far (undefined before the first line). */
  get resumePoint(): ResumePoint | undefined {
    const window = this.#pruneToWindow()
    if (window === undefined) return this.#resume
    return { ...window, maxTs: this.#maxTs, seen: new Map(this.#recent) }
  }

  /** Forgets lines older than the reorder window of the newest one. */
  #pruneToWindow(): { sinceNs: bigint; floor: string } | undefined {
    const maxNs = this.#maxTs === '' ? undefined : rfc3339ToNs(this.#maxTs)
    if (maxNs === undefined) return undefined
    const sinceNs = maxNs - reorderWindowNs
    const floor = formatEngineTime(sinceNs)
    this.#prune(floor)
    return { sinceNs, floor }
  }

  /** Lines cut to 64 KiB for matching, on both streams. */
  get truncatedLines(): number {
    return this.#scanners[0].stats.truncatedLines + this.#scanners[1].stats.truncatedLines
  }

  /** Whether a line of `stream` stamped `ts` is new. */
  admit(stream: 1 | 2, ts: string): boolean {
    const r = this.#resume
    if (r === undefined) return true
    if (ts < r.floor) return false
    const key = `${stream}|${ts}`
    const already = r.seen.get(key) ?? 0
    if (already === 0) return true
    const skipped = this.#skipped.get(key) ?? 0
    if (skipped >= already) return true
    this.#skipped.set(key, skipped + 1)
    return false
  }

  completed(stream: 1 | 2, ts: string): void {
    this.lines++
    if (ts === '') return
    const key = `${stream}|${ts}`
    this.#recent.set(key, (this.#recent.get(key) ?? 0) + 1)
    this.#queue.push(key)
    if (ts > this.#maxTs) this.#maxTs = ts
    // Keep memory bounded between resume-point reads (checked every 1024 lines).
    if ((this.lines & 1023) === 0 && this.#queue.length - this.#queueHead > 10_000) {
      this.#pruneToWindow()
    }
  }

  #prune(floor: string): void {
    while (this.#queueHead < this.#queue.length) {
      const key = this.#queue[this.#queueHead] as string
      if (tsOf(key) >= floor) break
      this.#queueHead++
      const n = (this.#recent.get(key) ?? 1) - 1
      if (n <= 0) this.#recent.delete(key)
      else this.#recent.set(key, n)
    }
    if (this.#queueHead > 4096 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead)
      this.#queueHead = 0
    }
  }
}

function tsOf(key: string): string {
  return key.slice(2)
}
