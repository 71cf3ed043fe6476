// A second, private Docker engine (its own dockerd + containerd, data-root, exec-root and socket
// under a temp dir) that a fault test can stop and start at will without disturbing the shared
// engine other work runs on. Same flags as the shared one (shared/test-env.md): no bridge, no
// iptables, vfs. Images come from the shared engine (`docker save | docker load`).
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs'
import { promisify } from 'node:util'

const exec = promisify(execFile)

export class PrivateEngine {
  #daemon: ChildProcess | undefined
  #logFd: number | undefined

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true })
  }

  get socketPath(): string {
    return `${this.root}/docker.sock`
  }

  get host(): string {
    return `unix://${this.socketPath}`
  }

  get pid(): number | undefined {
    return this.#daemon?.pid
  }

  /** `docker` against this engine. */
  async docker(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    try {
      const { stdout } = await exec('docker', ['-H', this.host, ...args], {
        timeout: timeoutMs,
        maxBuffer: 1 << 28,
        encoding: 'utf8',
      })
      return stdout
    } catch (err) {
      const e = err as { stderr?: string; message: string }
      throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, {
        cause: err,
      })
    }
  }

  /** Starts dockerd and polls until it answers, with a deadline. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.#daemon && this.#daemon.exitCode === null) return
    this.#logFd = openSync(`${this.root}/dockerd.log`, 'a')
    this.#daemon = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip-forward=false',
        '--ip-masq=false',
        '--bridge=none',
        '--storage-driver=vfs',
        '--data-root',
        `${this.root}/data`,
        '--exec-root',
        `${this.root}/exec`,
        '--pidfile',
        `${this.root}/dockerd.pid`,
        '-H',
        this.host,
      ],
      { stdio: ['ignore', this.#logFd, this.#logFd] },
    )
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.#daemon.exitCode !== null) {
        throw new Error(`private dockerd exited ${this.#daemon.exitCode}: ${this.logTail()}`)
      }
      try {
        await this.docker(['version', '--format', '{{.Server.Version}}'], 5000)
        return
      } catch (err) {
        if (Date.now() > deadline) throw err
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** SIGTERM to our dockerd (it stops its containers and containerd), and wait for its exit. */
  async stop(timeoutMs = 60_000): Promise<void> {
    const daemon = this.#daemon
    if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) return
    const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()))
    daemon.kill('SIGTERM')
    const timer = setTimeout(() => daemon.kill('SIGKILL'), timeoutMs)
    await exited
    clearTimeout(timer)
    if (this.#logFd !== undefined) closeSync(this.#logFd)
    this.#logFd = undefined
  }

  /** Copies an image from the shared engine into this one. */
  async loadImage(image: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] })
      const load = spawn('docker', ['-H', this.host, 'load', '-q'], {
        stdio: ['pipe', 'ignore', 'inherit'],
      })
      save.stdout.pipe(load.stdin)
      save.on('error', reject)
      load.on('error', reject)
      load.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`docker load exited ${code}`)),
      )
    })
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(`${this.root}/dockerd.log`, 'utf8').split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** Stops the engine (removing its containers first) and deletes its directory. */
  async destroy(): Promise<void> {
    if (this.#daemon && this.#daemon.exitCode === null) {
      const ids = (await this.docker(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean)
      if (ids.length > 0) await this.docker(['rm', '-f', '-v', ...ids]).catch(() => undefined)
    }
    await this.stop()
    rmSync(this.root, { recursive: true, force: true })
  }
}
