#!/usr/bin/env node
// The command-line entry point: parses argv, runs one command, maps errors to exit statuses.
// The only module that touches process.exit / process.exitCode.
import { Command, CommanderError } from 'commander'
import { exitCodes, writeLine, type CliIO } from './commands/io.js'
import { WatchdogError, inputErrorCodes, errorMessage } from './errors.js'
import { readVersion } from './version.js'

// SIGTERM/SIGINT end a long-running command (`run`) cleanly; a second signal kills the process.
const shutdown = new AbortController()

type Register = (program: Command, io: CliIO) => void

// Each command's module is imported only when that command runs (or for the full help), so `scan`
// does not pay for loading dockerode, openid-client and prom-client. Order = order in --help.
const commands: Record<string, () => Promise<Register>> = {
  run: async () => {
    const m = await import('./commands/run.js')
    return (program, io) => m.registerRun(program, io, shutdown.signal)
  },
  scan: async () => (await import('./commands/scan.js')).registerScan,
  doctor: async () => (await import('./commands/doctor.js')).registerDoctor,
  repair: async () => (await import('./commands/repair.js')).registerRepair,
  backups: async () => (await import('./commands/backups.js')).registerBackups,
}

async function loadCommands(argv: readonly string[]): Promise<Register[]> {
  const name = argv[2]
  const wanted = name !== undefined && name in commands ? [name] : Object.keys(commands)
  return Promise.all(wanted.map((n) => (commands[n] as () => Promise<Register>)()))
}

export function buildProgram(io: CliIO, registers: readonly Register[]): Command {
  const program = new Command('netbird-watchdog')
    .description(
      'Keeps a self-hosted NetBird control plane alive: detects embedded-IdP (Dex) failures, repairs idp.db safely, and exports Prometheus metrics.',
    )
    .version(readVersion())
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Exit status (every command): 0 ok, 1 problems found or an action failed, 2 usage, config or input error.`,
    )
  for (const register of registers) register(program, io)
  for (const cmd of program.commands) cmd.exitOverride()
  return program
}

async function main(): Promise<void> {
  let exitCode: number = exitCodes.ok
  const io: CliIO = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    setExitCode: (code) => {
      exitCode = code
    },
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // `netbird-watchdog scan … | head` closes the pipe early: that is not a failure.
    if (err.code === 'EPIPE') process.exit(exitCode)
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => shutdown.abort(signal))
  }
  try {
    await buildProgram(io, await loadCommands(process.argv)).parseAsync(process.argv)
  } catch (err) {
    exitCode = reportError(err, io)
  }
  process.exitCode = exitCode
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
    if (err.code === 'commander.help') return 0
    return exitCodes.usage
  }
  if (err instanceof WatchdogError) {
    writeLine(io.stderr, `netbird-watchdog: ${err.message}`)
    return inputErrorCodes.has(err.code) ? exitCodes.usage : exitCodes.problems
  }
  writeLine(io.stderr, `netbird-watchdog: unexpected error: ${errorMessage(err)}`)
  return exitCodes.problems
}

await main()
