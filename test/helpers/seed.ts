// The seed of a test's random choices (fault runs, fast-check properties), so that a failure can be
// replayed: NBW_TEST_SEED when it is set, else the test's own default (the fixed seed it always had, or
// a fresh one each run), printed with the test's output together with how to replay it.
import { randomInt } from 'node:crypto'

/** The seed to use; `fixed` is the test's default (none: a fresh seed each run). */
export function testSeed(t: { diagnostic(message: string): void }, fixed?: number): number {
  const given = process.env.NBW_TEST_SEED
  let seed: number
  if (given !== undefined && given !== '') {
    if (!/^[0-9]{1,10}$/.test(given) || Number(given) >= 2 ** 31) {
      throw new Error(`NBW_TEST_SEED must be an integer from 0 to ${2 ** 31 - 1} (got '${given}')`)
    }
    seed = Number(given)
  } else {
    seed = fixed ?? randomInt(2 ** 31)
  }
  t.diagnostic(`seed ${seed} (NBW_TEST_SEED=${seed} replays it)`)
  return seed
}
