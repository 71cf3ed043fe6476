// `netbird-watchdog scan [FILE|-] [--json]`: classify a NetBird log with the rule catalogue.
import { constants, createReadStream, openSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import type { Command } from 'commander'
import type { Finding } from '../core/detect.js'
import { getRule, rules, type RuleId } from '../core/rules.js'
import { WatchdogError, errorMessage } from '../errors.js'
import { scanFile, scanStream, type ScanStats } from '../scan/scan-stream.js'
import { exitCodes, writeLine, type CliIO } from './io.js'

export function registerScan(program: Command, io: CliIO): void {
  program
    .command('scan')
    .description('Find known NetBird identity-provider failures in a log (a file, or stdin).')
    .argument('[file]', 'log file to read; "-" or nothing reads stdin', '-')
    .option('--json', 'print one JSON object per finding per line, and nothing else')
    .addHelpText(
      'after',
      `
Examples:
  docker logs netbird-management 2>&1 | netbird-watchdog scan
  docker logs --timestamps netbird-server 2>&1 | netbird-watchdog scan --json
  netbird-watchdog scan /var/log/netbird/management.log

Rules: ${rules.map((r) => r.id).join(', ')}
Exit status: 0 no finding, 1 at least one finding, 2 usage error or unreadable input, 130/143 stopped
by SIGINT/SIGTERM.`,
    )
    .action(async (file: string, opts: { json?: boolean }) => {
      const input = await openInput(file, io)
      const json = opts.json === true
      const seenRules = new Map<RuleId, number>()
      const onFinding = (f: Finding): void => {
        seenRules.set(f.rule, (seenRules.get(f.rule) ?? 0) + 1)
        // Now, not at the end: a reader that closes the pipe early (`| head`) ends the process here.
        io.setExitCode(exitCodes.problems)
        writeLine(io.stdout, json ? JSON.stringify(toJson(f)) : formatFinding(f))
      }
      // A signal stops the read at once (a FIFO or a pipe may never end on its own); a regular file
      // is read a megabyte at a time and stops at the next read.
      const stop = (): void => {
        if (input !== regularFile) input.destroy()
      }
      io.signal.addEventListener('abort', stop, { once: true })
      let stats: ScanStats
      try {
        stats =
          input === regularFile
            ? await scanFile(file, onFinding, io.signal)
            : await scanStream(input, onFinding)
      } catch (err) {
        if (io.signal.aborted) {
          throw new WatchdogError('INTERRUPTED', 'scan stopped by a signal', { cause: err })
        }
        throw new WatchdogError(
          'INPUT_UNREADABLE',
          `cannot read ${file === '-' ? 'standard input' : file}: ${errorMessage(err)}`,
          { cause: err },
        )
      } finally {
        io.signal.removeEventListener('abort', stop)
      }
      if (io.signal.aborted) throw new WatchdogError('INTERRUPTED', 'scan stopped by a signal')
      if (!json) {
        writeLine(io.stdout, formatSummary(stats, seenRules))
      }
      io.setExitCode(stats.findings > 0 ? exitCodes.problems : exitCodes.ok)
    })
}

/** openInput's answer for a regular file: scanFile reads it. */
const regularFile = Symbol('regular file')

async function openInput(file: string, io: CliIO): Promise<Readable | typeof regularFile> {
  if (file === '-') return io.stdin
  try {
    const st = await stat(file)
    if (st.isDirectory()) throw new Error('is a directory')
    if (st.isFIFO()) {
      // Read through the event loop, as stdin is: a read waiting in the thread pool cannot be
      // cancelled, so a signal could not stop the scan (nor the process exit) until the writer left.
      // O_NONBLOCK only makes the open itself not wait; reading still waits for the first writer.
      const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
      return new Socket({ fd, readable: true, writable: false })
    }
    if (st.isFile()) return regularFile
  } catch (err) {
    throw new WatchdogError('INPUT_UNREADABLE', `cannot read ${file}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  return createReadStream(file, { highWaterMark: 1024 * 1024 })
}

/** The `--json` shape is a public contract: exactly these keys, optional ones absent when unknown. */
function toJson(f: Finding): Record<string, unknown> {
  const out: Record<string, unknown> = {
    line: f.line,
    rule: f.rule,
    severity: f.severity,
    fatal: f.fatal,
  }
  if (f.connectorId !== undefined) out.connectorId = f.connectorId
  if (f.expectedIssuer !== undefined) out.expectedIssuer = f.expectedIssuer
  if (f.returnedIssuer !== undefined) out.returnedIssuer = f.returnedIssuer
  return out
}

export function formatFinding(f: Finding): string {
  const values = [
    f.connectorId !== undefined ? `connector=${f.connectorId}` : '',
    f.expectedIssuer !== undefined ? `configured=${JSON.stringify(f.expectedIssuer)}` : '',
    f.returnedIssuer !== undefined
      ? // At login the second issuer is the ID token's `iss`, not the discovery document's.
        `${f.rule === 'login-issuer-mismatch' ? 'token-issuer' : 'provider-returns'}=${JSON.stringify(f.returnedIssuer)}`
      : '',
  ].filter(Boolean)
  const head = `line ${f.line}: ${f.rule} [${f.severity}${f.fatal ? ', fatal' : ''}]`
  const rule = getRule(f.rule)
  return [
    values.length > 0 ? `${head} ${values.join(' ')}` : head,
    `  ${rule.meaning}`,
    `  fix: ${rule.remediation}`,
  ].join('\n')
}

function formatSummary(
  stats: { lines: number; findings: number; truncatedLines: number },
  seen: Map<RuleId, number>,
): string {
  const byRule = [...seen].map(([id, n]) => `${id} ×${n}`).join(', ')
  const truncated =
    stats.truncatedLines > 0
      ? `; ${stats.truncatedLines} over-long line(s) were cut to 64 KiB for matching`
      : ''
  return stats.findings === 0
    ? `scanned ${stats.lines} line(s): no known failure${truncated}`
    : `scanned ${stats.lines} line(s): ${stats.findings} finding(s) (${byRule})${truncated}`
}
