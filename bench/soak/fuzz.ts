// Log fuzzing through the live pipeline: generated and mutated lines (bench/lib/fuzz-lines.ts) are
// written to files, a real container `cat`s them to stdout and stderr at once, the engine's log
// driver stores them, and the watchdog follows the container's multiplexed log stream. Pass: the
// watchdog never crashes or stops answering, and it counts exactly the lines and findings the
// engine serves for the container (classified in-process by the same catalogue).
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs'
import { once } from 'node:events'
import { busyboxImage, removeBenchContainers, runContainer } from '../lib/containers.js'
import { createLineFactory } from '../lib/fuzz-lines.js'
import { sumOf } from '../lib/metrics-text.js'
import { classifyContainerLogs } from '../lib/oracle.js'
import { figure, note } from '../lib/report.js'
import { delay, repoRoot, Watchdog } from '../lib/watchdog.js'

/** Writes `lines` generated lines for `seed` into two files (80 % / 20 %); cached in bench/out. */
export async function fuzzFiles(seed: number, lines: number): Promise<[string, string]> {
  const dir = `${repoRoot}bench/out`
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

export async function soakFuzz(lines: number, seed = 1): Promise<{ ok: boolean }> {
  const image = process.env.NBW_BENCH_BUSYBOX ?? busyboxImage
  const name = `nbw-soak-fuzz-${Date.now().toString(36)}`
  const [outFile, errFile] = await fuzzFiles(seed, lines)
  let wd: Watchdog | undefined
  try {
    wd = await Watchdog.start({
      config: {
        mode: 'observe',
        targets: { names: [name], autoDetect: false },
        schedules: { doctor: '', backup: '', integrity: '' },
      },
      keep: (r) => r.level === 'error' || r.level === 'fatal',
    })
    const watchdog = wd
    const started = Date.now()
    await runContainer({
      name,
      image,
      cmd: ['sh', '-c', 'cat /fuzz/out.log & cat /fuzz/err.log >&2; wait'],
      volumes: [`${outFile}:/fuzz/out.log:ro`, `${errFile}:/fuzz/err.log:ro`],
    })
    // Wait until the watchdog has counted every line the engine stored, with a deadline.
    const oracle = await classifyContainerLogs(name)
    const deadline = Date.now() + 10 * 60_000
    let samples = await watchdog.scrape()
    let healthFailures = 0
    while (
      sumOf(samples, 'netbird_watchdog_log_lines_total', { container: name }) < oracle.lines &&
      Date.now() < deadline &&
      !watchdog.exit
    ) {
      await delay(500)
      const res = await fetch(`${watchdog.baseUrl}/healthz`).catch(() => undefined)
      if (!res?.ok) healthFailures++
      await res?.arrayBuffer()
      samples = await watchdog.scrape()
    }
    await delay(1000) // anything beyond the expected count would show up now
    samples = await watchdog.scrape()
    const seconds = (Date.now() - started) / 1000
    const linesSeen = sumOf(samples, 'netbird_watchdog_log_lines_total', { container: name })
    const findingsSeen = sumOf(samples, 'netbird_watchdog_log_findings_total', { container: name })
    let ruleMismatches = 0
    for (const [rule, count] of oracle.byRule) {
      const seen = sumOf(samples, 'netbird_watchdog_log_findings_total', { container: name, rule })
      if (seen !== count) {
        ruleMismatches++
        note(`rule ${rule}: engine ${count}, watchdog ${seen}`)
      }
    }
    const crashed = watchdog.exit !== undefined
    figure('fuzz_lines_generated', lines)
    figure('fuzz_lines_engine', oracle.lines)
    figure('fuzz_lines_seen', linesSeen)
    figure('fuzz_findings_engine', oracle.findings)
    figure('fuzz_findings_seen', findingsSeen)
    figure('fuzz_rule_mismatches', ruleMismatches)
    figure('fuzz_seconds', seconds, 1)
    figure('fuzz_lines_per_s', linesSeen / seconds, 0)
    figure('fuzz_watchdog_crashes', crashed ? 1 : 0)
    figure('fuzz_healthz_failures', healthFailures)
    figure('fuzz_error_log_records', watchdog.records.length)
    for (const r of watchdog.records.slice(0, 5)) note(`watchdog ${r.level}: ${r.msg}`)
    return {
      ok:
        !crashed &&
        healthFailures === 0 &&
        linesSeen === oracle.lines &&
        findingsSeen === oracle.findings &&
        ruleMismatches === 0,
    }
  } finally {
    await wd?.stop()
    await removeBenchContainers()
  }
}
