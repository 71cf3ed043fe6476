// Runs Docker Compose (the v2 plugin `docker compose` when present, else Debian's `docker-compose`)
// as a child process. Tests use it to validate and start the compose files we ship.
import { execFile } from 'node:child_process'

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion; never rejects for a non-zero exit (the caller asserts on it). */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: { ...process.env, ...options.env },
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err === null) resolve({ code: 0, stdout, stderr })
        else if (typeof err.code === 'number') resolve({ code: err.code, stdout, stderr })
        else reject(new Error(`${file} did not run: ${err.message}`, { cause: err }))
      },
    )
  })
}

let resolved: Promise<readonly string[]> | undefined

/** The compose command line: ['docker', 'compose'] or ['docker-compose']. Throws how to install it. */
export function composeCommand(): Promise<readonly string[]> {
  resolved ??= (async () => {
    const plugin = await run('docker', ['compose', 'version']).catch(() => undefined)
    if (plugin?.code === 0) return ['docker', 'compose']
    const standalone = await run('docker-compose', ['version']).catch(() => undefined)
    if (standalone?.code === 0) return ['docker-compose']
    throw new Error(
      'Docker Compose is missing: install it with `bash scripts/test-env.sh` (as root; it installs docker-compose)',
    )
  })()
  return resolved
}

export async function compose(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const [file, ...pre] = await composeCommand()
  return run(file!, [...pre, ...args], options)
}
