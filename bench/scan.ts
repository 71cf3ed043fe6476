// Benchmark (not a test): `netbird-watchdog scan` throughput on a realistic NetBird log, against
// `grep -E -c` with equivalent patterns on the same file, in the same run.
// Usage: npm run bench:scan [-- --lines N] [-- --quick]   (--quick: 200,000 lines, a smoke run)
import { spawnSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { rules } from '../src/core/rules.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const outDir = `${root}bench/out`
const cli = `${root}dist/cli.js`
const argLines = process.argv.indexOf('--lines')
const quick = process.argv.includes('--quick')
const totalLines = argLines > 0 ? Number(process.argv[argLines + 1]) : quick ? 200_000 : 2_000_000
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

function timeCommand(cmd: string, args: string[]): { ms: number; stdout: string } {
  const start = process.hrtime.bigint()
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(`${cmd} exited ${r.status}: ${r.stderr}`)
  }
  return { ms, stdout: r.stdout }
}

function best(
  runs: number,
  fn: () => { ms: number; stdout: string },
): { ms: number; stdout: string } {
  let result = fn()
  for (let i = 1; i < runs; i++) {
    const r = fn()
    if (r.ms < result.ms) result = r
  }
  return result
}

if (!existsSync(cli)) throw new Error('build first: npm run build')
mkdirSync(outDir, { recursive: true })
const logFile = `${outDir}/scan-${totalLines}.log`
if (!existsSync(logFile)) await generate(logFile)
const bytes = statSync(logFile).size

const ours = best(3, () => timeCommand(process.execPath, [cli, 'scan', '--json', logFile]))
const grep = best(3, () => timeCommand('grep', ['-E', '-c', grepPattern, logFile]))
const ourFindings = ours.stdout.trim() === '' ? 0 : ours.stdout.trim().split('\n').length
const grepFindings = Number(grep.stdout.trim())

console.log(`scan_input_lines: ${totalLines}`)
console.log(`scan_input_mb: ${(bytes / 1e6).toFixed(1)}`)
console.log(`scan_findings: ${ourFindings}`)
console.log(`grep_matching_lines: ${grepFindings}`)
console.log(`scan_ms: ${ours.ms.toFixed(0)}`)
console.log(`grep_ms: ${grep.ms.toFixed(0)}`)
console.log(`scan_lines_per_s: ${Math.round(totalLines / (ours.ms / 1000))}`)
console.log(`scan_vs_grep_ratio: ${(ours.ms / grep.ms).toFixed(2)}`)
if (ourFindings !== grepFindings) {
  console.log(`note: finding counts differ (scan ${ourFindings}, grep ${grepFindings})`)
}
