// `npm run bench`: runs every benchmark in bench/ one after another (each also runs alone as
// `npm run bench:<name>`), echoes their output, and collects every `name: value` figure into
// bench/out/results.json and a Markdown table in bench/out/results.md for BENCHMARKS.md.
// Usage: npm run bench [-- --only ttd,scale] [-- --quick]   (--quick is passed on to each bench)
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { argValue, hasFlag, machineInfo, note } from './lib/report.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const benchDir = `${root}bench`
const outDir = `${benchDir}/out`

/** Files in bench/ that are not benchmarks. soak.ts is long-running and has its own script. */
const notBenchmarks = new Set(['run-all.ts', 'soak.ts'])
/** Run order: cheap and independent first, the long multi-container ones last. */
const preferredOrder = ['scan', 'backup', 'footprint', 'ttd', 'mttr', 'scale']

interface BenchResult {
  name: string
  command: string
  exitCode: number | null
  seconds: number
  figures: Record<string, string>
  notes: string[]
}

function discover(): string[] {
  const names = readdirSync(benchDir)
    .filter((f) => f.endsWith('.ts') && !notBenchmarks.has(f))
    .map((f) => f.slice(0, -'.ts'.length))
  const rank = (n: string): number => {
    const i = preferredOrder.indexOf(n)
    return i === -1 ? preferredOrder.length : i
  }
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

function scripts(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
    scripts?: Record<string, string>
  }
  return pkg.scripts ?? {}
}

function run(name: string, passArgs: string[]): Promise<BenchResult> {
  const script = `bench:${name}`
  const hasScript = script in scripts()
  // Through the package script when there is one (it may build or set flags), else directly.
  const [cmd, args] = hasScript
    ? ['npm', ['run', '--silent', script, ...(passArgs.length ? ['--', ...passArgs] : [])]]
    : [process.execPath, ['--import', 'tsx', `bench/${name}.ts`, ...passArgs]]
  const command = hasScript
    ? `npm run ${script}${passArgs.length ? ` -- ${passArgs.join(' ')}` : ''}`
    : `node --import tsx bench/${name}.ts ${passArgs.join(' ')}`.trim()
  const result: BenchResult = {
    name,
    command,
    exitCode: null,
    seconds: 0,
    figures: {},
    notes: [],
  }
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let carry = ''
    child.stdout.on('data', (b: Buffer) => {
      process.stdout.write(b)
      carry += b.toString('utf8')
      const lines = carry.split('\n')
      carry = lines.pop() ?? ''
      for (const line of lines) collect(result, line)
    })
    child.on('close', (code) => {
      if (carry) collect(result, carry)
      result.exitCode = code
      result.seconds = (Date.now() - started) / 1000
      resolve(result)
    })
    child.on('error', (err) => {
      result.notes.push(`failed to start: ${err.message}`)
      result.seconds = (Date.now() - started) / 1000
      resolve(result)
    })
  })
}

function collect(result: BenchResult, line: string): void {
  if (line.startsWith('# ')) {
    result.notes.push(line.slice(2))
    return
  }
  // `name: value`; an indented one belongs to the last unindented line (e.g. `size: 10MB` then
  // `  sqlite3_backup_ms: 48.0`) and is keyed by both.
  const m = /^(\s*)([a-z][a-z0-9_]*): (.+)$/.exec(line)
  if (!m) return
  const [, indent, key, value] = m as unknown as [string, string, string, string]
  if (indent === '') {
    result.figures[key] = value
    context.set(result, value)
  } else {
    const ctx = context.get(result)
    result.figures[ctx !== undefined ? `${key} (${ctx})` : key] = value
  }
}

const context = new WeakMap<BenchResult, string>()

function markdown(results: readonly BenchResult[]): string {
  const m = machineInfo()
  const out = [
    `Measured ${m.date}: nproc ${m.nproc}, ${m.memTotalGiB.toFixed(1)} GiB RAM, node ${m.node}, ` +
      `load average at the end ${m.loadavg.map((l) => l.toFixed(2)).join(' ')}.`,
  ]
  for (const r of results) {
    out.push('', `**${r.name}** — \`${r.command}\` (${r.seconds.toFixed(0)} s, exit ${r.exitCode})`)
    out.push('', '| figure | value |', '| --- | --- |')
    for (const [k, v] of Object.entries(r.figures)) out.push(`| \`${k}\` | ${v} |`)
    for (const n of r.notes.filter((x) => x.startsWith('machine'))) out.push('', `_${n}_`)
  }
  return out.join('\n') + '\n'
}

const shipped = readFileSync(`${root}.node-version`, 'utf8').trim()
if (process.versions.node.split('.')[0] !== shipped.split('.')[0]) {
  note(
    `running on node ${process.version}, not the shipped node ${shipped}: for BENCHMARKS.md run ` +
      '`scripts/shipped-node.sh exec npm run bench`',
  )
}
const only = argValue('only')?.split(',')
const passArgs = hasFlag('quick') ? ['--quick'] : []
const names = discover().filter((n) => !only || only.includes(n))
mkdirSync(outDir, { recursive: true })
note(`benchmarks: ${names.join(', ')}`)
const results: BenchResult[] = []
for (const name of names) {
  console.log(`\n== bench:${name}`)
  results.push(await run(name, passArgs))
}
writeFileSync(
  `${outDir}/results.json`,
  JSON.stringify({ machine: machineInfo(), results }, null, 2),
)
writeFileSync(`${outDir}/results.md`, markdown(results))
console.log('\n== summary')
for (const r of results) {
  console.log(
    `${r.exitCode === 0 ? 'ok  ' : 'FAIL'} ${r.name} (${r.seconds.toFixed(0)} s, ` +
      `${Object.keys(r.figures).length} figures)`,
  )
}
note(`figures: bench/out/results.json, table: bench/out/results.md`)
if (results.some((r) => r.exitCode !== 0)) process.exitCode = 1
