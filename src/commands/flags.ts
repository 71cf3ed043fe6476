// Numeric command-line flags: decimal digits only, within stated bounds, checked before anything
// runs. The error names the flag and the range, never the value given (a mistyped secret pasted into
// the wrong flag must not be echoed).
import { WatchdogError } from '../errors.js'

export interface IntRange {
  readonly min: number
  readonly max: number
}

/** Milliseconds a network or lock wait may take: 1 ms to 10 minutes. */
export const waitMs: IntRange = { min: 1, max: 600_000 }

export function intFlag(name: string, value: string, range: IntRange): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new WatchdogError(
      'USAGE',
      `${name} must be a ${range.min === 0 ? 'non-negative' : 'positive'} number from ${range.min} to ${range.max} (decimal digits only)`,
    )
  }
  return n
}
