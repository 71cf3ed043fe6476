// Shared output and statistics for the benchmarks: every figure is printed as a `name: value` line
// (machine-readable; `npm run bench` collects them), ratios are computed from figures of the same run.
import { execFileSync } from 'node:child_process'
import { availableParallelism, loadavg, totalmem } from 'node:os'

/**
 * Print one figure. With `decimals` the number always gets exactly that many (a ratio of 1 prints
 * as 1.000); without, integers print as integers and anything else with two decimals.
 */
export function figure(name: string, value: number | string, decimals?: number): void {
  const text = typeof value === 'number' ? formatNumber(value, decimals) : value
  console.log(`${name}: ${text}`)
}

function formatNumber(value: number, decimals: number | undefined): string {
  if (!Number.isFinite(value)) return String(value)
  if (decimals !== undefined) return value.toFixed(decimals)
  return Number.isInteger(value) ? String(value) : value.toFixed(2)
}

/** A note that is not a figure (context for a human reading the output). */
export function note(text: string): void {
  console.log(`# ${text}`)
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty sample')
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]!
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty sample')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}

export interface MachineInfo {
  nproc: number
  memTotalGiB: number
  freeH: string
  node: string
  loadavg: [number, number, number]
  date: string
}

export function machineInfo(): MachineInfo {
  let freeH: string
  try {
    freeH = execFileSync('free', ['-h'], { encoding: 'utf8' }).trim()
  } catch {
    freeH = '(free not available)'
  }
  const [l1, l5, l15] = loadavg()
  return {
    nproc: availableParallelism(),
    memTotalGiB: totalmem() / 2 ** 30,
    freeH,
    node: process.version,
    loadavg: [l1 ?? 0, l5 ?? 0, l15 ?? 0],
    date: new Date().toISOString(),
  }
}

/** Prints the machine context as notes, so a figure is never read without the load it ran under. */
export function printMachine(label = 'machine'): void {
  const m = machineInfo()
  note(
    `${label}: nproc ${m.nproc}, mem ${m.memTotalGiB.toFixed(1)} GiB, node ${m.node}, ` +
      `loadavg ${m.loadavg.map((l) => l.toFixed(2)).join(' ')}, ${m.date}`,
  )
}

/** Command-line flag helpers: `--name value` and `--flag`. */
export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : undefined
}

export function argNumber(name: string, fallback: number): number {
  const raw = argValue(name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`--${name} must be a number, got "${raw}"`)
  return n
}

export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`)
}
