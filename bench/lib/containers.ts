// The benches' view of the real Docker engine, through the `docker` CLI (as an operator would):
// labelled containers, engine events and log timestamps. Every object carries the bench label and
// is removed by it; test suites clean up `netbird-watchdog.test=1`, so a bench running beside
// `npm test` keeps its own label and is not swept away by the suite's cleanup. Each container also
// names the bench process that made it, so one bench never removes another live bench's containers.
import { spawn, type ChildProcess } from 'node:child_process'
import { docker as dockerCli, requireDocker } from '../../test/helpers/docker.js'

export { busyboxImage, nodeImage } from '../../test/helpers/docker.js'

export const benchLabel = 'netbird-watchdog.bench=1'

/** `docker …` against the shared engine; the error carries the CLI's stderr. */
export async function docker(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  return dockerCli(args, { timeoutMs })
}

/** Fails with the command that fixes it when the engine or a test image is missing. */
export const requireEngine = requireDocker

const pidLabel = 'netbird-watchdog.bench.pid'

/** Removes the containers this process created. */
export async function removeBenchContainers(): Promise<void> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=${pidLabel}=${process.pid}`]))
    .split('\n')
    .filter(Boolean)
  if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids])
}

/** Removes leftovers of bench processes that are gone (a bench killed before its cleanup). */
export async function removeStaleBenchContainers(): Promise<void> {
  const out = await docker([
    'ps',
    '-a',
    '--filter',
    `label=${benchLabel}`,
    '--format',
    `{{.ID}} {{.Label "${pidLabel}"}}`,
  ])
  const stale = out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, pid]) => !pid || !processAlive(Number(pid)))
    .map(([id]) => id!)
  if (stale.length > 0) await docker(['rm', '-f', '-v', ...stale])
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export interface RunSpec {
  name: string
  image: string
  cmd: readonly string[]
  restart?: 'no' | 'unless-stopped' | 'always' | 'on-failure'
  labels?: readonly string[]
  env?: Readonly<Record<string, string>>
  volumes?: readonly string[]
  network?: 'none' | 'host'
  /** Create only (do not start). */
  createOnly?: boolean
  extra?: readonly string[]
}

export async function runContainer(spec: RunSpec): Promise<string> {
  const args = [spec.createOnly ? 'create' : 'run']
  if (!spec.createOnly) args.push('-d')
  args.push('--name', spec.name, '--network', spec.network ?? 'none', '--label', benchLabel)
  args.push('--label', `${pidLabel}=${process.pid}`)
  // An image built with LABEL netbird-watchdog.test=1 (an older test-env.sh did that for the node
  // image) would hand that label to every container, and every test suite's cleanup by that label
  // would remove a running bench's containers. A container label of the same key overrides it.
  if (!(spec.labels ?? []).includes('netbird-watchdog.test=1')) {
    args.push('--label', 'netbird-watchdog.test=0')
  }
  for (const l of spec.labels ?? []) args.push('--label', l)
  for (const [k, v] of Object.entries(spec.env ?? {})) args.push('-e', `${k}=${v}`)
  for (const v of spec.volumes ?? []) args.push('-v', v)
  if (spec.restart) args.push('--restart', spec.restart)
  args.push(...(spec.extra ?? []), spec.image, ...spec.cmd)
  return (await docker(args)).trim()
}

export interface EngineEvent {
  status: string
  id: string
  name: string
  /** Nanoseconds since the epoch. */
  timeNano: bigint
  attributes: Record<string, string>
}

function parseEvent(line: string): EngineEvent {
  const e = JSON.parse(line) as {
    status?: string
    Action?: string
    id?: string
    timeNano?: number
    Actor?: { Attributes?: Record<string, string> }
  }
  const attributes = e.Actor?.Attributes ?? {}
  return {
    status: e.status ?? e.Action ?? '',
    id: e.id ?? '',
    name: attributes.name ?? '',
    // JSON numbers lose nanosecond precision above 2^53; sub-microsecond error is fine here.
    timeNano: BigInt(Math.round(e.timeNano ?? 0)),
    attributes,
  }
}

/**
 * Records container events live (`docker events`), from now until stop(). The engine keeps only
 * its last 256 events for `--since` replays, and other work on the same engine fills that buffer,
 * so the reference count is taken live rather than replayed afterwards.
 */
export class EventRecorder {
  readonly events: EngineEvent[] = []
  readonly #child: ChildProcess
  #carry = ''
  readonly #closed: Promise<void>

  constructor(filters: readonly string[]) {
    const args = ['events', '--filter', 'type=container', '--format', '{{json .}}']
    for (const f of filters) args.push('--filter', f)
    this.#child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    this.#child.stdout!.on('data', (b: Buffer) => {
      this.#carry += b.toString('utf8')
      const lines = this.#carry.split('\n')
      this.#carry = lines.pop() ?? ''
      for (const line of lines) if (line) this.events.push(parseEvent(line))
    })
    this.#closed = new Promise((resolve) => this.#child.once('close', () => resolve()))
  }

  /** Waits until `docker events` is subscribed: it prints nothing, so probe with a no-op event. */
  static async start(filters: readonly string[]): Promise<EventRecorder> {
    const rec = new EventRecorder(filters)
    // The CLI subscribes within a few ms; give it a bounded moment, then check it is alive.
    await new Promise((r) => setTimeout(r, 500))
    if (rec.#child.exitCode !== null) throw new Error('docker events exited at once')
    return rec
  }

  count(status: string, name?: string): number {
    return this.events.filter((e) => e.status === status && (name === undefined || e.name === name))
      .length
  }

  async stop(): Promise<void> {
    this.#child.kill('SIGTERM')
    await this.#closed
  }
}

/** RFC 3339 with nanoseconds (Docker's log timestamps) -> milliseconds since epoch, sub-ms kept. */
export function parseNanoTime(ts: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts)
  if (!m) return Number.NaN
  const whole = Date.parse(`${m[1]}${m[3]}`)
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0
  return whole + frac
}

/** `docker logs --timestamps` of a container: each line's time (ms, and as the engine prints it). */
export async function timestampedLogs(
  container: string,
): Promise<{ at: number; ts: string; text: string }[]> {
  const out = await docker(['logs', '--timestamps', container])
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const sp = line.indexOf(' ')
      const ts = line.slice(0, sp)
      return { at: parseNanoTime(ts), ts, text: line.slice(sp + 1) }
    })
}

export interface InspectState {
  status: string
  restartCount: number
  startedAt: string
  finishedAt: string
  exitCode: number
}

export async function inspectState(container: string): Promise<InspectState> {
  const out = await docker(['inspect', '--format', '{{json .State}}|{{.RestartCount}}', container])
  const [state, restarts] = out.trim().split('|')
  const s = JSON.parse(state ?? '{}') as {
    Status?: string
    StartedAt?: string
    FinishedAt?: string
    ExitCode?: number
  }
  return {
    status: s.Status ?? '',
    restartCount: Number(restarts),
    startedAt: s.StartedAt ?? '',
    finishedAt: s.FinishedAt ?? '',
    exitCode: s.ExitCode ?? 0,
  }
}
