// Streams a log (file, stdin, a container's log stream) through the rule catalogue in constant
// memory: complete lines are classified in blocks, a line longer than the bound is cut for matching,
// counted, and the rest of it skipped without ever being buffered whole.
import type { Readable } from 'node:stream'
import { detectBlock, maxLineLength, type Finding } from '../core/detect.js'

export interface ScanStats {
  lines: number
  findings: number
  truncatedLines: number
}

const newline = 0x0a

/** Incremental scanner: feed it byte chunks, then call `end()`. Used by the CLI and the daemon. */
export class LineScanner {
  readonly stats: ScanStats = { lines: 0, findings: 0, truncatedLines: 0 }
  #carry: Buffer = Buffer.alloc(0)
  #skipping = false
  readonly #onFinding: (finding: Finding) => void
  readonly #maxBytes: number

  constructor(onFinding: (finding: Finding) => void, maxBytes = maxLineLength) {
    this.#onFinding = (f) => {
      this.stats.findings++
      onFinding(f)
    }
    this.#maxBytes = maxBytes
  }

  push(input: Buffer): void {
    let chunk = input
    if (this.#skipping) {
      const nl = chunk.indexOf(newline)
      if (nl === -1) return
      chunk = chunk.subarray(nl + 1)
      this.#skipping = false
    }
    if (this.#carry.length > 0) {
      const nl = chunk.indexOf(newline)
      const firstLen = this.#carry.length + (nl === -1 ? chunk.length : nl)
      if (firstLen > this.#maxBytes) {
        const head = Buffer.concat([
          this.#carry,
          chunk.subarray(0, this.#maxBytes - this.#carry.length),
        ])
        this.#carry = Buffer.alloc(0)
        this.#emitTruncated(head)
        if (nl === -1) {
          this.#skipping = true
          return
        }
        chunk = chunk.subarray(nl + 1)
      }
    }
    const last = chunk.lastIndexOf(newline)
    if (last === -1) {
      this.#carry =
        this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : Buffer.from(chunk)
      if (this.#carry.length > this.#maxBytes) {
        const head = this.#carry.subarray(0, this.#maxBytes)
        this.#carry = Buffer.alloc(0)
        this.#emitTruncated(head)
        this.#skipping = true
      }
      return
    }
    const complete = chunk.subarray(0, last + 1)
    const block = this.#carry.length > 0 ? Buffer.concat([this.#carry, complete]) : complete
    this.#carry = Buffer.from(chunk.subarray(last + 1))
    this.#classify(block)
  }

  /** Flush a final line that had no newline. */
  end(): ScanStats {
    if (this.#carry.length > 0) {
      this.#classify(this.#carry)
      this.#carry = Buffer.alloc(0)
    }
    this.#skipping = false
    return this.stats
  }

  #emitTruncated(head: Buffer): void {
    this.stats.truncatedLines++
    this.#classify(head)
  }

  // The prefilter runs over a latin1 view (one char per byte: cheap, and indices are byte offsets);
  // only the candidate lines are decoded as UTF-8.
  #classify(block: Buffer): void {
    const result = detectBlock(
      block.toString('latin1'),
      this.stats.lines + 1,
      this.#onFinding,
      (start, end) => block.toString('utf8', start, end),
    )
    this.stats.lines += result.lines
    this.stats.truncatedLines += result.longLines
  }
}

export async function scanStream(
  input: Readable,
  onFinding: (finding: Finding) => void,
): Promise<ScanStats> {
  const scanner = new LineScanner(onFinding)
  for await (const chunk of input) {
    scanner.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer))
  }
  return scanner.end()
}
