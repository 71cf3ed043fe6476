// Starts the real daemon (src/daemon.ts) in-process for a test: config through the real schema,
// HTTP on 127.0.0.1 port 0, pino records captured and parsed, /metrics scraped over HTTP.
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { configSchema } from '../../src/config/schema.js'
import { startDaemon, type Daemon } from '../../src/daemon.js'
import { createLogger } from '../../src/log.js'
import { parseMetrics, valueOf, type Sample } from './metrics-text.js'
import { defer } from './cleanup.js'

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
  const collect = recordCollector(records)
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      collect(chunk)
      cb()
    },
  })
}

/**
 * A listener for a daemon's output (a child's stderr, `docker logs -f`): each JSON line becomes a
 * record in `records`; other lines (Docker's own) are left out.
 */
export function recordCollector(records: LogRecord[]): (chunk: Buffer) => void {
  let carry = ''
  return (chunk) => {
    carry += chunk.toString('utf8')
    const lines = carry.split('\n')
    carry = lines.pop() ?? ''
    for (const l of lines) if (l.startsWith('{')) records.push(JSON.parse(l) as LogRecord)
  }
}

/**
 * When the test fails, its daemon's last log records go to the test's output: what the watchdog
 * decided is what a failure on a busy CI machine needs explained.
 */
export function printRecordsIfFailed(t: TestContext, records: readonly LogRecord[]): void {
  defer(t, () => {
    // TestContext.passed: Node 21.7+ (undefined on Node 20, where nothing is printed).
    if ((t as { passed?: boolean }).passed !== false) return
    const last = records.slice(-80)
    process.stdout.write(
      `# the watchdog's last ${last.length} of ${records.length} log records:\n${last
        .map((r) => `#   ${typeof r.time === 'string' ? r.time : ''} ${r.level} ${r.msg}`)
        .join('\n')}\n`,
    )
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
