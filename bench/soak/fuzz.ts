// Log fuzzing through the live pipeline: generated and mutated lines (bench/lib/fuzz-lines.ts) are
// written to files, a real container `cat`s them to stdout and stderr at once, the engine's log
// driver stores them, and the watchdog follows the container's multiplexed log stream. Pass: the
// watchdog never crashes or stops answering, and it counts exactly the lines and findings the
// engine serves for the container (classified in-process by the same catalogue).
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs'
import { once } from 'node:events'
import type { RuleId } from '../../src/core/rules.js'
import { busyboxImage, docker, removeBenchContainers, runContainer } from '../lib/containers.js'
import { createLineFactory } from '../lib/fuzz-lines.js'
import { sumOf } from '../lib/metrics-text.js'
import { classifyContainerLogs } from '../lib/oracle.js'
import { figure, note } from '../lib/report.js'
import { delay, observeConfig, repoRoot, Watchdog, type LogRecord } from '../lib/watchdog.js'

/** Writes `lines` generated lines for `seed` into two files (80 % / 20 %); cached in bench/out. */
export async function fuzzFiles(
  seed: number,
  lines: number,
  dir = `${repoRoot}bench/out`,
): Promise<[string, string]> {
  mkdirSync(dir, { recursive: true })
  const files: [string, string] = [
    `${dir}/fuzz-${seed}-${lines}.stdout.log`,
    `${dir}/fuzz-${seed}-${lines}.stderr.log`,
  ]
  if (files.every((f) => existsSync(f))) return files
  const next = createLineFactory({ seed })
  const outs = files.map((f) => createWriteStream(`${f}.tmp`))
  const bufs: Buffer[][] = [[], []]
  const sizes = [0, 0]
  const nl = Buffer.from('\n')
  for (let i = 0; i < lines; i++) {
    const which = i % 5 === 4 ? 1 : 0
    const line = next()
    bufs[which]!.push(line, nl)
    sizes[which]! += line.length + 1
    if (sizes[which]! > 1 << 20) {
      if (!outs[which]!.write(Buffer.concat(bufs[which]!))) await once(outs[which]!, 'drain')
      bufs[which] = []
      sizes[which] = 0
    }
  }
  for (const which of [0, 1]) {
    outs[which]!.end(Buffer.concat(bufs[which]!))
    await once(outs[which]!, 'finish')
    renameSync(`${files[which]}.tmp`, files[which]!)
  }
  return files
}

export interface FuzzResult {
  linesGenerated: number
  linesEngine: number
  linesSeen: number
  findingsEngine: number
  findingsSeen: number
  /** Rules whose count differs between the engine's log and the watchdog. */
  ruleMismatches: string[]
  seconds: number
  crashed: boolean
  healthFailures: number
  errorRecords: LogRecord[]
}

export interface FuzzOptions {
  lines: number
  seed?: number
  /** Extra container labels (tests add `netbird-watchdog.test=1`). */
  labels?: readonly string[]
  image?: string
  /** Where the generated files go (default bench/out, where they are reused). */
  dir?: string
}

/** Runs the fuzz once through the live pipeline and returns the counts on both sides. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const image = options.image ?? process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
  const name = `nbw-fuzz-${Date.now().toString(36)}`
  const [outFile, errFile] = await fuzzFiles(options.seed ?? 1, options.lines, options.dir)
  let wd: Watchdog | undefined
  try {
    wd = await Watchdog.start({
      config: observeConfig({ names: [name] }),
      waitReady: false,
      keep: (r) => r.level === 'error' || r.level === 'fatal',
    })
    const watchdog = wd
    const started = Date.now()
    await runContainer({
      name,
      image,
      cmd: ['sh', '-c', 'cat /fuzz/out.log & cat /fuzz/err.log >&2; wait'],
      volumes: [`${outFile}:/fuzz/out.log:ro`, `${errFile}:/fuzz/err.log:ro`],
      ...(options.labels ? { labels: options.labels } : {}),
    })
    await docker(['wait', name], 10 * 60_000)
    // The engine's own record of what the container wrote, classified in-process.
    const oracle = await classifyContainerLogs(name)
    // Wait (deadline) until the watchdog has counted every line, checking /healthz meanwhile.
    const deadline = Date.now() + 10 * 60_000
    let samples = await watchdog.scrape()
    let healthFailures = 0
    while (
      sumOf(samples, 'netbird_watchdog_log_lines_total', { container: name }) < oracle.lines &&
      Date.now() < deadline &&
      !watchdog.exit
    ) {
      await delay(250)
      const res = await fetch(`${watchdog.baseUrl}/healthz`).catch(() => undefined)
      if (!res?.ok) healthFailures++
      await res?.arrayBuffer()
      samples = await watchdog.scrape().catch(() => samples)
    }
    const seconds = (Date.now() - started) / 1000
    // Anything beyond the expected count would show up within a moment.
    await delay(1000)
    if (!watchdog.exit) samples = await watchdog.scrape()
    const ruleMismatches: string[] = []
    const rulesSeen = new Set(
      samples
        .filter((s) => s.name === 'netbird_watchdog_log_findings_total' && s.value > 0)
        .map((s) => s.labels.rule ?? ''),
    )
    for (const rule of new Set([...oracle.byRule.keys(), ...rulesSeen])) {
      const expected = oracle.byRule.get(rule as RuleId) ?? 0
      const seen = sumOf(samples, 'netbird_watchdog_log_findings_total', { container: name, rule })
      if (seen !== expected) ruleMismatches.push(`${rule}: engine ${expected}, watchdog ${seen}`)
    }
    return {
      linesGenerated: options.lines,
      linesEngine: oracle.lines,
      linesSeen: sumOf(samples, 'netbird_watchdog_log_lines_total', { container: name }),
      findingsEngine: oracle.findings,
      findingsSeen: sumOf(samples, 'netbird_watchdog_log_findings_total', { container: name }),
      ruleMismatches,
      seconds,
      crashed: watchdog.exit !== undefined,
      healthFailures,
      errorRecords: watchdog.records,
    }
  } finally {
    await wd?.stop()
    await removeBenchContainers()
  }
}

export async function soakFuzz(lines: number, seed = 1): Promise<{ ok: boolean }> {
  const r = await runFuzz({ lines, seed })
  figure('fuzz_lines_generated', r.linesGenerated)
  figure('fuzz_lines_engine', r.linesEngine)
  figure('fuzz_lines_seen', r.linesSeen)
  figure('fuzz_findings_engine', r.findingsEngine)
  figure('fuzz_findings_seen', r.findingsSeen)
  figure('fuzz_rule_mismatches', r.ruleMismatches.length)
  for (const m of r.ruleMismatches) note(m)
  figure('fuzz_seconds', r.seconds, 1)
  figure('fuzz_lines_per_s', r.linesSeen / r.seconds, 0)
  figure('fuzz_watchdog_crashes', r.crashed ? 1 : 0)
  figure('fuzz_healthz_failures', r.healthFailures)
  figure('fuzz_error_log_records', r.errorRecords.length)
  for (const rec of r.errorRecords.slice(0, 5)) note(`watchdog ${rec.level}: ${rec.msg}`)
  return {
    ok:
      !r.crashed &&
      r.healthFailures === 0 &&
      r.linesSeen === r.linesEngine &&
      r.findingsSeen === r.findingsEngine &&
      r.ruleMismatches.length === 0,
  }
}
