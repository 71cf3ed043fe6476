// Line classification: (log line, rule catalogue) -> Finding. Pure: no I/O.
// Understands every format NetBird has printed: its txt formatter (netbirdio/netbird
// formatter/txt/format.go: RFC3339 or, since v0.65.3, millisecond timestamps, `Z` or a `+02:00` zone
// offset, FATL/FATA/PANC, a `[k: v, …]` field block in random order), logrus JSON (NB_LOG_FORMAT=json),
// logrus's stock `time=… level=fatal msg=…` text (before the combined server sets its logger up),
// slog text (Dex in v0.62.0–0.62.1), the `name  | ` compose prefix, `docker logs --timestamps`
// prefixes and CRLF line ends; a stream may mix them (Dex always logs text).

import { LiteralSearch, minimalLiterals } from './literal-search.js'
import { getRule, rules, type RuleId, type Severity } from './rules.js'

export interface Finding {
  /** 1-based line number in the scanned input (0 when classifying a single line). */
  readonly line: number
  readonly rule: RuleId
  readonly severity: Severity
  /** True for FATL/FATA/PANC/level=fatal lines and Go panics: the process is exiting. */
  readonly fatal: boolean
  readonly connectorId?: string
  /** The issuer NetBird was configured with. */
  readonly expectedIssuer?: string
  /** The issuer the provider's discovery document returned. */
  readonly returnedIssuer?: string
}

/** Longest line (in characters) looked at; the rest of a longer line is ignored for matching. */
export const maxLineLength = 64 * 1024

/**
 * What every fatal line contains, whatever its format (isFatalLine below is the exact test, and these
 * follow its regexes): the txt formatter's fatal levels, cobra's `Error: `, and the logrus text and
 * JSON fatal and panic levels. A line is classified only if it holds one of these or an anchor.
 */
const fatalLevelLiterals = [
  'FATL',
  'FATA',
  'PANC',
  'Error: ',
  ...['fatal', 'panic', 'FATAL', 'PANIC'].flatMap((l) => [`level=${l}`, `level="${l}`]),
  ...['fatal', 'panic'].flatMap((l) => [`level":"${l}"`, `level": "${l}"`]),
]

/**
 * The block search: a line can only produce a finding if it contains a rule anchor (a non-fatal
 * finding needs one, see detectLine) or a fatal-level literal, so these are the literals searched
 * for, built from the catalogue itself. A new rule's anchors join by themselves.
 */
export const scanLiterals: readonly string[] = minimalLiterals([
  ...rules.flatMap((r) => r.anchors),
  ...fatalLevelLiterals,
])
const search = new LiteralSearch(scanLiterals)

// `netbird-management  | ` (compose) and up to two leading RFC3339 timestamps (docker --timestamps
// then NetBird's own), then the NetBird level token.
const txtLevel =
  /^(?:[\w.-]{1,128} {0,64}\| )?(?:\d{4}-\d\d-\d\dT[\d:.]{1,40}(?:Z|[+-]\d\d:?\d\d)? {1,4}){0,2}(PANC|FATL|FATA|ERRO|WARN|INFO|DEBG|TRAC)\b/
// logrus stock text formatter / slog text handler, and logrus JSON.
const kvLevel = /(?:^|\s)level=(?:"?)(fatal|panic|FATAL|PANIC)\b/
const jsonLevel = /"level": ?"(fatal|panic)"/
const composePrefix = /^[\w.-]{1,128} {0,64}\| /

// Extraction. Values are bounded character classes so a hostile line cannot cause backtracking.
const openConnectorId =
  /(?:Failed to open connector|failed to create connector) ([^\s:"\\,\]]{1,256})/
const fieldBlockId = /[[,] ?(?:id|connector_id): ([^\s,\]]{1,256})/
const kvId = /(?:^|\s)(?:id|connector_id)=("?)([^\s"\\]{1,256})\1/
const jsonId = /"(?:id|connector_id)": ?"([^"\\]{1,256})"/
const oldMismatch = /expected \\?"([^"\\]{0,2048})\\?" got \\?"([^"\\]{0,2048})\\?"/
const newMismatch =
  /issuer URL provided to client \(\\?"([^"\\]{0,2048})\\?"\) did not match the issuer URL returned by provider \(\\?"([^"\\]{0,2048})\\?"\)/

const allAnchors = rules.flatMap((r) => r.anchors)

/** Rules whose lines can name a connector (Dex's connector errors and the IdP wrappers around them). */
const connectorRules: ReadonlySet<RuleId> = new Set([
  'oidc-issuer-mismatch',
  'idp-storage-failed',
  'connector-open-failed',
  'connector-get-failed',
  'idp-api-request-failed',
  'embedded-idp-failed',
  'idp-manager-failed',
])
/** Rules whose lines carry go-oidc's `expected %q got %q` pair (or its v3.17+ wording). */
const issuerRules: ReadonlySet<RuleId> = new Set(['oidc-issuer-mismatch', 'login-issuer-mismatch'])

function isFatalLine(line: string): boolean {
  // Cobra prints an error returned from RunE as `Error: …` and the process exits 1.
  if (line.startsWith('Error: ')) return true
  const lvl = txtLevel.exec(line)
  if (lvl) return lvl[1] === 'FATL' || lvl[1] === 'FATA' || lvl[1] === 'PANC'
  return kvLevel.test(line) || jsonLevel.test(line)
}

function extractConnectorId(line: string): string | undefined {
  return (
    openConnectorId.exec(line)?.[1] ??
    fieldBlockId.exec(line)?.[1] ??
    kvId.exec(line)?.[2] ??
    jsonId.exec(line)?.[1]
  )
}

/** Classify one log line. Returns undefined for lines no rule matches (the common case). */
export function detectLine(rawLine: string, lineNo = 0): Finding | undefined {
  let line = rawLine.length > maxLineLength ? rawLine.slice(0, maxLineLength) : rawLine
  if (line.endsWith('\r')) line = line.slice(0, -1)
  if (line.startsWith('panic: ') === false && composePrefix.test(line)) {
    line = line.replace(composePrefix, '')
  }
  const fatal = isFatalLine(line)
  if (!fatal && !allAnchors.some((a) => line.includes(a))) return undefined
  let ruleId: RuleId | undefined
  for (const rule of rules) {
    if (rule.anchors.some((a) => line.includes(a)) && rule.pattern.test(line)) {
      ruleId = rule.id
      break
    }
  }
  if (ruleId === undefined) {
    if (!fatal) return undefined
    ruleId = 'fatal'
  }
  const rule = getRule(ruleId)
  const finding: {
    line: number
    rule: RuleId
    severity: Severity
    fatal: boolean
    connectorId?: string
    expectedIssuer?: string
    returnedIssuer?: string
  } = { line: lineNo, rule: ruleId, severity: rule.severity, fatal: fatal || ruleId === 'panic' }
  if (connectorRules.has(ruleId)) {
    const connectorId = extractConnectorId(line)
    if (connectorId !== undefined) finding.connectorId = connectorId
  }
  if (issuerRules.has(ruleId)) {
    const m = newMismatch.exec(line) ?? oldMismatch.exec(line)
    if (m && m[1] !== undefined && m[2] !== undefined) {
      finding.expectedIssuer = m[1]
      finding.returnedIssuer = m[2]
    }
  }
  return finding
}

export interface BlockResult {
  /** Lines in the block (a final line without '\n' counts). */
  readonly lines: number
  /** Lines longer than maxLineLength (cut for matching). */
  readonly longLines: number
}

const newline = 0x0a

/**
 * Classify a block of lines (UTF-8 bytes; the last one may lack its '\n') and call `onFinding` for
 * each hit. Only the lines holding one of the scan literals are decoded and classified: the search
 * runs over the bytes, so most lines cost a newline search and nothing else. Lines longer than
 * maxLineLength bytes are classified on their first maxLineLength bytes and counted.
 */
export function detectBlock(
  block: Buffer,
  firstLineNo: number,
  onFinding: (finding: Finding) => void,
): BlockResult {
  const hits = search.find(block)
  let h = 0
  let lineNo = firstLineNo
  let longLines = 0
  let pos = 0
  while (pos < block.length) {
    let end = block.indexOf(newline, pos)
    if (end === -1) end = block.length
    if (end - pos > maxLineLength) longLines++
    if (h < hits.length && (hits[h] as number) < end) {
      const line = block.toString('utf8', pos, Math.min(end, pos + maxLineLength))
      const finding = detectLine(line, lineNo)
      if (finding) onFinding(finding)
      while (h < hits.length && (hits[h] as number) < end) h++
    }
    lineNo++
    pos = end + 1
  }
  return { lines: lineNo - firstLineNo, longLines }
}
