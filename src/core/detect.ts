// Line classification: (log line, rule catalogue) -> Finding. Pure: no I/O.
// Understands every format NetBird has printed: its txt formatter (netbirdio/netbird
// formatter/txt/format.go: RFC3339 or, since v0.65.3, millisecond timestamps, `Z` or a `+02:00` zone
// offset, FATL/FATA/PANC, a `[k: v, …]` field block in random order), logrus JSON (NB_LOG_FORMAT=json),
// logrus's stock `time=… level=fatal msg=…` text (before the combined server sets its logger up),
// slog text (Dex in v0.62.0–0.62.1), the `name  | ` compose prefix, `docker logs --timestamps`
// prefixes and CRLF line ends; a stream may mix them (Dex always logs text).

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
 * Block prefilter: a line can only produce a finding if it contains a rule anchor or a fatal-level
 * marker, so these literals are the anchors themselves (or a piece of one) plus the txt formatter's
 * fatal levels and cobra's `Error: ` (tested: every anchor contains one). Exact anchors rather than
 * shorter tokens: a near-miss such as "listing connectors from storage" then costs nothing beyond the
 * search. Split by the case of the first letter into two regexes, because V8 scans a few
 * alternatives that start alike much faster than one long alternation (bench/scan.ts). For the same
 * reason every lower-case token starts with d, o, p or t: the v0.66+ anchors as they read (starting
 * with c, f, i, l, m, s…) doubled the prefilter's scan time, and one more upper-case token cost
 * ~40 %, so some tokens start mid-word ('t load TLS credentials' of "cannot load", 'd creating …' of
 * "failed creating").
 */
export const prefilterTokens = [
  'did not match the issuer',
  'open storage',
  'perform migrations',
  'SQLite storage',
  'to open connector',
  'to open all connectors',
  'to parse connector',
  'to get connector',
  'token issued by a different provider',
  'to authenticate',
  'parse authorization request',
  'JumpCloud API request',
  'pported IdP storage type',
  'orage DSN is required for postgres',
  'orage file is required for sqlite3',
  'ookie encryption key',
  'disable local authentication',
  'post_logout_redirect_uri',
  'IDP manager',
  'IDP service',
  'OIDC configuration',
  'decrypt: cipher: message authentication failed',
  'd not initialize geolocation service: ',
  'to create store',
  'to initialize event store',
  'd creating Store',
  't load TLS credentials',
  'to create certificate service',
  'to setup TLS config',
  'd creating LetsEncrypt cert manager',
  'to execute command',
  'panic: ',
  'FATL',
  'FATA',
  'PANC',
  'Error: ',
] as const
const tokenRegex = (upper: boolean): RegExp =>
  new RegExp(prefilterTokens.filter((t) => (t[0] === t[0]?.toUpperCase()) === upper).join('|'), 'g')
/** The logrus text and JSON fatal/panic levels (a superset of kvLevel and jsonLevel below). */
const levelMarker = /level(?:="?|": ?")(?:fatal|panic|FATAL|PANIC)/g
const prefilters = [tokenRegex(true), tokenRegex(false), levelMarker]

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

/**
 * Classify a block of complete lines and call `onFinding` for each hit. Only lines containing a
 * prefilter hit are classified, which keeps large benign logs fast. `block` may be a latin1 view of
 * the bytes (one char per byte, so indices are byte offsets); `lineText(start, end)` then returns the
 * properly decoded line. Counts lines and over-long lines in the same pass.
 */
export function detectBlock(
  block: string,
  firstLineNo: number,
  onFinding: (finding: Finding) => void,
  lineText: (start: number, end: number) => string = (start, end) => block.slice(start, end),
): BlockResult {
  let lineNo = firstLineNo
  let longLines = 0
  let pos = 0
  // The next hit of each prefilter (block.length when there is none), and the nearest of them.
  const next = prefilters.map((re) => nextHit(re, block, 0))
  let nearest = Math.min(...next)
  while (pos < block.length) {
    let end = block.indexOf('\n', pos)
    if (end === -1) end = block.length
    if (end - pos > maxLineLength) longLines++
    if (nearest < end) {
      const finding = detectLine(lineText(pos, Math.min(end, pos + maxLineLength)), lineNo)
      if (finding) onFinding(finding)
      for (let i = 0; i < next.length; i++) {
        if ((next[i] as number) < end) next[i] = nextHit(prefilters[i] as RegExp, block, end + 1)
      }
      nearest = Math.min(...next)
    }
    lineNo++
    pos = end + 1
  }
  return { lines: lineNo - firstLineNo, longLines }
}

function nextHit(re: RegExp, text: string, from: number): number {
  re.lastIndex = from
  return re.exec(text)?.index ?? text.length
}
