#!/usr/bin/env node
// The command-line entry point: parses argv, runs one command, maps errors to exit statuses.
// The only module that touches process.exit / process.exitCode.
import { Command, CommanderError } from 'commander'
import { exitCodes, terminalSafe, writeLine, type CliIO } from './commands/io.js'
import { crashExitCode, installCrashHandlers, reportBug } from './crash.js'
import { WatchdogError, inputErrorCodes, isWatchdogError } from './errors.js'
import { readVersion } from './version.js'

// The first SIGTERM/SIGINT asks the command to stop (`run` stops cleanly and exits 0; a one-shot
// command stops promptly, never leaving a write half done, and exits 143/130); a second one exits at
// once with that status.
const shutdown = new AbortController()
let stoppedBy: 'SIGTERM' | 'SIGINT' | undefined
const signalExit = { SIGTERM: exitCodes.sigterm, SIGINT: exitCodes.sigint } as const

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
  probe: async () => (await import('./commands/probe.js')).registerProbe,
  backups: async () => (await import('./commands/backups.js')).registerBackups,
  bundle: async () => (await import('./commands/bundle.js')).registerBundle,
}

async function loadCommands(argv: readonly string[]): Promise<Register[]> {
  const name = argv[2]
  const wanted =
    name !== undefined && Object.hasOwn(commands, name) ? [name] : Object.keys(commands)
  return Promise.all(wanted.map((n) => (commands[n] as () => Promise<Register>)()))
}

export function buildProgram(io: CliIO, registers: readonly Register[]): Command {
  const program = new SafeCommand('netbird-watchdog')
    .description(
      'Keeps a self-hosted NetBird control plane alive: detects embedded-IdP (Dex) failures, repairs its store (idp.db or PostgreSQL) safely, and exports Prometheus metrics.',
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
Exit status (every command): 0 ok, 1 problems found or an action failed, 2 usage, config or input
error, 130/143 stopped by SIGINT/SIGTERM (a one-shot command), 70 an internal error (a bug).`,
    )
  for (const register of registers) register(program, io)
  for (const cmd of program.commands) cmd.exitOverride()
  return program
}

/**
 * A Command whose usage errors never quote the command line: commander builds some messages from what
 * it did not understand (`unknown option '--dsn=postgres://u:pw@…'`), and a value can hold anything,
 * quotes included, so its text is never filtered — each error is worded anew from its code. Every
 * subcommand is one too (`createCommand`).
 */
class SafeCommand extends Command {
  override createCommand(name?: string): Command {
    return new SafeCommand(name)
  }

  override error(message: string, errorOptions?: { code?: string; exitCode?: number }): never {
    return super.error(usageMessage(errorOptions?.code, message), errorOptions)
  }
}

/** Commander error codes whose message is made of the program's own names and counts only. */
const ownWordsOnly: ReadonlySet<string> = new Set([
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.conflictingOption',
  'commander.excessArguments',
])

/**
 * A name shown back: lowercase words joined by `-`, at most 32 characters. No digits, capitals or
 * anything else, which a pasted token or password would have.
 */
const plainName = /^(?=.{1,32}$)[a-z]+(?:-[a-z]+)*$/

/**
 * The usage error to show for commander's `message` with `code`: an unknown option or command is named
 * only when it is a plain name (and an option's `=value` never), with commander's suggestion, which is
 * one of the program's own names; any other message that could carry a value becomes a generic one.
 */
export function usageMessage(code: string | undefined, message: string): string {
  if (code !== undefined && ownWordsOnly.has(code)) return message
  const suggestion =
    /\n\(Did you mean (?:one of )?[A-Za-z0-9, -]{1,200}\?\)$/.exec(message)?.[0] ?? ''
  if (code === 'commander.unknownOption') {
    const given = /^error: unknown option '(.*)'/s.exec(message)?.[1] ?? ''
    const eq = given.indexOf('=')
    const name = eq === -1 ? given : given.slice(0, eq)
    if (!plainName.test(name.replace(/^--?/, '')) || /^-[^-]./.test(name)) {
      return 'error: unknown option (not shown: it is not an option name)'
    }
    return `error: unknown option '${name}'${eq === -1 ? '' : ' (its value is not shown)'}${suggestion}`
  }
  if (code === 'commander.unknownCommand') {
    const given = /^error: unknown command '(.*)'/s.exec(message)?.[1] ?? ''
    if (!plainName.test(given)) {
      return 'error: unknown command (not shown: it is not a command name)'
    }
    return `error: unknown command '${given}'${suggestion}`
  }
  return 'error: the command line is not valid (what was given is not shown; see --help)'
}

async function main(): Promise<void> {
  // Files the watchdog creates (backups, manifests, SQLite journals of copies) hold client secrets:
  // private from creation, whatever umask the container starts with.
  process.umask(0o077)
  installCrashHandlers((code) => process.exit(code))
  let exitCode: number = exitCodes.ok
  // Everything a command prints reaches the terminal as text: a control, invisible or bidi character
  // from the store, a config file or the network is written escaped.
  const io: CliIO = {
    stdin: process.stdin,
    stdout: terminalSafe(process.stdout),
    stderr: terminalSafe(process.stderr),
    env: process.env,
    signal: shutdown.signal,
    setExitCode: (code) => {
      exitCode = code
    },
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // `netbird-watchdog scan … | head` closes the pipe early: that is not a failure.
    if (err.code === 'EPIPE') process.exit(exitCode)
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stoppedBy !== undefined) process.exit(signalExit[signal])
      stoppedBy = signal
      shutdown.abort(signal)
    })
  }
  const command = process.argv[2]
  try {
    await buildProgram(io, await loadCommands(process.argv)).parseAsync(process.argv)
  } catch (err) {
    exitCode = reportError(err, io)
  }
  // A one-shot command stopped by a signal says so in its status; the daemon's stop is its normal end.
  if (stoppedBy !== undefined && command !== 'run') exitCode = signalExit[stoppedBy]
  process.exitCode = exitCode
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // Help or the version asked for: 0. Help shown because no command was given: a usage error.
    const shown = ['commander.helpDisplayed', 'commander.help', 'commander.version']
    if (shown.includes(err.code)) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage
    return exitCodes.usage
  }
  if (isWatchdogError(err, 'INTERRUPTED')) {
    writeLine(io.stderr, `netbird-watchdog: ${err.message}`)
    return exitCodes.sigterm
  }
  if (err instanceof WatchdogError) {
    writeLine(io.stderr, `netbird-watchdog: ${err.message}`)
    return inputErrorCodes.has(err.code) ? exitCodes.usage : exitCodes.problems
  }
  // Not a failure the code knows: a bug, reported as the crash handler reports one, with its status.
  reportBug('unexpected error', err, (line) => io.stderr.write(line))
  return crashExitCode
}

await main()
