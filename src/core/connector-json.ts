// Surgical edits of JSON text: change one string value and keep every other byte. Pure.
// Dex stores a connector's config as the exact bytes Go's json.Marshal produced (sorted keys, compact,
// `&<>` escaped as \u0026 \u003c \u003e); management.json is hand-formatted. Re-serialising either would
// reorder keys, drop escapes or reformat, so we locate the value's byte span and replace just that —
// in the stored bytes themselves for a connector (a byte that is not UTF-8 is kept as it is).
// Keys are found as Go's encoding/json finds struct fields (case folding; the last of several wins:
// docs/reference/netbird.md, "The connector table"). The parser is iterative: nesting as deep as Go
// accepts (10000 levels) never reaches the call stack.

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
  /** `too-deep`: valid so far, but nested deeper than `maxJsonDepth`; `syntax`: not JSON. */
  readonly kind: 'syntax' | 'too-deep'

  constructor(message: string, kind: 'syntax' | 'too-deep' = 'syntax') {
    super(message)
    this.kind = kind
  }
}

/**
 * Deepest nesting accepted: Go's encoding/json limit (scanner.go `maxNestingDepth`), so a config Dex
 * can read is never refused here, and one Dex refuses ("exceeded max depth") is refused too.
 */
export const maxJsonDepth = 10_000

/**
 * Parse JSON text keeping offsets. Throws JsonSyntaxError (the message never quotes the text).
 * Iterative, with an explicit stack: nesting as deep as `maxJsonDepth` costs memory, never the call
 * stack. `decode` turns the span of a string token ([start, end), quotes included) into its value;
 * by default JSON.parse of that span (callers parsing a byte view decode the bytes instead).
 */
export function parseLocated(
  text: string,
  decode: (start: number, end: number) => string = (start, end) =>
    JSON.parse(text.slice(start, end)) as string,
): JsonNode {
  type Container = Extract<JsonNode, { kind: 'object' } | { kind: 'array' }>
  const p: Cursor = { text, i: 0 }
  const stack: Container[] = []
  let key = ''
  let root: JsonNode | undefined
  const attach = (node: JsonNode): void => {
    const top = stack.at(-1)
    if (top === undefined) root = node
    else if (top.kind === 'object') top.entries.push({ key, value: node })
    else top.items.push(node)
  }
  skipWs(p)
  for (;;) {
    // A value starts here.
    const c = p.text[p.i]
    if (c === '{' || c === '[') {
      if (stack.length >= maxJsonDepth) throw new JsonSyntaxError('nesting too deep', 'too-deep')
      const node: Container =
        c === '{'
          ? { kind: 'object', start: p.i, end: -1, entries: [] }
          : { kind: 'array', start: p.i, end: -1, items: [] }
      attach(node)
      stack.push(node)
      p.i++
      skipWs(p)
      if (p.text[p.i] === (c === '{' ? '}' : ']')) {
        p.i++
        node.end = p.i
        stack.pop()
      } else {
        if (node.kind === 'object') key = readKey(p, decode)
        continue
      }
    } else {
      attach(parseScalar(p, decode))
    }
    // After a value: close what ends here, up to the next comma.
    let next = false
    while (stack.length > 0) {
      skipWs(p)
      const top = stack.at(-1)!
      const ch = p.text[p.i]
      p.i++
      if (ch === ',') {
        skipWs(p)
        if (top.kind === 'object') key = readKey(p, decode)
        next = true
        break
      }
      if (ch !== (top.kind === 'object' ? '}' : ']')) {
        throw new JsonSyntaxError(
          `expected ',' or '${top.kind === 'object' ? '}' : ']'}' at offset ${p.i - 1}`,
        )
      }
      top.end = p.i
      stack.pop()
    }
    if (!next) break
  }
  skipWs(p)
  if (p.i !== text.length) throw new JsonSyntaxError(`unexpected data at offset ${p.i}`)
  return root!
}

interface Cursor {
  text: string
  i: number
}

function skipWs(p: Cursor): void {
  while (p.i < p.text.length) {
    const c = p.text.charCodeAt(p.i)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return
    p.i++
  }
}

/** An object key and its colon; leaves the cursor at the value. */
function readKey(p: Cursor, decode: (start: number, end: number) => string): string {
  if (p.text[p.i] !== '"') throw new JsonSyntaxError(`expected a key at offset ${p.i}`)
  const start = p.i
  scanString(p)
  const key = decodeString(decode, start, p.i)
  skipWs(p)
  if (p.text[p.i] !== ':') throw new JsonSyntaxError(`expected ':' at offset ${p.i}`)
  p.i++
  skipWs(p)
  return key
}

/** A string, number, true, false or null at the cursor. */
function parseScalar(p: Cursor, decode: (start: number, end: number) => string): JsonNode {
  const start = p.i
  if (p.text[p.i] === '"') {
    scanString(p)
    return { kind: 'string', start, end: p.i, value: decodeString(decode, start, p.i) }
  }
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

/** Move the cursor past a string token (no raw control characters inside). */
function scanString(p: Cursor): void {
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
}

function decodeString(
  decode: (start: number, end: number) => string,
  start: number,
  end: number,
): string {
  try {
    return decode(start, end)
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
 * Go's encoding/json key folding (fold.go `foldName`): an ASCII letter folds to its upper case, any
 * other rune to the smallest rune of its Unicode simple-fold orbit — so of the non-ASCII runes only
 * U+017F (ſ, orbit S s ſ) and U+212A (Kelvin sign, orbit K k K) fold onto ASCII letters.
 */
function goFold(key: string): string {
  let out = ''
  for (const ch of key) {
    out += ch === '\u017f' ? 'S' : ch === '\u212a' ? 'K' : ch < '\u0080' ? ch.toUpperCase() : ch
  }
  return out
}

/**
 * Every member of `node` that Go's encoding/json (which Dex decodes configs with) decodes into the
 * struct field `name`, in document order: keys equal to it after Go's case folding (`ISSUER`,
 * `Issuer`, even `iſſuer`). Go reads each in turn, so the last one is the value it keeps.
 */
export function goMembers(node: JsonNode, name: string): JsonEntry[] {
  if (node.kind !== 'object') return []
  const want = goFold(name)
  return node.entries.filter((e) => e.key === name || goFold(e.key) === want)
}

/**
 * The object member `name` as Go decodes it (`goMembers`): undefined when there is none, 'ambiguous'
 * when more than one key names it (Go keeps the last; an edit of one of them is refused).
 */
export function findMember(node: JsonNode, name: string): JsonEntry | undefined | 'ambiguous' {
  const found = goMembers(node, name)
  if (found.length > 1) return 'ambiguous'
  return found[0]
}

/** What a connector config holds under `issuer`, as Go's decoder reads it into Dex's `Issuer string`. */
export type IssuerField =
  | { kind: 'string'; value: string; key: string }
  | { kind: 'missing' }
  /** The value Go keeps is no string (`123`, `null`, an object…): `found` names its JSON type. */
  | { kind: 'not-string'; found: string; key: string }
  /** Several keys decode into `issuer`; `value` is the one Go keeps (the last), when a string. */
  | { kind: 'duplicate'; keys: string[]; value: string | undefined }

/** The `issuer` field of a parsed config object (see IssuerField). */
export function issuerField(root: JsonNode): IssuerField {
  const found = goMembers(root, 'issuer')
  const last = found.at(-1)
  if (last === undefined) return { kind: 'missing' }
  const value = last.value.kind === 'string' ? last.value.value : undefined
  if (found.length > 1) return { kind: 'duplicate', keys: found.map((e) => e.key), value }
  if (value !== undefined) return { kind: 'string', value, key: last.key }
  return { kind: 'not-string', found: jsonType(last.value), key: last.key }
}

function jsonType(node: JsonNode): string {
  if (node.kind === 'object') return 'an object'
  if (node.kind === 'array') return 'an array'
  if (node.kind === 'string') return 'a string'
  if (node.value === null) return 'null'
  return typeof node.value === 'boolean' ? `${String(node.value)} (a boolean)` : 'a number'
}

export type IssuerEditResult =
  | { ok: true; text: string; from: string; changed: boolean }
  | { ok: false; reason: 'invalid-json' | 'not-object' | 'no-issuer' | 'ambiguous' | 'not-string' }

/**
 * Set the top-level `issuer` of a stored connector config to `to`, changing nothing else: every other
 * byte (key order, compactness, existing \u0026-style escapes, the key's own spelling) is kept. `to`
 * is encoded as Go would.
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

export type IssuerBytesEditResult =
  | { ok: true; bytes: Uint8Array; from: string; changed: boolean }
  | Extract<IssuerEditResult, { ok: false }>

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()

/**
 * `setConnectorIssuer` on the stored bytes themselves: only the bytes of the issuer's value change,
 * every other byte stays as it was — also bytes that are not valid UTF-8 (Go's []byte keeps them;
 * a decoded string would turn each into U+FFFD's three bytes). The JSON structure is ASCII, so it is
 * parsed over a one-character-per-byte view; string values are decoded from their own bytes.
 */
export function setConnectorIssuerBytes(raw: Uint8Array, to: string): IssuerBytesEditResult {
  const view = byteView(raw)
  let root: JsonNode
  try {
    root = parseLocated(
      view,
      (start, end) => JSON.parse(utf8Decoder.decode(raw.subarray(start, end))) as string,
    )
  } catch {
    return { ok: false, reason: 'invalid-json' }
  }
  if (root.kind !== 'object') return { ok: false, reason: 'not-object' }
  const member = findMember(root, 'issuer')
  if (member === undefined) return { ok: false, reason: 'no-issuer' }
  if (member === 'ambiguous') return { ok: false, reason: 'ambiguous' }
  if (member.value.kind !== 'string') return { ok: false, reason: 'not-string' }
  const from = member.value.value
  if (from === to) return { ok: true, bytes: raw, from, changed: false }
  const replacement = utf8Encoder.encode(goJsonString(to))
  const out = new Uint8Array(
    raw.length - (member.value.end - member.value.start) + replacement.length,
  )
  out.set(raw.subarray(0, member.value.start), 0)
  out.set(replacement, member.value.start)
  out.set(raw.subarray(member.value.end), member.value.start + replacement.length)
  return { ok: true, bytes: out, from, changed: true }
}

/** One UTF-16 unit per byte (Latin-1), so offsets in the view are offsets in the bytes. */
function byteView(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return out
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
