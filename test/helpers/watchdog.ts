// Starts the real daemon (src/daemon.ts) in-process for a test: config through the real schema,
// HTTP on 127.0.0.1 port 0, pino records captured and parsed, /metrics scraped over HTTP.
import { Writable } from 'node:stream'
import { configSchema } from '../../src/config/schema.js'
import { startDaemon, type Daemon } from '../../src/daemon.js'
import { createLogger } from '../../src/log.js'
import { parseMetrics, valueOf, type Sample } from './metrics-text.js'

export interface LogRecord {
  level: string
  msg: string
  [key: string]: unknown
}

export interface TestWatchdog {
  readonly daemon: Daemon
  readonly url: string
  readonly records: LogRecord[]
  scrape(): Promise<Sample[]>
  /** One sample's value (undefined when absent). */
  metric(name: string, labels?: Readonly<Record<string, string>>): Promise<number | undefined>
  stop(): Promise<void>
}

/** A stream for pino that parses each JSON line it is given into `records`. */
export function recordSink(records: LogRecord[]): Writable {
  let carry = ''
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      carry += chunk.toString('utf8')
      const lines = carry.split('\n')
      carry = lines.pop() ?? ''
      for (const l of lines) if (l) records.push(JSON.parse(l) as LogRecord)
      cb()
    },
  })
}

export async function startWatchdog(
  input: Record<string, unknown>,
  options: {
    dockerHost?: string
    watcherTuning?: { pingMs?: number; pingTimeoutMs?: number }
  } = {},
): Promise<TestWatchdog> {
  const config = configSchema().parse({
    mode: 'observe',
    ...input,
    metrics: { address: '127.0.0.1:0' },
  })
  const records: LogRecord[] = []
  const sink = recordSink(records)
  const logger = createLogger({ level: 'debug' }, sink)
  const env: Record<string, string | undefined> = {
    DOCKER_HOST: options.dockerHost ?? process.env.DOCKER_HOST,
  }
  const daemon = await startDaemon({
    config,
    secrets: {},
    env,
    logger,
    version: 'test',
    watcherTuning: { reconnectInitialMs: 100, ...options.watcherTuning },
  })
  const url = `http://127.0.0.1:${daemon.address.port}`
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${url}/metrics`)
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`)
    return parseMetrics(await res.text())
  }
  return {
    daemon,
    url,
    records,
    scrape,
    metric: async (name, labels = {}) => valueOf(await scrape(), name, labels),
    stop: () => daemon.stop(),
  }
}
