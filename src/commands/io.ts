// What a CLI command may touch of the process: its streams and environment. cli.ts builds the real
// one; commands never reach for `process` themselves, so they stay testable and never exit.
import { Writable, type Readable } from 'node:stream'
import { escapeUnsafeText } from '../core/issuer.js'
import { WatchdogError } from '../errors.js'

export interface CliIO {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Aborted by the first SIGTERM or SIGINT: a command stops promptly (finishing or rolling back a
   * write it has begun, never leaving one half done); cli.ts then exits 143 or 130.
   */
  readonly signal: AbortSignal
  /** Record the exit status; cli.ts applies it once the command has finished. */
  setExitCode(code: number): void
}

export const exitCodes = {
  ok: 0,
  /** Problems found, or an action failed (and was rolled back). */
  problems: 1,
  /** Usage, configuration or input error. */
  usage: 2,
  /** Stopped by SIGINT (128 + 2). */
  sigint: 130,
  /** Stopped by SIGTERM (128 + 15). */
  sigterm: 143,
} as const

export function writeLine(stream: Writable, text = ''): void {
  stream.write(text + '\n')
}

/** Throws INTERRUPTED when the command was asked to stop (between steps, before anything is written). */
export function throwIfStopped(io: CliIO): void {
  if (io.signal.aborted) {
    throw new WatchdogError('INTERRUPTED', 'stopped by a signal before anything was changed')
  }
}

/**
 * `target`, with every character a terminal would interpret or hide written as `\uXXXX`
 * (core/issuer.ts `escapeUnsafeText`): whatever a command prints — a connector id from the store, a
 * manifest's reason, an issuer from a provider or a log line — reaches the terminal as text. JSON
 * output stays valid and exact (inside a JSON string such an escape decodes to the same character;
 * outside strings JSON has none of them). Line feeds pass; backpressure is the target's.
 */
export function terminalSafe(target: Writable): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8')
      // A failed write is the target's own 'error' event (cli.ts ends quietly on EPIPE, as before):
      // not raised a second time here.
      target.write(escapeUnsafeText(text), () => done())
    },
  })
}
