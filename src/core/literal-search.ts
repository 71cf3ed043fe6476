// Finding where any of a set of literal strings occurs in a block of bytes, without a regular
// expression: what lets the scan look at the few lines that can hold a finding and skip the rest.
// Pure: no I/O.
//
// Two searches, by length. The literals of `skipWindow` bytes or more are found by one skip loop for
// all of them at once (S. Wu and U. Manber, "A fast algorithm for multi-pattern searching", TR-94-17,
// University of Arizona, 1994): it looks at the two bytes that end a window as long as the shortest of
// these literals, and jumps as far as no literal's first window can end any closer; only where one
// ends there does it compare bytes. Such a jump is most of a window, so the loop reads about one byte
// in seven of a NetBird log. Each jump waits for the byte it jumped to, so the loop runs two cursors
// at once, over the two halves of the block, and the processor overlaps their waits (1.5× faster in
// bench/scan.ts). A shorter literal would shorten every jump, so each one is searched on its own with
// Buffer.indexOf (memchr on its first byte: cheap for the upper-case level markers such as `FATL`),
// those that begin alike in one pass.

/** Literals at least this long (in bytes) share the skip loop; shorter ones get a search of their own. */
export const skipWindow = 11

/** Blocks shorter than this are searched by one cursor (a line pushed on its own). */
const twoCursorMin = 4096

/**
 * The literals to search for so that a text containing any of `literals` is found: duplicates go, and
 * so does a literal that contains another one (wherever it occurs, the shorter one occurs too).
 */
export function minimalLiterals(literals: readonly string[]): string[] {
  const unique = [...new Set(literals)].filter((l) => l !== '')
  return unique
    .filter((l) => !unique.some((other) => other !== l && l.includes(other)))
    .sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))
}

/** The skip loop's tables. */
interface SkipTable {
  /** The window: the length of the shortest long literal. */
  readonly m: number
  /** How far to jump when a byte pair ends the window: 0 where some literal's first window ends. */
  readonly shift: Uint8Array
  /**
   * The literals whose first window ends with a byte pair: `endings[endingAt[pair]]` (index 0: none;
   * set only where shift is 0). A byte per pair, not a JavaScript array of 65,536 references: 64 KB
   * instead of 512 KB in every process that scans.
   */
  readonly endingAt: Uint8Array | Uint16Array
  readonly endings: readonly (readonly Buffer[])[]
  /**
   * Where shift is 0: the byte before the pair in every such window, plus one (0 when they differ).
   * A third byte compared in the loop spares most calls to check().
   */
  readonly before: Uint8Array
}

/**
 * A compiled search for a fixed set of literals, matched byte for byte on their UTF-8 encoding: a
 * line's text contains a literal exactly when its bytes do.
 */
export class LiteralSearch {
  readonly literals: readonly string[]
  readonly #short: readonly ShortSearch[]
  readonly #skip: SkipTable | undefined

  constructor(literals: readonly string[]) {
    this.literals = minimalLiterals(literals)
    const encoded = this.literals.map((l) => Buffer.from(l, 'utf8'))
    this.#short = shortSearches(encoded.filter((b) => b.length < skipWindow))
    const long = encoded.filter((b) => b.length >= skipWindow)
    this.#skip = long.length === 0 ? undefined : skipTable(long)
  }

  /**
   * Where the literals begin in `block`, in ascending order (a literal found inside the block only).
   * Where several overlap, each is listed; the scan only needs the lines they fall in.
   */
  find(block: Buffer): number[] {
    const found: number[] = []
    const skip = this.#skip
    if (skip !== undefined) {
      if (block.length < twoCursorMin) skipSearch(block, skip, 0, block.length, found)
      else skipSearchTwo(block, skip, found)
    }
    let sorted = true
    for (const { key, literals } of this.#short) {
      const before = found.length
      for (let at = block.indexOf(key); at !== -1; at = block.indexOf(key, at + 1)) {
        if (literals.some((lit) => at + lit.length <= block.length && matchesAt(block, at, lit))) {
          found.push(at)
        }
      }
      if (before > 0 && found.length > before) sorted = false
    }
    if (!sorted) found.sort((a, b) => a - b)
    return found
  }
}

/** A search pass for short literals that begin alike: their common beginning, then each checked. */
interface ShortSearch {
  readonly key: Buffer
  readonly literals: readonly Buffer[]
}

/** One pass per group of short literals sharing their first three bytes (`FATL` and `FATA`: `FAT`). */
function shortSearches(short: readonly Buffer[]): ShortSearch[] {
  const groups = new Map<string, Buffer[]>()
  for (const lit of short) {
    const head = lit.length >= 3 ? lit.toString('latin1', 0, 3) : `${lit.toString('latin1')}\n`
    groups.set(head, [...(groups.get(head) ?? []), lit])
  }
  return [...groups.values()].map((literals) => {
    let n = Math.min(...literals.map((l) => l.length))
    for (const lit of literals) {
      while (n > 0 && !lit.subarray(0, n).equals((literals[0] as Buffer).subarray(0, n))) n--
    }
    return { key: (literals[0] as Buffer).subarray(0, n), literals }
  })
}

function skipTable(long: readonly Buffer[]): SkipTable {
  const m = Math.min(...long.map((b) => b.length))
  const shift = new Uint8Array(1 << 16).fill(m - 1)
  const before = new Uint8Array(1 << 16)
  const ends = new Map<number, Buffer[]>()
  for (const lit of long) {
    for (let j = 1; j < m; j++) {
      const pair = ((lit[j - 1] as number) << 8) | (lit[j] as number)
      const s = m - 1 - j
      if (s < (shift[pair] as number)) shift[pair] = s
      if (s === 0) ends.set(pair, [...(ends.get(pair) ?? []), lit])
    }
  }
  // One pair per long literal at most: a byte indexes them (two bytes past 255 of them).
  const endingAt = ends.size < 256 ? new Uint8Array(1 << 16) : new Uint16Array(1 << 16)
  const endings: (readonly Buffer[])[] = [[]]
  for (const [pair, lits] of ends) {
    endingAt[pair] = endings.push(lits) - 1
    const bytes = new Set(lits.map((lit) => lit[m - 3] as number))
    if (bytes.size === 1) before[pair] = (lits[0]?.[m - 3] as number) + 1
  }
  return { m, shift, endingAt, endings, before }
}

/** One cursor: the literals that begin in [from, until), found in order into `found`. */
function skipSearch(
  block: Buffer,
  table: SkipTable,
  from: number,
  until: number,
  found: number[],
): void {
  const { m, shift } = table
  // The cursor is where a window ends; a literal begins m - 1 bytes before.
  const last = Math.min(until + m - 1, block.length)
  let i = from + m - 1
  while (i < last) {
    const s = shift[((block[i - 1] as number) << 8) | (block[i] as number)] as number
    if (s !== 0) {
      i += s
      continue
    }
    if (maybe(block, table.before, i)) check(block, table, i, found)
    i++
  }
}

/** Two cursors, over each half of the block, advanced together; the same hits as one cursor. */
function skipSearchTwo(block: Buffer, table: SkipTable, found: number[]): void {
  const { m, shift, before } = table
  const half = block.length >> 1
  const lastA = Math.min(half + m - 1, block.length)
  const lastB = block.length
  const foundB: number[] = []
  let a = m - 1
  let b = half + m - 1
  while (a < lastA && b < lastB) {
    const sa = shift[((block[a - 1] as number) << 8) | (block[a] as number)] as number
    const sb = shift[((block[b - 1] as number) << 8) | (block[b] as number)] as number
    if (sa !== 0 && sb !== 0) {
      a += sa
      b += sb
      continue
    }
    if (sa === 0) {
      if (maybe(block, before, a)) check(block, table, a, found)
      a++
    } else {
      a += sa
    }
    if (sb === 0) {
      if (maybe(block, before, b)) check(block, table, b, foundB)
      b++
    } else {
      b += sb
    }
  }
  // One cursor finishes first; the other goes on alone.
  if (a < lastA) skipSearch(block, table, a - m + 1, half, found)
  if (b < lastB) skipSearch(block, table, b - m + 1, block.length, foundB)
  for (const at of foundB) found.push(at)
}

/** Whether the byte before the pair ending at `i` can begin a check (see SkipTable.before). */
function maybe(block: Buffer, before: Uint8Array, i: number): boolean {
  const b = before[((block[i - 1] as number) << 8) | (block[i] as number)] as number
  return b === 0 || block[i - 2] === b - 1
}

/** At a window ending at `i` whose last pair some literal's first window ends with: which begins there. */
function check(block: Buffer, table: SkipTable, i: number, found: number[]): void {
  const pair = ((block[i - 1] as number) << 8) | (block[i] as number)
  const start = i - table.m + 1
  for (const lit of table.endings[table.endingAt[pair] as number] as readonly Buffer[]) {
    if (start + lit.length <= block.length && matchesAt(block, start, lit)) {
      found.push(start)
      return
    }
  }
}

function matchesAt(block: Buffer, at: number, lit: Buffer): boolean {
  for (let j = 0; j < lit.length; j++) if (block[at + j] !== lit[j]) return false
  return true
}
