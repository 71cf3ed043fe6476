// Surgical edits of JSON text: change one string value and keep every other byte. Pure.
// Dex stores a connector's config as the exact bytes Go's json.Marshal produced (sorted keys, compact,
// `&<>` escaped as \u0026 \u003c \u003e); management.json is hand-formatted. Re-serialising either would
// reorder keys, drop escapes or reformat, so we locate the value's byte span and replace just that.

/** A parsed JSON value together with where it sits in the source text ([start, end) offsets). */
export type JsonNode =
  | { kind: 'object'; start: number; end: number; entries: JsonEntry[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string'; start: number; end: number; value: string }
  | { kind: 'scalar'; start: number; end: number; value: number | boolean | null }

export interface JsonEntry {
  key: string
  value: JsonNode
}

export class JsonSyntaxError extends Error {
  override name = 'JsonSyntaxError'
}

/** Parse JSON text keeping offsets. Throws JsonSyntaxError (the message never quotes the text). */
export function parseLocated(text: string): JsonNode {
  const p = { text, i: 0 }
  skipWs(p)
  const node = parseValue(p, 0)
  skipWs(p)
  if (p.i !== text.length) throw new JsonSyntaxError(`unexpected data at offset ${p.i}`)
  return node
}

interface Cursor {
  text: string
  i: number
}

const maxDepth = 512

function skipWs(p: Cursor): void {
  while (p.i < p.text.length) {
    const c = p.text.charCodeAt(p.i)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return
    p.i++
  }
}

function parseValue(p: Cursor, depth: number): JsonNode {
  if (depth > maxDepth) throw new JsonSyntaxError('nesting too deep')
  const c = p.text[p.i]
  if (c === '{') return parseObject(p, depth)
  if (c === '[') return parseArray(p, depth)
  if (c === '"') {
    const start = p.i
    const value = parseString(p)
    return { kind: 'string', start, end: p.i, value }
  }
  const start = p.i
  const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
    p.text.slice(start, start + 400),
  )
  if (m === null) throw new JsonSyntaxError(`unexpected character at offset ${start}`)
  p.i += m[0].length
  const raw = m[0]
  const value =
    raw === 'true' ? true : raw === 'false' ? false : raw === 'null' ? null : Number(raw)
  return { kind: 'scalar', start, end: p.i, value }
}

function parseObject(p: Cursor, depth: number): JsonNode {
  const start = p.i
  p.i++
  const entries: JsonEntry[] = []
  skipWs(p)
  if (p.text[p.i] === '}') {
    p.i++
    return { kind: 'object', start, end: p.i, entries }
  }
  for (;;) {
    skipWs(p)
    if (p.text[p.i] !== '"') throw new JsonSyntaxError(`expected a key at offset ${p.i}`)
    const key = parseString(p)
    skipWs(p)
    if (p.text[p.i] !== ':') throw new JsonSyntaxError(`expected ':' at offset ${p.i}`)
    p.i++
    skipWs(p)
    entries.push({ key, value: parseValue(p, depth + 1) })
    skipWs(p)
    const c = p.text[p.i]
    p.i++
    if (c === '}') return { kind: 'object', start, end: p.i, entries }
    if (c !== ',') throw new JsonSyntaxError(`expected ',' or '}' at offset ${p.i - 1}`)
  }
}

function parseArray(p: Cursor, depth: number): JsonNode {
  const start = p.i
  p.i++
  const items: JsonNode[] = []
  skipWs(p)
  if (p.text[p.i] === ']') {
    p.i++
    return { kind: 'array', start, end: p.i, items }
  }
  for (;;) {
    skipWs(p)
    items.push(parseValue(p, depth + 1))
    skipWs(p)
    const c = p.text[p.i]
    p.i++
    if (c === ']') return { kind: 'array', start, end: p.i, items }
    if (c !== ',') throw new JsonSyntaxError(`expected ',' or ']' at offset ${p.i - 1}`)
  }
}

function parseString(p: Cursor): string {
  const start = p.i
  p.i++
  for (;;) {
    if (p.i >= p.text.length) throw new JsonSyntaxError(`unterminated string at offset ${start}`)
    const c = p.text.charCodeAt(p.i)
    if (c === 0x22) break
    if (c < 0x20) throw new JsonSyntaxError(`control character in string at offset ${p.i}`)
    p.i += c === 0x5c ? 2 : 1
  }
  p.i++
  try {
    return JSON.parse(p.text.slice(start, p.i)) as string
  } catch {
    throw new JsonSyntaxError(`invalid escape in string at offset ${start}`)
  }
}

/**
 * Encode a string the way Go's encoding/json does by default (HTMLEscape on): `<`, `>`, `&`, U+2028 and
 * U+2029 become \u003c \u003e \u0026 \u2028 \u2029; everything else as JSON.stringify.
 */
export function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => {
    return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  })
}

/** Replace the text of one located node. */
export function spliceNode(text: string, node: JsonNode, replacement: string): string {
  return text.slice(0, node.start) + replacement + text.slice(node.end)
}

/**
 * The object member named `name`: an exact key wins; otherwise one case-insensitive match (Go's
 * encoding/json, which Dex decodes with, matches keys case-insensitively). More than one candidate is
 * ambiguous and returns 'ambiguous'.
 */
export function findMember(node: JsonNode, name: string): JsonEntry | undefined | 'ambiguous' {
  if (node.kind !== 'object') return undefined
  const exact = node.entries.filter((e) => e.key === name)
  if (exact.length === 1) return exact[0]
  if (exact.length > 1) return 'ambiguous'
  const folded = node.entries.filter((e) => e.key.toLowerCase() === name.toLowerCase())
  if (folded.length === 1) return folded[0]
  return folded.length > 1 ? 'ambiguous' : undefined
}

export type IssuerEditResult =
  | { ok: true; text: string; from: string; changed: boolean }
  | { ok: false; reason: 'invalid-json' | 'not-object' | 'no-issuer' | 'ambiguous' | 'not-string' }

/**
 * Set the top-level `issuer` of a stored connector config to `to`, changing nothing else: every other
 * byte (key order, compactness, existing \u0026-style escapes) is kept. `to` is encoded as Go would.
 */
export function setConnectorIssuer(rawConfig: string, to: string): IssuerEditResult {
  let root: JsonNode
  try {
    root = parseLocated(rawConfig)
  } catch {
    return { ok: false, reason: 'invalid-json' }
  }
  if (root.kind !== 'object') return { ok: false, reason: 'not-object' }
  return setStringMember(rawConfig, root, 'issuer', to)
}

/** Set the string member `name` of the located object `obj` inside `text`. */
export function setStringMember(
  text: string,
  obj: JsonNode,
  name: string,
  to: string,
): IssuerEditResult {
  const member = findMember(obj, name)
  if (member === undefined) return { ok: false, reason: 'no-issuer' }
  if (member === 'ambiguous') return { ok: false, reason: 'ambiguous' }
  if (member.value.kind !== 'string') return { ok: false, reason: 'not-string' }
  const from = member.value.value
  if (from === to) return { ok: true, text, from, changed: false }
  return { ok: true, text: spliceNode(text, member.value, goJsonString(to)), from, changed: true }
}
