// Spawns the built CLI (dist/cli.js) as a child process, as an operator would run it — also a command
// line the watchdog printed, pasted into a shell.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the CLI to its end: `input` (or nothing) on its stdin, which is then closed. */
export function runCli(
  args: readonly string[],
  options: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  return spawnCli(args, { ...options, input: options.input ?? '' }).done
}

export interface RunningCli {
  readonly child: ChildProcess
  /** Everything written to stdout so far. */
  stdout(): string
  /** Everything written to stderr so far. */
  stderr(): string
  /** Resolves when the process has exited and its streams are closed. */
  readonly done: Promise<CliRun>
}

/**
 * Starts the CLI and returns at once, for tests that talk to the running process (signals, a FIFO):
 * the caller waits on `done`. Nothing is written to its stdin unless `input` is given; it is then closed.
 * A process still running after `timeoutMs` is killed (SIGKILL), so a hang fails the test, not the run.
 */
export function spawnCli(
  args: readonly string[],
  options: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {},
): RunningCli {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (b: Buffer) => out.push(b))
  child.stderr.on('data', (b: Buffer) => err.push(b))
  child.stdin.on('error', () => undefined)
  if (options.input !== undefined) child.stdin.end(options.input)
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      })
    })
  })
  return {
    child,
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    done,
  }
}

/**
 * Runs a command line the watchdog printed, as an operator pastes it: through `sh -c`, with a
 * `netbird-watchdog` on PATH that runs dist/cli.js (its shim goes into `dir`).
 */
export async function runPrinted(
  dir: string,
  command: string,
  env: Record<string, string> = {},
): Promise<CliRun> {
  const bin = join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  const shim = join(bin, 'netbird-watchdog')
  writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${cliPath}' "$@"\n`, { mode: 0o755 })
  const child = spawn('sh', ['-c', command], {
    env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (b: Buffer) => out.push(b))
  child.stderr.on('data', (b: Buffer) => err.push(b))
  return await new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    )
  })
}

/** The part every canary secret of the tests shares (`canarySecret` and the DSN canaries). */
export const canaryCore = /7f3c9a1e5b/i

/** Fails, showing the text around it, when a canary secret appears in `text`. */
export function assertNoCanary(text: string, where: string): void {
  const m = canaryCore.exec(text)
  if (m === null) return
  const around = text.slice(Math.max(0, m.index - 120), m.index + 40)
  assert.fail(`the canary leaked into ${where}: …${around}…`)
}

/** Neither stream of a CLI run holds a canary secret. */
export function assertNoCanaryIn(res: CliRun, what: string): void {
  assertNoCanary(res.stdout, `${what} stdout`)
  assertNoCanary(res.stderr, `${what} stderr`)
}

/** The environment of the test run without NETBIRD_WATCHDOG_* (so only what a case sets counts). */
export function envWithoutWatchdog(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('NETBIRD_WATCHDOG_')) env[k] = v
  }
  return { ...env, ...extra }
}
