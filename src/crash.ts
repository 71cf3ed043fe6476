// The last line of defence: an error nothing handled (an unhandled promise rejection, an uncaught
// exception) is a bug. It is logged once as a fatal JSON line with its stack on stderr, and the
// process exits 70 (EX_SOFTWARE) so that Docker's restart policy starts a clean one — rather than
// run on in an unknown state. Every expected failure is handled where it happens; this never fires
// for an engine, a store or a provider that misbehaves (those are outcomes, metrics and log lines).
import { writeSync } from 'node:fs'

export const crashExitCode = 70

const toStderr = (line: string): void => {
  writeSync(2, line)
}

/** The one `fatal` JSON line a bug is reported with (also by the CLI for an error no code knows). */
export function reportBug(
  kind: string,
  err: unknown,
  write: (line: string) => void = toStderr,
): void {
  const e = err instanceof Error ? err : new Error(String(err))
  write(
    JSON.stringify({
      level: 'fatal',
      time: new Date().toISOString(),
      service: 'netbird-watchdog',
      msg: `${kind}: a bug in netbird-watchdog; exiting so the container restarts`,
      err: { type: e.name, message: e.message, stack: e.stack },
    }) + '\n',
  )
}

export function installCrashHandlers(
  exit: (code: number) => void,
  write: (line: string) => void = toStderr,
): void {
  const die = (kind: string) => (err: unknown) => {
    reportBug(kind, err, write)
    exit(crashExitCode)
  }
  process.on('unhandledRejection', die('unhandled promise rejection'))
  process.on('uncaughtException', die('uncaught exception'))
}
