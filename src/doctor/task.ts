// One doctor check to run: what it is about (for the report when it cannot finish), and the work.
import type { CheckArea, CheckId, CheckResult } from '../core/checks/check.js'

export type Task = () => Promise<CheckResult[]> | CheckResult[]

export interface TaskSpec {
  id: CheckId
  area: CheckArea
  target: string
  run: Task
}

/** How network checks may reach out (the doctor's options, as a task needs them). */
export interface NetworkOptions {
  readonly timeoutMs: number
  readonly allowInsecure: boolean
  readonly fetch?: typeof fetch
  /** Stops the request at once (a CLI stopped by a signal). */
  readonly signal?: AbortSignal
}

export function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.trim() !== '' ? s : undefined
}
