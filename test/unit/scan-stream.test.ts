// scan/scan-stream.ts: the LineScanner that `scan` and the daemon's log follower feed, against the
// classifier itself. Whatever the chunking (lines split across chunks, CRLF, lines over 64 KiB,
// invalid UTF-8, control bytes), it must report exactly what detectLine reports for each line of the
// input — the literal search in front of it may skip a line only when detectLine would find nothing.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { detectLine, maxLineLength, type Finding } from '../../src/core/detect.js'
import { LineScanner, scanFile } from '../../src/scan/scan-stream.js'
import { createLineFactory, prng } from '../../bench/lib/fuzz-lines.js'
import { defer } from '../helpers/cleanup.js'

interface Result {
  lines: number
  truncated: number
  findings: Finding[]
}

/** The reference: every line on its own, its first 64 KiB decoded, classified by detectLine. */
function lineByLine(input: Buffer): Result {
  const findings: Finding[] = []
  let lines = 0
  let truncated = 0
  for (let pos = 0; pos < input.length;) {
    let end = input.indexOf(0x0a, pos)
    if (end === -1) end = input.length
    lines++
    if (end - pos > maxLineLength) truncated++
    const text = input.toString('utf8', pos, Math.min(end, pos + maxLineLength))
    const f = detectLine(text, lines)
    if (f) findings.push(f)
    pos = end + 1
  }
  return { lines, truncated, findings }
}

function scanned(input: Buffer, chunkSize: () => number): Result {
  const findings: Finding[] = []
  const scanner = new LineScanner((f) => findings.push(f))
  // One buffer reused for every chunk, as scanFile does: the scanner must keep no view of it.
  const reused = Buffer.alloc(1 << 20)
  for (let pos = 0; pos < input.length;) {
    const n = Math.min(Math.max(1, chunkSize()), reused.length, input.length - pos)
    input.copy(reused, 0, pos, pos + n)
    scanner.push(reused.subarray(0, n))
    reused.fill(0x41, 0, n)
    pos += n
  }
  const stats = scanner.end()
  assert.equal(stats.findings, findings.length)
  return { lines: stats.lines, truncated: stats.truncatedLines, findings }
}

function corpus(lines: number, seed: number): Buffer {
  const next = createLineFactory({ seed, longLineRate: 0.002 })
  const rand = prng(seed + 1)
  const parts: Buffer[] = []
  for (let i = 0; i < lines; i++) {
    parts.push(next(), Buffer.from(rand() < 0.05 ? '\r\n' : '\n'))
  }
  return Buffer.concat(parts)
}

test('60,000 fuzzed lines: the same lines, cuts and findings as line-by-line classification, however chunked', () => {
  const input = corpus(60_000, 11)
  const expected = lineByLine(input)
  assert.ok(expected.findings.length > 5_000, 'the corpus holds findings')
  assert.ok(expected.truncated > 10, 'and lines over 64 KiB')
  const rand = prng(5)
  for (const [name, size] of [
    ['1 MiB reads', () => 1 << 20],
    ['64 KiB pipe reads', () => 65_536],
    ['random small chunks', () => 1 + Math.floor(rand() * 700)],
    ['random large chunks', () => 1 + Math.floor(rand() * 300_000)],
  ] as const) {
    assert.deepEqual(scanned(input, size), expected, name)
  }
})

test('a final line without a newline, and one over 64 KiB, are classified once', () => {
  const fatal = 'FATL management/internals/server/boot.go:95: failed to create field encryptor'
  const input = Buffer.from(`a\n${'y'.repeat(maxLineLength * 3)}${fatal}\n${fatal}`)
  const expected = lineByLine(input)
  assert.deepEqual(
    expected.findings.map((f) => f.line),
    [3],
  )
  for (const size of [7, 4096, 65_535, 65_536, 70_000, 1 << 20]) {
    assert.deepEqual(
      scanned(input, () => size),
      expected,
      `chunks of ${size}`,
    )
  }
})

test('scanFile: a file of many reads (lines across every read boundary) as line-by-line; an abort stops it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-scanfile-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  // About 9 MiB: scanFile reads 1 MiB at a time into two buffers in turn, the next read under way
  // while the scanner reads the other.
  const input = corpus(40_000, 23)
  assert.ok(input.length > 8 << 20, `the corpus spans many reads (${input.length} bytes)`)
  const file = join(dir, 'netbird.log')
  await writeFile(file, input)
  const expected = lineByLine(input)
  const findings: Finding[] = []
  const stats = await scanFile(file, (f) => findings.push(f))
  assert.deepEqual({ lines: stats.lines, truncated: stats.truncatedLines, findings }, expected)

  // Aborted at the first finding: it stops between reads, with what it read so far, and the file is
  // closed (the directory goes in the cleanup).
  const controller = new AbortController()
  const partial = await scanFile(file, () => controller.abort(), controller.signal)
  assert.ok(partial.lines > 0 && partial.lines < expected.lines, `stopped early (${partial.lines})`)
})
