// core/literal-search.ts: the multi-literal search the scan runs before any regular expression. It
// must find exactly the places where a literal begins (no more, no fewer), in order, whatever the
// block's size (one cursor or two) and wherever a literal sits (across the halves, at either end).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { LiteralSearch, minimalLiterals, skipWindow } from '../../src/core/literal-search.js'
import { scanLiterals } from '../../src/core/detect.js'

/** Every place a literal begins, by Buffer.indexOf: the reference. */
function naive(block: Buffer, literals: readonly string[]): number[] {
  const at = new Set<number>()
  for (const lit of literals) {
    for (let i = block.indexOf(lit); i !== -1; i = block.indexOf(lit, i + 1)) at.add(i)
  }
  return [...at].sort((a, b) => a - b)
}

test('minimalLiterals drops duplicates and literals that contain another', () => {
  assert.deepEqual(
    minimalLiterals(['level=FATAL', 'FATA', 'FATA', 'IDP manager', '', 'x IDP manager']),
    ['FATA', 'IDP manager'],
  )
})

test('the scan literals: short level markers and long anchors both present', () => {
  const lengths = scanLiterals.map((l) => Buffer.byteLength(l))
  assert.ok(
    lengths.some((n) => n < skipWindow),
    'some searched with indexOf',
  )
  assert.ok(
    lengths.some((n) => n >= skipWindow),
    'some in the skip loop',
  )
})

test('finds every occurrence, in order, in blocks of every size (property)', () => {
  const search = new LiteralSearch(scanLiterals)
  const pieces = [...scanLiterals, ...scanLiterals.map((l) => l.slice(0, -1)), 'x', ' ', '\n', 'é']
  const block = fc
    .array(
      fc.oneof(
        fc.constantFrom(...pieces),
        fc.string({ maxLength: 40 }),
        fc.integer({ min: 0, max: 3000 }).map((n) => 'a'.repeat(n)),
      ),
      { maxLength: 60 },
    )
    .map((parts) => Buffer.from(parts.join('')))
  fc.assert(
    fc.property(block, (b) => {
      assert.deepEqual(search.find(b), naive(b, search.literals))
    }),
    { numRuns: 3000 },
  )
})

test('two cursors: a literal across the middle, at the very start and the very end', () => {
  const search = new LiteralSearch(scanLiterals)
  const long = 'did not match the issuer'
  for (const size of [4096, 5000, 65_536, 1 << 20]) {
    const half = size >> 1
    for (const at of [0, half - 10, half - 1, half, half + 1, size - long.length]) {
      const b = Buffer.alloc(size, 'x')
      b.write(long, at)
      b.write('FATL', Math.max(0, at - 7))
      assert.deepEqual(search.find(b), naive(b, search.literals), `size ${size}, at ${at}`)
    }
  }
})

test('literals cut off by the end of the block are not found', () => {
  const search = new LiteralSearch(scanLiterals)
  const b = Buffer.from('x'.repeat(5000) + 'did not match the iss')
  assert.deepEqual(search.find(b), [])
  assert.deepEqual(search.find(Buffer.from('FAT')), [])
})

test('literals outside ASCII are searched as their UTF-8 bytes', () => {
  const search = new LiteralSearch(['ünïcødé anchor', 'ß'])
  const b = Buffer.from('a ß b ünïcødé anchor c')
  assert.deepEqual(search.find(b), naive(b, search.literals))
  assert.equal(search.find(b).length, 2)
})
