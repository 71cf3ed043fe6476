// The watchdog's narrow view of the Docker Engine API (`DockerPort`) and its dockerode adapter.
// Everything else (watcher, healer, tests) depends on the interface only. The adapter parses the
// fields it relies on with zod, wraps library errors once (DOCKER_UNAVAILABLE when the engine cannot
// be reached, DOCKER_ACTION_FAILED when it answered with an error) and never reads `process.env`:
// the engine address comes from `dockerConnection()` (config, then DOCKER_HOST, then the socket).
// Why ~480 lines: the port, the zod shapes of the engine's JSON and the adapter that parses them are
// one boundary, kept in one file so that a change of the Engine API is a change here only.
import { Readable } from 'node:stream'
import type Docker from 'dockerode'
import { z } from 'zod'
import { WatchdogError, errorMessage } from '../errors.js'

/** State.Status values of the Engine API. */
export type ContainerStatus =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead'

export interface ContainerSummary {
  readonly id: string
  /** Without the leading slash. */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** State of `GET /containers/json` (`running`, `exited`, `restarting`…). */
  readonly state: string
}

export interface ContainerState {
  readonly status: ContainerStatus
  readonly running: boolean
  readonly restarting: boolean
  readonly paused: boolean
  readonly oomKilled: boolean
  readonly exitCode: number
  /** RFC3339Nano; "0001-01-01T00:00:00Z" when never started. */
  readonly startedAt: string
  readonly finishedAt: string
  /** Health.Status when the container has a HEALTHCHECK. */
  readonly health?: 'starting' | 'healthy' | 'unhealthy' | 'none'
}

export interface ContainerMount {
  readonly type: string
  /** Host path (bind) or the volume's path on the host. */
  readonly source: string
  readonly destination: string
  /** Volume name, for `type: volume`. */
  readonly name?: string
  readonly rw: boolean
}

export interface ContainerDetails {
  readonly id: string
  readonly name: string
  readonly image: string
  readonly labels: Readonly<Record<string, string>>
  /** Created with a TTY: its log stream is raw, not multiplexed. */
  readonly tty: boolean
  /** Restarts made by the restart policy since the container was created (misses manual restarts). */
  readonly restartCount: number
  readonly restartPolicy: { readonly name: string; readonly maximumRetryCount: number }
  /** HostConfig.NetworkMode: `host`, `none`, `bridge`, a network's name (compose), `container:<id>`. */
  readonly networkMode: string
  readonly state: ContainerState
  readonly mounts: readonly ContainerMount[]
  /** The entrypoint's executable (`Path`), when the engine reports it. */
  readonly entrypoint?: string
  /** The rest of the command line (`Args`): entrypoint arguments, then the command. */
  readonly args?: readonly string[]
}

/** One container event of `GET /events`. */
export interface EngineEvent {
  /** The raw action: `start`, `die`, `health_status: healthy`, `exec_start: sh`… */
  readonly action: string
  readonly id: string
  /** Actor.Attributes.name (without slash); "" when absent. */
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  /** Engine time of the event, nanoseconds since the epoch. */
  readonly timeNano: bigint
}

export interface LogsOptions {
  /** Only entries at or after this engine time (ns since the epoch). */
  readonly sinceNs?: bigint
  readonly follow: boolean
  readonly signal?: AbortSignal
}

/**
 * What the watchdog needs from the engine. Methods throw WatchdogError DOCKER_UNAVAILABLE when the
 * engine cannot be reached and DOCKER_ACTION_FAILED when it refused the call.
 */
export interface DockerPort {
  /** Resolves when the engine answers `GET /_ping`. */
  ping(signal?: AbortSignal): Promise<void>
  /** Every container, running or not. */
  list(signal?: AbortSignal): Promise<ContainerSummary[]>
  /** undefined when no such container exists (404). */
  inspect(idOrName: string, signal?: AbortSignal): Promise<ContainerDetails | undefined>
  /**
   * Container events, from `sinceNs` (replayed from the engine's buffer: it keeps only its last 256)
   * and then live. The iterator ends when the engine closes the stream, throws when it fails.
   */
  events(options: { sinceNs?: bigint; signal: AbortSignal }): AsyncIterable<EngineEvent>
  /**
   * The container's log stream with `--timestamps`: multiplexed (8-byte frame headers) unless the
   * container has a TTY. The caller consumes and destroys it.
   */
  logs(id: string, options: LogsOptions): Promise<Readable>
  /** `POST /containers/{id}/restart?t=` */
  restart(id: string, options: { timeoutSeconds: number }): Promise<void>
  /** `POST /containers/{id}/start`; starting a running container is not an error. */
  start(id: string): Promise<void>
  /** `POST /containers/{id}/stop?t=`; stopping a stopped container is not an error. */
  stop(id: string, options: { timeoutSeconds: number }): Promise<void>
}

/** Where the engine is, as dockerode options. */
export type DockerConnection =
  | { readonly socketPath: string }
  | { readonly host: string; readonly port: number; readonly protocol: 'http' | 'https' }

/**
 * The engine address: `docker.host` from the config, else DOCKER_HOST, else `docker.socketPath`.
 * Accepts unix:///path, tcp://host:port and http(s)://host:port (a socket proxy).
 */
export function dockerConnection(
  docker: { readonly host?: string | undefined; readonly socketPath: string },
  env: Readonly<Record<string, string | undefined>>,
): DockerConnection {
  const address = docker.host ?? (env.DOCKER_HOST !== '' ? env.DOCKER_HOST : undefined)
  if (address === undefined) return { socketPath: docker.socketPath }
  if (address.startsWith('unix://')) return { socketPath: address.slice('unix://'.length) }
  const m = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(address)
  if (!m || m[2] === undefined || m[3] === undefined) {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `Docker address ${JSON.stringify(address)}: expected unix:///path, tcp://host:port or http(s)://host:port`,
    )
  }
  return {
    host: m[2],
    port: Number(m[3]),
    protocol: m[1] === 'https' ? 'https' : 'http',
  }
}

const zeroTime = '0001-01-01T00:00:00Z'

const labelsSchema = z
  .record(z.string(), z.string())
  .nullish()
  .transform((l) => l ?? {})

const summarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()).nullish(),
  Labels: labelsSchema,
  State: z.string().nullish(),
})

const inspectSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  Image: z.string().nullish(),
  Path: z.string().nullish(),
  Args: z.array(z.string()).nullish(),
  RestartCount: z.number().int().nullish(),
  Config: z
    .object({ Labels: labelsSchema, Tty: z.boolean().nullish(), Image: z.string().nullish() })
    .nullish(),
  HostConfig: z
    .object({
      RestartPolicy: z
        .object({ Name: z.string().nullish(), MaximumRetryCount: z.number().nullish() })
        .nullish(),
      NetworkMode: z.string().nullish(),
    })
    .nullish(),
  State: z.object({
    Status: z.enum(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']),
    Running: z.boolean().nullish(),
    Restarting: z.boolean().nullish(),
    Paused: z.boolean().nullish(),
    OOMKilled: z.boolean().nullish(),
    ExitCode: z.number().int().nullish(),
    StartedAt: z.string().nullish(),
    FinishedAt: z.string().nullish(),
    Health: z.object({ Status: z.string() }).nullish(),
  }),
  Mounts: z
    .array(
      z.object({
        Type: z.string().nullish(),
        Name: z.string().nullish(),
        Source: z.string().nullish(),
        Destination: z.string(),
        RW: z.boolean().nullish(),
      }),
    )
    .nullish(),
})

const eventSchema = z.object({
  Type: z.string().nullish(),
  Action: z.string().nullish(),
  status: z.string().nullish(),
  id: z.string().nullish(),
  Actor: z
    .object({
      ID: z.string().nullish(),
      Attributes: z.record(z.string(), z.string()).nullish(),
    })
    .nullish(),
  time: z.number().nullish(),
  timeNano: z.number().nullish(),
})

const healthStates = new Set(['starting', 'healthy', 'unhealthy', 'none'])

export function parseInspect(raw: unknown): ContainerDetails {
  const c = inspectSchema.parse(raw)
  const health = c.State.Health?.Status
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config?.Image ?? c.Image ?? '',
    labels: c.Config?.Labels ?? {},
    tty: c.Config?.Tty ?? false,
    restartCount: c.RestartCount ?? 0,
    restartPolicy: {
      name: c.HostConfig?.RestartPolicy?.Name ?? '',
      maximumRetryCount: c.HostConfig?.RestartPolicy?.MaximumRetryCount ?? 0,
    },
    networkMode: c.HostConfig?.NetworkMode ?? '',
    state: {
      status: c.State.Status,
      running: c.State.Running ?? false,
      restarting: c.State.Restarting ?? false,
      paused: c.State.Paused ?? false,
      oomKilled: c.State.OOMKilled ?? false,
      exitCode: c.State.ExitCode ?? 0,
      startedAt: c.State.StartedAt ?? zeroTime,
      finishedAt: c.State.FinishedAt ?? zeroTime,
      ...(health !== undefined && healthStates.has(health)
        ? { health: health as 'starting' | 'healthy' | 'unhealthy' | 'none' }
        : {}),
    },
    mounts: (c.Mounts ?? []).map((m) => ({
      type: m.Type ?? '',
      source: m.Source ?? '',
      destination: m.Destination,
      ...(m.Name ? { name: m.Name } : {}),
      rw: m.RW ?? false,
    })),
    ...(c.Path ? { entrypoint: c.Path } : {}),
    ...(c.Args ? { args: c.Args } : {}),
  }
}

/**
 * One JSON object of the events stream; undefined for non-container events. `timeNano` exceeds 2^53,
 * so JSON.parse rounds it: pass the digits read from the raw text as `exactTimeNano`.
 */
export function parseEvent(raw: unknown, exactTimeNano?: bigint): EngineEvent | undefined {
  const r = eventSchema.safeParse(raw)
  if (!r.success) return undefined
  const e = r.data
  if (e.Type != null && e.Type !== 'container') return undefined
  const action = e.Action ?? e.status
  const id = e.Actor?.ID ?? e.id
  if (!action || !id) return undefined
  const attributes = e.Actor?.Attributes ?? {}
  const timeNano =
    exactTimeNano ??
    (e.timeNano != null
      ? BigInt(Math.round(e.timeNano))
      : e.time != null
        ? BigInt(e.time) * 1_000_000_000n
        : 0n)
  return { action, id, name: (attributes.name ?? '').replace(/^\//, ''), attributes, timeNano }
}

const timeNanoText = /"timeNano":\s*(\d{1,25})/

/** RFC3339(Nano) -> ns since the epoch; undefined for the zero time or garbage. */
export function rfc3339ToNs(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text)
  if (!m || m[1] === undefined || m[3] === undefined) return undefined
  const ms = Date.parse(`${m[1]}${m[3]}`)
  if (Number.isNaN(ms) || ms <= 0) return undefined
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'))
  return BigInt(ms) * 1_000_000n + frac
}

/** ns since the epoch -> the `since` parameter of /events and /logs ("seconds.nanoseconds"). */
export function nsToSince(ns: bigint): string {
  const s = ns / 1_000_000_000n
  const frac = ns % 1_000_000_000n
  return `${s}.${frac.toString().padStart(9, '0')}`
}

interface HttpError {
  statusCode?: number
  code?: string
  message?: string
}

function isConnectionError(err: unknown): boolean {
  const e = err as HttpError
  return e.statusCode === undefined
}

function wrap(err: unknown, what: string): WatchdogError {
  if (err instanceof WatchdogError) return err
  const code = isConnectionError(err) ? 'DOCKER_UNAVAILABLE' : 'DOCKER_ACTION_FAILED'
  return new WatchdogError(code, `docker ${what}: ${errorMessage(err).trim()}`, { cause: err })
}

const requestTimeoutMs = 30_000

/** A fresh signal that aborts after the request timeout or when `outer` aborts. */
function timeoutSignal(outer?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(requestTimeoutMs)
  return outer ? AbortSignal.any([outer, t]) : t
}

/**
 * dockerode, loaded on first use: a one-shot command that never reaches the engine (`repair` without
 * a restart, `doctor` on files) does not pay for loading it, about 0.2 s of start-up (it brings ssh2
 * and gRPC with it).
 */
let dockerode: Promise<typeof Docker> | undefined

function loadDockerode(): Promise<typeof Docker> {
  dockerode ??= import('dockerode').then((m) => m.default)
  return dockerode
}

/** The dockerode adapter. */
export class DockerEngine implements DockerPort {
  readonly #connection: DockerConnection
  #client: Promise<Docker> | undefined

  constructor(connection: DockerConnection) {
    this.#connection = connection
  }

  /** The dockerode client, made on first use. */
  get #docker(): Promise<Docker> {
    this.#client ??= loadDockerode().then((Dockerode) => {
      const c = this.#connection
      // Every key is set explicitly: docker-modem merges DOCKER_HOST defaults into missing ones.
      return 'socketPath' in c
        ? new Dockerode({ socketPath: c.socketPath, host: undefined, port: undefined })
        : new Dockerode({ host: c.host, port: c.port, protocol: c.protocol, socketPath: undefined })
    })
    return this.#client
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const docker = await this.#docker
    try {
      await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, {
        abortSignal: timeoutSignal(signal),
      })
    } catch (err) {
      throw wrap(err, 'ping')
    }
  }

  async list(signal?: AbortSignal): Promise<ContainerSummary[]> {
    const docker = await this.#docker
    let raw: unknown
    try {
      raw = await docker.listContainers({ all: true, abortSignal: timeoutSignal(signal) })
    } catch (err) {
      throw wrap(err, 'list containers')
    }
    const parsed = z.array(summarySchema).safeParse(raw)
    if (!parsed.success) {
      throw new WatchdogError('DOCKER_ACTION_FAILED', 'docker list containers: unexpected answer', {
        cause: parsed.error,
      })
    }
    return parsed.data.map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? '').replace(/^\//, ''),
      labels: c.Labels,
      state: c.State ?? '',
    }))
  }

  async inspect(idOrName: string, signal?: AbortSignal): Promise<ContainerDetails | undefined> {
    const docker = await this.#docker
    let raw: unknown
    try {
      raw = await docker.getContainer(idOrName).inspect({ abortSignal: timeoutSignal(signal) })
    } catch (err) {
      if ((err as HttpError).statusCode === 404) return undefined
      throw wrap(err, `inspect ${idOrName}`)
    }
    try {
      return parseInspect(raw)
    } catch (err) {
      throw new WatchdogError(
        'DOCKER_ACTION_FAILED',
        `docker inspect ${idOrName}: unexpected answer`,
        {
          cause: err,
        },
      )
    }
  }

  async *events(options: { sinceNs?: bigint; signal: AbortSignal }): AsyncIterable<EngineEvent> {
    const docker = await this.#docker
    let stream: Readable
    try {
      stream = (await docker.getEvents({
        ...(options.sinceNs !== undefined ? { since: nsToSince(options.sinceNs) } : {}),
        filters: { type: ['container'] },
        abortSignal: options.signal,
      } as Docker.GetEventsOptions)) as unknown as Readable
    } catch (err) {
      throw wrap(err, 'events')
    }
    const onAbort = (): void => {
      stream.destroy()
    }
    options.signal.addEventListener('abort', onAbort, { once: true })
    let carry = ''
    try {
      for await (const chunk of stream) {
        carry += (chunk as Buffer).toString('utf8')
        // The engine writes one JSON object per event, each followed by a newline.
        let nl: number
        while ((nl = carry.indexOf('\n')) !== -1) {
          const line = carry.slice(0, nl).trim()
          carry = carry.slice(nl + 1)
          if (line === '') continue
          let json: unknown
          try {
            json = JSON.parse(line)
          } catch {
            continue
          }
          const exact = timeNanoText.exec(line)?.[1]
          const event = parseEvent(json, exact !== undefined ? BigInt(exact) : undefined)
          if (event) yield event
        }
      }
    } catch (err) {
      if (options.signal.aborted) return
      throw wrap(err, 'events stream')
    } finally {
      options.signal.removeEventListener('abort', onAbort)
      stream.destroy()
    }
  }

  async logs(id: string, options: LogsOptions): Promise<Readable> {
    const docker = await this.#docker
    try {
      const stream = (await docker.getContainer(id).logs({
        follow: options.follow as true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(options.sinceNs !== undefined
          ? { since: nsToSince(options.sinceNs) as unknown as number }
          : {}),
        ...(options.signal ? { abortSignal: options.signal } : {}),
      })) as unknown
      if (Buffer.isBuffer(stream)) {
        // follow=false answers with the whole body at once.
        return Readable.from([stream])
      }
      return stream as Readable
    } catch (err) {
      throw wrap(err, `logs ${id}`)
    }
  }

  async restart(id: string, options: { timeoutSeconds: number }): Promise<void> {
    const docker = await this.#docker
    try {
      await docker.getContainer(id).restart({ t: options.timeoutSeconds })
    } catch (err) {
      throw wrap(err, `restart ${id}`)
    }
  }

  async start(id: string): Promise<void> {
    const docker = await this.#docker
    try {
      await docker.getContainer(id).start()
    } catch (err) {
      if ((err as HttpError).statusCode === 304) return
      throw wrap(err, `start ${id}`)
    }
  }

  async stop(id: string, options: { timeoutSeconds: number }): Promise<void> {
    const docker = await this.#docker
    try {
      await docker.getContainer(id).stop({ t: options.timeoutSeconds })
    } catch (err) {
      if ((err as HttpError).statusCode === 304) return
      throw wrap(err, `stop ${id}`)
    }
  }
}
