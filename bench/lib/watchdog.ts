// Runs the real daemon (`node dist/cli.js run --config FILE`) as a child process for the benches and
// fault tests: writes its config, waits until /readyz answers, reads its pino JSON log lines as they
// come, scrapes /metrics. Stop with stop() (SIGTERM, then SIGKILL after a deadline) or kill(). The
// daemon runs with the image's NODE_OPTIONS, on the bench's node unless another runtime is given
// (bench/lib/runtime.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMetrics, sumOf, type Sample } from './metrics-text.js'
import { nodeEnv, shippedRuntime, type Runtime } from './runtime.js'
import { freePort } from '../../test/helpers/net.js'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const cliPath = join(repoRoot, 'dist/cli.js')

export interface LogRecord {
  level: string
  time: string
  msg: string
  /** Arrival time of the line at the bench (ms since epoch). */
  receivedAt: number
  [key: string]: unknown
}

export interface WatchdogOptions {
  /** The config (written as JSON, which is YAML); metrics.address is filled in. */
  config: Record<string, unknown>
  env?: Record<string, string>
  /** Called for every parsed log record (keep it cheap). */
  onRecord?: (record: LogRecord) => void
  /** Keep records for which this returns true (default: warn and above, and `finding` records). */
  keep?: (record: LogRecord) => boolean
  readyTimeoutMs?: number
  /** Wait for /readyz (engine reachable, targets resolved) rather than /healthz. */
  waitReady?: boolean
  /** The node and checkout to run (default: this node, this checkout). */
  runtime?: Runtime
}

/**
 * The daemon in observe mode with the scheduled jobs off, watching `targets` (auto-detection off):
 * what the benches and fault runs measure. `extra` adds or overrides top-level keys.
 */
export function observeConfig(
  targets: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    mode: 'observe',
    targets: { ...targets, autoDetect: false },
    schedules: { doctor: '', backup: '', integrity: '' },
    ...extra,
  }
}

const defaultKeep = (r: LogRecord): boolean =>
  r.level === 'warn' || r.level === 'error' || r.level === 'fatal' || 'rule' in r

export class Watchdog {
  readonly records: LogRecord[] = []
  readonly stderrTail: string[] = []
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  readonly exited: Promise<void>
  #carry = ''

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    private readonly options: WatchdogOptions,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve()
      })
    })
    const onData = (b: Buffer): void => this.#onOutput(b.toString('utf8'))
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(options: WatchdogOptions): Promise<Watchdog> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-'))
    const configFile = join(dir, 'watchdog.yml')
    const config = {
      ...options.config,
      metrics: { address: `127.0.0.1:${port}` },
    }
    writeFileSync(configFile, JSON.stringify(config, null, 2))
    const runtime = options.runtime ?? shippedRuntime
    const child = spawn(
      runtime.node,
      [join(runtime.root, 'dist/cli.js'), 'run', '--config', configFile],
      {
        cwd: runtime.root,
        env: nodeEnv(options.env),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const wd = new Watchdog(child, port, dir, options)
    try {
      if (options.waitReady === false) {
        // No target yet (it appears later): wait until the engine is connected instead.
        await wd.waitHttp('/healthz', options.readyTimeoutMs)
        await wd.waitMetric('netbird_watchdog_docker_up', (v) => v === 1, options.readyTimeoutMs)
      } else {
        await wd.waitHttp('/readyz', options.readyTimeoutMs)
      }
    } catch (err) {
      await wd.stop()
      throw err
    }
    return wd
  }

  #onOutput(text: string): void {
    const now = Date.now()
    this.#carry += text
    const lines = this.#carry.split('\n')
    this.#carry = lines.pop() ?? ''
    for (const line of lines) {
      if (!line.startsWith('{')) {
        this.stderrTail.push(line)
        if (this.stderrTail.length > 50) this.stderrTail.shift()
        continue
      }
      let record: LogRecord
      try {
        record = { ...(JSON.parse(line) as LogRecord), receivedAt: now }
      } catch {
        this.stderrTail.push(line)
        continue
      }
      this.options.onRecord?.(record)
      if ((this.options.keep ?? defaultKeep)(record)) this.records.push(record)
    }
  }

  /** Polls an HTTP path until it answers 200, with a deadline. */
  async waitHttp(path: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(
          `watchdog exited (${this.exit.code ?? this.exit.signal}) before ${path} answered:\n${this.stderrTail.join('\n')}`,
        )
      }
      try {
        const res = await fetch(this.baseUrl + path)
        await res.arrayBuffer()
        if (res.ok) return
        last = `HTTP ${res.status}`
      } catch (err) {
        last = err instanceof Error ? err.message : String(err)
      }
      await delay(100)
    }
    throw new Error(`watchdog ${path} did not answer 200 within ${timeoutMs} ms (${last})`)
  }

  /** Polls /metrics until the sum of `name` (with `labels`) satisfies `ok`, with a deadline. */
  async waitMetric(
    name: string,
    ok: (value: number) => boolean,
    timeoutMs = 30_000,
    labels: Readonly<Record<string, string>> = {},
  ): Promise<number> {
    const deadline = Date.now() + timeoutMs
    let value = Number.NaN
    for (;;) {
      if (this.exit) throw new Error(`watchdog exited (${this.exit.code ?? this.exit.signal})`)
      const samples = await this.scrape().catch(() => undefined)
      if (samples && samples.some((s) => s.name === name)) {
        value = sumOf(samples, name, labels)
        if (ok(value)) return value
      }
      if (Date.now() > deadline) {
        throw new Error(`${name} ${JSON.stringify(labels)} = ${value} after ${timeoutMs} ms`)
      }
      await delay(50)
    }
  }

  async scrape(): Promise<Sample[]> {
    const res = await fetch(`${this.baseUrl}/metrics`)
    return parseMetrics(await res.text())
  }

  /** Resolves with the first kept record matching `pred` (already seen or future), with a deadline. */
  async waitRecord(pred: (r: LogRecord) => boolean, timeoutMs = 30_000): Promise<LogRecord> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.records.find(pred)
      if (found) return found
      if (this.exit) throw new Error(`watchdog exited (${this.exit.code ?? this.exit.signal})`)
      if (Date.now() > deadline)
        throw new Error(`no matching watchdog log record within ${timeoutMs} ms`)
      await delay(20)
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exit) this.child.kill(signal)
  }

  /** SIGTERM, wait up to `timeoutMs` for a clean exit, then SIGKILL. Removes the temp config dir. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.exit) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
      await this.exited
      clearTimeout(timer)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
