// The real Docker engine for tests (CONTRIBUTING.md, "The test environment"), through the `docker` CLI as an operator
// would use it: a loud failure naming `bash scripts/test-env.sh` when the engine or a test image is
// missing, labelled containers on `--network none`, a live `docker events` recorder, cleanup by
// label, and a private engine (own dockerd, containerd, socket) a test may stop and start.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

export const testLabel = 'netbird-watchdog.test=1'
export const busyboxImage = 'netbird-watchdog-test/busybox:1'
/**
 * The node test image carrying the node major that runs this suite (scripts/test-env.sh builds it
 * from the node first on PATH): tests mount the repository's node_modules into its containers, and
 * better-sqlite3's native module loads only under the major it was built for.
 */
export const nodeImage = `netbird-watchdog-test/node:${process.versions.node.split('.')[0]}`

export async function docker(
  args: readonly string[],
  options: { host?: string; timeoutMs?: number } = {},
): Promise<string> {
  const full = options.host !== undefined ? ['-H', options.host, ...args] : [...args]
  try {
    const { stdout } = await exec('docker', full, {
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 1 << 30,
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

/** Throws (never skips) when the engine or a test image is missing, naming the fix. */
export async function requireDocker(images: readonly string[] = [busyboxImage]): Promise<void> {
  try {
    // `version`, not `info`: info gathers image, container and storage-driver figures, and once
    // took over 15 s while CI's image build ran beside the tests (vfs), failing a whole batch of
    // tests as "no engine". An engine that is not there fails at once; a busy one gets a minute.
    await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 60_000 })
  } catch (err) {
    throw new Error(
      'NO DOCKER ENGINE: these tests need the real engine. Start it (and build the test images) with `bash scripts/test-env.sh` (as root).',
      { cause: err },
    )
  }
  for (const image of images) {
    try {
      // A minute too: the image store answered after more than 15 s under CI's image build as well.
      await docker(['image', 'inspect', '--format', '{{.Id}}', image], { timeoutMs: 60_000 })
    } catch (err) {
      throw new Error(
        `TEST IMAGE ${image} IS MISSING: build it with \`bash scripts/test-env.sh\`.`,
        {
          cause: err,
        },
      )
    }
  }
}

let counter = 0
/** A container name unique to this run. */
export function uniqueName(prefix: string): string {
  counter++
  return `nbw-test-${prefix}-${process.pid}-${counter}`
}

export interface ContainerSpec {
  readonly name: string
  readonly cmd: readonly string[]
  readonly image?: string
  readonly restart?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly tty?: boolean
  readonly volumes?: readonly string[]
  readonly stopTimeoutSeconds?: number
  /** `docker create` only. */
  readonly createOnly?: boolean
  readonly host?: string
  /** More `docker run` options (e.g. `--memory 16m`, `--health-cmd …`), before the image. */
  readonly extra?: readonly string[]
}

/** `docker run -d` (or create) with the test label and no network; returns the id. */
export async function runContainer(spec: ContainerSpec): Promise<string> {
  const args = [spec.createOnly ? 'create' : 'run']
  if (!spec.createOnly) args.push('-d')
  args.push('--name', spec.name, '--label', testLabel, '--network', 'none')
  for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`)
  if (spec.restart) args.push('--restart', spec.restart)
  if (spec.tty) args.push('-t')
  if (spec.stopTimeoutSeconds !== undefined) {
    args.push('--stop-timeout', String(spec.stopTimeoutSeconds))
  }
  for (const v of spec.volumes ?? []) args.push('-v', v)
  args.push(...(spec.extra ?? []), spec.image ?? busyboxImage, ...spec.cmd)
  return (await docker(args, { ...(spec.host ? { host: spec.host } : {}) })).trim()
}

/**
 * Removes containers by name (missing ones are fine). Docker 20.10 can refuse to remove a container
 * its restart policy is starting again ("Could not kill running container … did not receive an
 * exit event", seen when the start failed): the policy is then turned off and the removal tried
 * again, a few times, before the error is thrown.
 */
export async function removeContainers(names: readonly string[], host?: string): Promise<void> {
  if (names.length === 0) return
  const on = host ? { host } : {}
  const list = async (filters: string[]): Promise<string[]> =>
    (await docker(['ps', '-aq', ...filters], on)).split('\n').filter(Boolean)
  let ids = await list(names.flatMap((n) => ['--filter', `name=^/${n}$`]))
  for (let attempt = 1; ids.length > 0; attempt++) {
    try {
      await docker(['rm', '-f', '-v', ...ids], on)
      return
    } catch (err) {
      if (attempt === 4) throw err
    }
    ids = await list(ids.flatMap((id) => ['--filter', `id=${id}`]))
    if (ids.length === 0) return
    await docker(['update', '--restart', 'no', ...ids], on).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

export interface InspectState {
  Status: string
  Running: boolean
  Restarting: boolean
  ExitCode: number
  StartedAt: string
  FinishedAt: string
}

export async function inspectState(name: string, host?: string): Promise<InspectState> {
  const out = await docker(['inspect', '--format', '{{json .State}}', name], {
    ...(host ? { host } : {}),
  })
  return JSON.parse(out) as InspectState
}

/**
 * Engine time (ms since the epoch) of the container's first `die` event at or after `sinceMs`, from
 * the engine's own event log; undefined if it has not died.
 */
export async function firstDieEventMs(
  container: string,
  sinceMs: number,
): Promise<number | undefined> {
  const out = await docker([
    'events',
    '--since',
    String(Math.floor(sinceMs / 1000) - 1),
    '--until',
    String(Math.ceil(Date.now() / 1000)),
    '--filter',
    `container=${container}`,
    '--filter',
    'event=die',
    '--format',
    '{{.TimeNano}}',
  ])
  const first = out.split('\n').find(Boolean)
  return first === undefined ? undefined : Number(BigInt(first) / 1_000_000n)
}

/** Every log byte of a container (stdout and stderr), as `docker logs` gives it. */
export async function containerLogs(name: string, host?: string, since?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = [...(host ? ['-H', host] : []), 'logs', ...(since ? ['--since', since] : []), name]
    const child = spawn('docker', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const chunks: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => chunks.push(b))
    child.stderr.on('data', (b: Buffer) => chunks.push(b))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`docker logs exited ${code}`)),
    )
  })
}

export interface RecordedEvent {
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
  timeNano: number
}

/**
 * A live `docker events` subscription (the engine replays only its last 256 events, which other
 * work on the same engine can push out): what the engine itself reports, to compare with.
 */
export class EventRecorder {
  readonly events: RecordedEvent[] = []
  #carry = ''

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => {
      this.#carry += b.toString('utf8')
      const lines = this.#carry.split('\n')
      this.#carry = lines.pop() ?? ''
      for (const l of lines) if (l.trim()) this.events.push(JSON.parse(l) as RecordedEvent)
    })
  }

  /** Starts recording from now (`--since`, so a slow subscription misses nothing). */
  static start(filters: readonly string[], host?: string, sinceMs = Date.now()): EventRecorder {
    const since = (sinceMs / 1000).toFixed(3)
    const child = spawn(
      'docker',
      [
        ...(host ? ['-H', host] : []),
        'events',
        '--since',
        since,
        '--format',
        '{{json .}}',
        '--filter',
        'type=container',
        ...filters.flatMap((f) => ['--filter', f]),
      ],
      // stderr ignored: the client reports "unexpected EOF" when a test stops the engine.
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    return new EventRecorder(child)
  }

  count(action: string, id?: string): number {
    return this.events.filter((e) => e.Action === action && (id === undefined || e.Actor.ID === id))
      .length
  }

  stop(): void {
    this.child.kill()
  }
}

import { waitFor } from './wait.js'

export { waitFor }

/**
 * A second Docker engine of the test's own (dockerd + its containerd, data-root, exec-root and
 * socket under a temp dir), with the same flags as the shared one, so a test can stop and start
 * an engine — by the pid it started — without disturbing anything else on the machine.
 */
export class PrivateEngine {
  #daemon: ChildProcess | undefined
  #logFd: number | undefined
  readonly root: string

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'nbw-engine-'))
    mkdirSync(this.root, { recursive: true })
  }

  get socketPath(): string {
    return join(this.root, 'docker.sock')
  }

  get host(): string {
    return `unix://${this.socketPath}`
  }

  get pid(): number | undefined {
    return this.#daemon?.pid
  }

  /** The exact command line, so a restart starts it the same way. */
  get argv(): string[] {
    return [
      'dockerd',
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
      '--storage-driver=vfs',
      '--data-root',
      join(this.root, 'data'),
      '--exec-root',
      join(this.root, 'exec'),
      '--pidfile',
      join(this.root, 'dockerd.pid'),
      '-H',
      this.host,
    ]
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.#daemon && this.#daemon.exitCode === null && this.#daemon.signalCode === null) return
    this.#logFd = openSync(join(this.root, 'dockerd.log'), 'a')
    const [cmd, ...args] = this.argv
    const daemon = spawn(cmd!, args, { stdio: ['ignore', this.#logFd, this.#logFd] })
    this.#daemon = daemon
    await waitFor(
      'the private dockerd to answer',
      async () => {
        if (daemon.exitCode !== null) {
          throw new Error(`private dockerd exited ${daemon.exitCode}: ${this.logTail()}`)
        }
        await docker(['version', '--format', '{{.Server.Version}}'], {
          host: this.host,
          timeoutMs: 5000,
        })
        return true
      },
      timeoutMs,
      100,
    )
  }

  /** SIGTERM to the dockerd this object started (it stops its containers), then wait for its exit. */
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

  /** Copies an image from the shared engine. */
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
      return readFileSync(join(this.root, 'dockerd.log'), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** Removes its containers, stops it and deletes its directory. */
  async destroy(): Promise<void> {
    if (this.#daemon && this.#daemon.exitCode === null) {
      const ids = (await docker(['ps', '-aq'], { host: this.host }).catch(() => ''))
        .split('\n')
        .filter(Boolean)
      if (ids.length > 0) {
        await docker(['rm', '-f', '-v', ...ids], { host: this.host }).catch(() => undefined)
      }
    }
    await this.stop()
    // vfs layers may hold mounts briefly; retry the removal a few times.
    for (let i = 0; i < 5; i++) {
      try {
        rmSync(this.root, { recursive: true, force: true })
        return
      } catch {
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }
}

/**
 * Relays a Unix socket to the engine's. `cut()` drops every connection and refuses new ones (a
 * socket proxy that went away); `freeze()` keeps connections open but forwards nothing (an engine
 * or proxy that hangs), until `restore()`.
 */
export class SocketRelay {
  readonly #sockets = new Set<Socket>()
  #open = true
  #frozen = false
  readonly server: Server

  constructor(
    readonly path: string,
    upstream: string,
  ) {
    this.server = createServer((client) => {
      if (!this.#open) {
        client.destroy()
        return
      }
      if (this.#frozen) {
        // Accepted, never answered.
        this.#sockets.add(client)
        client.on('error', () => undefined)
        return
      }
      const up = connect(upstream)
      this.#sockets.add(client)
      this.#sockets.add(up)
      const drop = (): void => {
        client.destroy()
        up.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(up)
      }
      client.on('error', drop).on('close', drop)
      up.on('error', drop).on('close', drop)
      client.pipe(up)
      up.pipe(client)
    })
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve))
  }

  cut(): void {
    this.#open = false
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  freeze(): void {
    this.#frozen = true
    for (const s of this.#sockets) {
      s.unpipe()
      s.pause()
    }
  }

  restore(): void {
    // Connections held while frozen stay dead, as they would after a real hang.
    if (this.#frozen) this.cut()
    this.#frozen = false
    this.#open = true
  }

  close(): Promise<void> {
    this.cut()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** The real engine's Unix socket (DOCKER_HOST, else the default). */
export function engineSocket(): string {
  const host = process.env.DOCKER_HOST
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock'
}
