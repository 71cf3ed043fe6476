// What a CLI command may touch of the process: its streams and environment. cli.ts builds the real
// one; commands never reach for `process` themselves, so they stay testable and never exit.
import type { Readable, Writable } from 'node:stream'

export interface CliIO {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  /** Record the exit status; cli.ts applies it once the command has finished. */
  setExitCode(code: number): void
}

export const exitCodes = {
  ok: 0,
  /** Problems found, or an action failed (and was rolled back). */
  problems: 1,
  /** Usage, configuration or input error. */
  usage: 2,
} as const

export function writeLine(stream: Writable, text = ''): void {
  stream.write(text + '\n')
}
