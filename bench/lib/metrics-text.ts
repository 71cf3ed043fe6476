// Reading the watchdog's /metrics in benches: the parser is the tests' own (test/helpers), plus a sum
// over label subsets, which is what the benches compare against the engine's record.
import { parseMetrics, type Sample } from '../../test/helpers/metrics-text.js'

export { parseMetrics, type Sample }

/** Sum of every sample of `name` whose labels include all of `match`. */
export function sumOf(
  samples: readonly Sample[],
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  let total = 0
  for (const s of samples) {
    if (s.name !== name) continue
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value
  }
  return total
}
