// Deterministic generator of hostile log lines for the fuzz run: NetBird's real failure lines and
// benign lines, mutated (byte flips, splices, control characters, invalid UTF-8, prefixes, repeats,
// very long lines, near-miss anchors built to provoke regex backtracking). Seeded, so a failing
// line can be reproduced from (seed, index).
import { readFileSync } from 'node:fs'
import { rules } from '../../src/core/rules.js'

/** mulberry32: a small, fast, well-distributed 32-bit PRNG (public domain, T. Ettinger). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface FuzzOptions {
  seed: number
  /** Benign and failure source lines; defaults to the rule examples and test/fixtures/benign.log. */
  benign?: readonly string[]
  failures?: readonly string[]
  /** Share of lines that are very long (kilobytes to ~200 KB). */
  longLineRate?: number
}

const fragments = [
  'did not match the issuer',
  'issuer did not match the issuer returned by provider, expected "',
  'expected \\"',
  '" got "',
  'Failed to open connector ',
  'failed to create connector ',
  'FATL ',
  'FATA ',
  'PANC ',
  'level=fatal',
  '"level":"fatal"',
  'panic: ',
  'Error: ',
  'netbird-management  | ',
  '2026-01-19T08:38:55.482913374Z ',
  'JumpCloud API request ',
  'failed to create embedded IDP manager',
  'failed to open storage',
  'OIDC configuration',
  '[id: ',
  ', err: ',
  ']',
  '\u001b[31m',
  '\u001b[0m',
  '\t',
  '\r',
  '\u0000',
  '\u2028',
  '😀',
  'ı',
  'İ',
  '\u202e',
]

function loadBenign(): string[] {
  const file = new URL('../../test/fixtures/benign.log', import.meta.url)
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
}

/**
 * Returns a function producing line `i` (a Buffer without the trailing newline; it never contains
 * '\n'). Roughly: 45 % benign, 10 % untouched failure lines, the rest mutated.
 */
export function createLineFactory(options: FuzzOptions): () => Buffer {
  const rand = prng(options.seed)
  const benign = options.benign ?? loadBenign()
  const failures = options.failures ?? rules.flatMap((r) => r.examples)
  const longLineRate = options.longLineRate ?? 0.0005
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const int = (n: number): number => Math.floor(rand() * n)

  function mutateText(line: string): string {
    let s = line
    const steps = 1 + int(4)
    for (let k = 0; k < steps; k++) {
      const at = int(s.length + 1)
      switch (int(10)) {
        case 0: // delete a span
          s = s.slice(0, at) + s.slice(at + 1 + int(20))
          break
        case 1: // insert a fragment
          s = s.slice(0, at) + pick(fragments) + s.slice(at)
          break
        case 2: // splice with another line
          s = s.slice(0, at) + pick(rand() < 0.5 ? benign : failures).slice(int(80))
          break
        case 3: // repeat a span (backtracking bait)
          s = s.slice(0, at) + s.slice(at, at + 1 + int(12)).repeat(2 + int(200)) + s.slice(at)
          break
        case 4: // case flip of a span
          s = s.slice(0, at) + s.slice(at, at + 20).toUpperCase() + s.slice(at + 20)
          break
        case 5: // truncate
          s = s.slice(0, at)
          break
        case 6: // prefix: compose, docker timestamps, both
          s = pick(['netbird-management  | ', '2026-01-19T08:38:55.482913374Z ', 'x | ', '']) + s
          break
        case 7: // JSON-escape the line into a logrus JSON record
          s = JSON.stringify({ level: pick(['error', 'fatal', 'info']), msg: s })
          break
        case 8: // random printable/control characters
          s =
            s.slice(0, at) +
            String.fromCharCode(...Array.from({ length: 1 + int(8) }, () => int(0x7f))) +
            s.slice(at)
          break
        default: // near-miss: an anchor with one character changed
          s = s.slice(0, at) + pick(fragments).replace(/[a-z]/, 'q') + s.slice(at)
      }
    }
    return s
  }

  function mutateBytes(buf: Buffer): Buffer {
    const out = Buffer.from(buf)
    const flips = 1 + int(6)
    for (let k = 0; k < flips && out.length > 0; k++) {
      // 0x80-0xff bytes alone are invalid UTF-8; 0x00-0x1f are control characters.
      out[int(out.length)] = pick([0x00, 0x0d, 0x1b, 0x80, 0xc3, 0xe2, 0xff, int(256)])
    }
    return out
  }

  function longLine(): string {
    const size = 4096 + int(200_000)
    const seedLine = pick(rand() < 0.5 ? failures : benign)
    const filler = pick(['a', '"', '\\"', 'x ', 'did not match ', 'FATL '])
    // The failure text sits either near the start (found) or beyond the 64 KiB matching bound.
    return rand() < 0.5
      ? seedLine + ' ' + filler.repeat(Math.ceil(size / filler.length))
      : filler.repeat(Math.ceil(size / filler.length)) + seedLine
  }

  return () => {
    const r = rand()
    let text: string
    if (r < longLineRate) text = longLine()
    else if (r < 0.45) text = pick(benign)
    else if (r < 0.55) text = pick(failures)
    else text = mutateText(pick(rand() < 0.5 ? failures : benign))
    // Lines are newline-delimited: a newline inside a mutation would only split it in two.
    let buf: Buffer = Buffer.from(text.replace(/\n/g, ' '), 'utf8')
    // Invalid bytes only in short lines: the log driver replaces them (changing byte lengths), which
    // would otherwise shift the 64 KiB matching bound of a long line between emitter and oracle.
    if (buf.length < 4096 && rand() < 0.15) buf = mutateBytes(buf)
    for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) buf[i] = 0x20
    return buf
  }
}
