// Line classification: (log line, rule catalogue) -> Finding. Pure: no I/O.
// Understands every format NetBird has printed (shared/netbird-facts.md §2.4): its txt formatter
// (RFC3339 or millisecond timestamps, FATL/FATA/PANC, a `[k: v, …]` field block in random order),
// logrus JSON (NB_LOG_FORMAT=json), slog text (v0.62.0–0.62.1), the `name  | ` compose prefix,
// `docker logs --timestamps` prefixes and CRLF line ends.

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
 * A cheap superset of every rule's trigger. Lines that do not contain one of these cannot match any
 * rule (nor be fatal-level), so block scanning only classifies the lines around these hits.
 */
const prefilter =
  /FATL|FATA|PANC|fatal|panic|issuer|onnector|storage|migrations|IDP|JumpCloud API|OIDC configuration/g

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
  let ruleId: RuleId | undefined
  for (const rule of rules) {
    if (rule.pattern.test(line)) {
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
  if (ruleId === 'fatal' || ruleId === 'panic' || ruleId === 'oidc-config-fetch-failed') {
    return finding
  }
  const connectorId = extractConnectorId(line)
  if (connectorId !== undefined) finding.connectorId = connectorId
  if (ruleId === 'oidc-issuer-mismatch') {
    const m = newMismatch.exec(line) ?? oldMismatch.exec(line)
    if (m && m[1] !== undefined && m[2] !== undefined) {
      finding.expectedIssuer = m[1]
      finding.returnedIssuer = m[2]
    }
  }
  return finding
}

/**
 * Classify a block of complete lines (joined by '\n', no trailing partial line) and call `onFinding`
 * for each hit. Only lines containing a prefilter hit are classified, which keeps large benign logs
 * fast. Returns the number of lines in the block.
 */
export function detectBlock(
  block: string,
  firstLineNo: number,
  onFinding: (finding: Finding) => void,
): number {
  let lineNo = firstLineNo
  let counted = 0 // position up to which newlines have been counted
  prefilter.lastIndex = 0
  let hit: RegExpExecArray | null
  while ((hit = prefilter.exec(block)) !== null) {
    const start = block.lastIndexOf('\n', hit.index) + 1
    let end = block.indexOf('\n', hit.index)
    if (end === -1) end = block.length
    lineNo += countNewlines(block, counted, start)
    counted = start
    const finding = detectLine(block.slice(start, end), lineNo)
    if (finding) onFinding(finding)
    prefilter.lastIndex = end + 1
  }
  const total = lineNo - firstLineNo + countNewlines(block, counted, block.length)
  return block.length === 0 ? 0 : total + (block.endsWith('\n') ? 0 : 1)
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0
  let i = s.indexOf('\n', from)
  while (i !== -1 && i < to) {
    n++
    i = s.indexOf('\n', i + 1)
  }
  return n
}
