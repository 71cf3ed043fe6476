// Benchmark (not a test): `netbird-watchdog scan` throughput on a realistic NetBird log, against
// `grep -E -c` with equivalent patterns on the same file, in the same run (best of 3 each, wall time
// and the children's CPU time, which a busy machine inflates less). Then the same classification
// check the fuzz soak makes, in-process: 1,000,000 generated and mutated lines through LineScanner
// (as `scan` and the daemon feed it) against detectLine on every line alone (`scan_fuzz_mismatches`).
// Usage: npm run bench:scan [-- --lines N] [-- --fuzz-lines N] [-- --quick]
//        (--quick: 200,000 lines and 100,000 fuzz lines, a smoke run)
import { spawnSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { detectLine, maxLineLength, type Finding } from '../src/core/detect.js'
import { rules } from '../src/core/rules.js'
import { LineScanner } from '../src/scan/scan-stream.js'
import { createLineFactory, prng } from './lib/fuzz-lines.js'
import { childrenCpuSeconds } from './lib/proc.js'
import { argNumber, figure, note, printMachine } from './lib/report.js'
import { named, nodeEnv, runtimes, type Runtime } from './lib/runtime.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const outDir = `${root}bench/out`
const cli = `${root}dist/cli.js`
const argLines = process.argv.indexOf('--lines')
const quick = process.argv.includes('--quick')
const totalLines = argLines > 0 ? Number(process.argv[argLines + 1]) : quick ? 200_000 : 2_000_000
const fuzzLines = argNumber('fuzz-lines', quick ? 100_000 : 1_000_000)
const failureEvery = 50_000

// The same signatures the rule catalogue matches, as one extended regex for grep.
const grepPattern = [
  'issuer did not match the issuer returned by provider',
  'did not match the issuer URL returned by provider',
  'failed to open storage',
  'failed to perform migrations',
  'SQLite storage is not available',
  'Failed to open connector',
  'failed to open all connectors',
  'failed to parse connector',
  '[Ff]ailed to get connector',
  'JumpCloud API request [^ ]+ [^ ]+ failed with status [0-9]{3}',
  'failed to create embedded IDP (manager|service)',
  'failed to create IDP (manager|service)',
  'failed fetching OIDC configuration from endpoint',
  'OIDC configuration request returned status',
  'id token issued by a different provider',
  'failed to authenticate',
  'failed to parse authorization request',
  'decrypt: cipher: message authentication failed',
  'could not initialize geolocation service: ',
  'failed to create store: ',
  'failed to initialize event store: ',
  'failed creating Store: ',
  'cannot load TLS credentials',
  'failed to create certificate service',
  'failed to setup TLS config',
  'failed creating LetsEncrypt cert manager',
  'failed to execute command',
  '^panic: ',
  '\\| panic: ',
  ' (FATL|FATA|PANC) ',
  'level=(fatal|panic)',
  '"level":"(fatal|panic)"',
  '^Error: ',
].join('|')

async function generate(file: string): Promise<void> {
  const benign = readFileSync(`${root}test/fixtures/benign.log`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
  const failures = rules.flatMap((r) => r.examples)
  const out = createWriteStream(file)
  let buf = ''
  for (let i = 0; i < totalLines; i++) {
    buf +=
      (i % failureEvery === failureEvery - 1
        ? failures[Math.floor(i / failureEvery) % failures.length]
        : benign[(i * 7919) % benign.length]) + '\n'
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain')
      buf = ''
    }
  }
  out.end(buf)
  await once(out, 'finish')
}

interface Timed {
  ms: number
  cpuMs: number
  stdout: string
}

function timeCommand(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Timed {
  const cpu = childrenCpuSeconds()
  const start = process.hrtime.bigint()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...(env ? { env } : {}) })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(`${cmd} exited ${r.status}: ${r.stderr}`)
  }
  return { ms, cpuMs: (childrenCpuSeconds() - cpu) * 1000, stdout: r.stdout }
}

/** Runs each command in turn, `runs` rounds; per command the best wall time and the best CPU time. */
function bestOf(runs: number, commands: readonly (() => Timed)[]): Timed[] {
  const best = (x: Timed | undefined, y: Timed): Timed =>
    x === undefined
      ? y
      : { ms: Math.min(x.ms, y.ms), cpuMs: Math.min(x.cpuMs, y.cpuMs), stdout: y.stdout }
  const results: (Timed | undefined)[] = commands.map(() => undefined)
  for (let i = 0; i < runs; i++) {
    commands.forEach((run, k) => {
      results[k] = best(results[k], run())
    })
  }
  return results as Timed[]
}

/**
 * LineScanner over fuzzed lines, in chunks of random size, against detectLine on each line alone
 * (its first 64 KiB, as the scanner cuts it). Batches keep memory flat. Returns the mismatches.
 */
function fuzzCheck(
  lines: number,
  seed: number,
): { lines: number; findings: number; mismatches: number } {
  const next = createLineFactory({ seed })
  const rand = prng(seed + 1)
  const seen: Finding[] = []
  const scanner = new LineScanner((f) => seen.push(f))
  let expected = 0
  let mismatches = 0
  let lineNo = 0
  const same = (a: Finding | undefined, b: Finding | undefined): boolean =>
    JSON.stringify(a) === JSON.stringify(b)
  for (let done = 0; done < lines;) {
    const batch: Buffer[] = []
    const want: Finding[] = []
    for (let i = 0; i < 10_000 && done < lines; i++, done++) {
      const line = next()
      lineNo++
      const f = detectLine(line.toString('utf8', 0, Math.min(line.length, maxLineLength)), lineNo)
      if (f) want.push(f)
      batch.push(line, Buffer.from(rand() < 0.05 ? '\r\n' : '\n'))
    }
    const bytes = Buffer.concat(batch)
    for (let pos = 0; pos < bytes.length;) {
      const n = 1 + Math.floor(rand() * 200_000)
      scanner.push(bytes.subarray(pos, pos + n))
      pos += n
    }
    for (let i = 0; i < Math.max(want.length, seen.length); i++) {
      if (!same(want[i], seen[i])) mismatches++
    }
    expected += want.length
    seen.length = 0
  }
  const stats = scanner.end()
  if (stats.lines !== lines) mismatches += Math.abs(stats.lines - lines)
  return { lines: stats.lines, findings: expected, mismatches }
}

if (!existsSync(cli)) throw new Error('build first: npm run build')
mkdirSync(outDir, { recursive: true })
const logFile = `${outDir}/scan-${totalLines}.log`
if (!existsSync(logFile)) await generate(logFile)
const bytes = statSync(logFile).size

printMachine()
const measured: readonly Runtime[] = runtimes()
const scanOf = (r: Runtime) => (): Timed =>
  timeCommand(r.node, [`${r.root}/dist/cli.js`, 'scan', '--json', logFile], nodeEnv())
const [grep, ...scans] = bestOf(3, [
  () => timeCommand('grep', ['-E', '-c', grepPattern, logFile]),
  ...measured.map(scanOf),
])
const grepFindings = Number(grep!.stdout.trim())

figure('scan_input_lines', totalLines)
figure('scan_input_mb', bytes / 1e6, 1)
figure('grep_matching_lines', grepFindings)
figure('grep_ms', grep!.ms, 0)
figure('grep_cpu_ms', grep!.cpuMs, 0)
measured.forEach((runtime, i) => {
  const ours = scans[i]!
  const findings = ours.stdout.trim() === '' ? 0 : ours.stdout.trim().split('\n').length
  figure(named('scan_findings', runtime), findings)
  figure(named('scan_ms', runtime), ours.ms, 0)
  figure(named('scan_lines_per_s', runtime), Math.round(totalLines / (ours.ms / 1000)))
  figure(named('scan_vs_grep_ratio', runtime), ours.ms / grep!.ms, 2)
  figure(named('scan_cpu_ms', runtime), ours.cpuMs, 0)
  figure(named('scan_vs_grep_cpu_ratio', runtime), ours.cpuMs / grep!.cpuMs, 2)
  if (findings !== grepFindings) {
    note(`${runtime.label}: finding counts differ (scan ${findings}, grep ${grepFindings})`)
  }
})
note('target: scan_vs_grep_ratio <= 1.5, scan_findings = grep_matching_lines')
printMachine('machine after the timed runs')

const fuzz = fuzzCheck(fuzzLines, 1)
figure('scan_fuzz_lines', fuzz.lines)
figure('scan_fuzz_findings', fuzz.findings)
figure('scan_fuzz_mismatches', fuzz.mismatches)
note('target: scan_fuzz_mismatches = 0 (LineScanner against detectLine on each line alone)')
