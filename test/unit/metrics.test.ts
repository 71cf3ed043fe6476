// The HTTP endpoint and the metric families of `run`, with the engine unreachable (a socket path
// where nothing listens): explicit 0/1 series, every rule pre-initialised, low-cardinality labels,
// an exposition promtool accepts; /healthz, /readyz, extensions, address in use.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { configSchema } from '../../src/config/schema.js'
import { ruleIds } from '../../src/core/rules.js'
import { startDaemon } from '../../src/daemon.js'
import { isWatchdogError } from '../../src/errors.js'
import { createLogger } from '../../src/log.js'
import { waitFor } from '../helpers/wait.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import { startWatchdog, type TestWatchdog } from '../helpers/watchdog.js'

const dir = mkdtempSync(join(tmpdir(), 'nbw-metrics-'))
const noEngine = `unix://${join(dir, 'no-docker.sock')}`
const started: TestWatchdog[] = []

after(async () => {
  for (const w of started) await w.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** `promtool check metrics` findings (it exits non-zero when it has any). */
async function promtoolCheckMetrics(text: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (out += b.toString()))
    child.on('error', (err) =>
      reject(new Error('promtool is missing: run `bash scripts/test-env.sh`', { cause: err })),
    )
    child.on('close', () => resolve(out.split('\n').filter(Boolean)))
    child.stdin.end(text)
  })
}

test('explicit series from the start: docker_up 0, build_info, every rule at 0 for named targets', async () => {
  const wd = await startWatchdog(
    { targets: { names: ['netbird-management'], autoDetect: false } },
    { dockerHost: noEngine },
  )
  started.push(wd)
  const res = await fetch(`${wd.url}/metrics`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
  const text = await res.text()
  const samples = parseMetrics(text)
  const c = { container: 'netbird-management' }
  assert.equal(valueOf(samples, 'netbird_watchdog_docker_up'), 0)
  assert.equal(valueOf(samples, 'netbird_watchdog_build_info', { version: 'test' }), 1)
  for (const rule of ruleIds) {
    assert.equal(valueOf(samples, 'netbird_watchdog_log_findings_total', { ...c, rule }), 0, rule)
  }
  for (const name of [
    'container_restarts_total',
    'container_restart_count',
    'container_up',
    'container_last_exit_code',
    'container_oom_events_total',
    'container_deaths_total',
    'restart_loop',
    'log_lines_total',
    'log_truncated_lines_total',
  ]) {
    assert.equal(valueOf(samples, `netbird_watchdog_${name}`, c), 0, name)
  }
  assert.equal(
    valueOf(samples, 'netbird_watchdog_container_health_status', { ...c, status: 'none' }),
    1,
  )
  assert.ok(
    samples.some((s) => s.name === 'process_cpu_seconds_total'),
    'process defaults',
  )
  assert.ok(
    samples.some((s) => s.name === 'nodejs_heap_size_used_bytes'),
    'node defaults',
  )
  // The event loop: utilisation and lag read at the scrape, no delay histogram (it needs a timer).
  for (const name of ['nodejs_eventloop_utilization', 'nodejs_eventloop_lag_seconds']) {
    assert.ok(
      samples.some((s) => s.name === name),
      name,
    )
  }
  const utilization = valueOf(samples, 'nodejs_eventloop_utilization', {}) ?? -1
  assert.ok(utilization >= 0 && utilization <= 1, `utilization ${utilization}`)
  assert.deepEqual(
    samples.filter((s) => /^nodejs_eventloop_lag_(min|max|mean|stddev|p\d+)_/.test(s.name)),
    [],
  )
  // Low cardinality: only these label names on the watchdog's own series (self-healing's are part of
  // every daemon: its results, skip reasons, modes, checks, jobs and the IdP store's engine).
  const allowed = new Set([
    'container',
    'rule',
    'status',
    'version',
    'result',
    'reason',
    'mode',
    'check',
    'task',
    'engine',
    'evidence',
    'connector',
  ])
  for (const s of samples.filter((x) => x.name.startsWith('netbird_watchdog_'))) {
    for (const l of Object.keys(s.labels)) assert.ok(allowed.has(l), `${s.name}{${l}}`)
  }
  // The lint accepts the exposition, except: prom-client's own nodejs_active_*_total gauges, and
  // container_restart_count, a gauge named after Docker's RestartCount on purpose (docs/metrics.md).
  const problems = (await promtoolCheckMetrics(text)).filter(
    (p) =>
      !/^nodejs_active_\w+_total non-counter/.test(p) &&
      !/^netbird_watchdog_container_restart_count non-histogram/.test(p),
  )
  assert.deepEqual(problems, [])
})

test('/healthz answers while the engine is unreachable; /readyz says why it is not ready', async () => {
  const wd = await startWatchdog({}, { dockerHost: noEngine })
  started.push(wd)
  // The watcher keeps retrying with backoff; the process stays healthy.
  await waitFor('a reconnect attempt', () =>
    wd.records.some((r) => r.msg === 'engine session ended'),
  )
  assert.equal((await fetch(`${wd.url}/healthz`)).status, 200)
  const ready = await fetch(`${wd.url}/readyz`)
  assert.equal(ready.status, 503)
  assert.equal(await ready.text(), 'not ready: Docker engine unreachable\n')
  assert.equal((await fetch(`${wd.url}/`)).status, 200)
  assert.equal((await fetch(`${wd.url}/nope`)).status, 404)
  assert.equal((await fetch(`${wd.url}/metrics`, { method: 'POST' })).status, 405)
})

test('self-healing is wired by the composition root: POST /reset is mounted, other methods get 405', async () => {
  const wd = await startWatchdog({}, { dockerHost: noEngine })
  // No NETBIRD_WATCHDOG_RESET_TOKEN: the endpoint exists but is disabled.
  const reset = await fetch(`${wd.url}/reset`, { method: 'POST' })
  assert.equal(reset.status, 404)
  assert.match(await reset.text(), /reset is disabled/)
  const get = await fetch(`${wd.url}/reset`)
  assert.equal(get.status, 405)
  assert.equal(get.headers.get('allow'), 'POST')
  assert.ok(wd.daemon.selfHealing.healer)
  await wd.stop()
  await assert.rejects(fetch(`${wd.url}/healthz`))
})

test('an address in use is a configuration error, and nothing is left running', async () => {
  const first = await startWatchdog({}, { dockerHost: noEngine })
  started.push(first)
  const config = configSchema().parse({
    metrics: { address: `127.0.0.1:${first.daemon.address.port}` },
  })
  await assert.rejects(
    startDaemon({
      config,
      secrets: {},
      env: { DOCKER_HOST: noEngine },
      logger: createLogger({ level: 'silent' }),
      version: 'test',
    }),
    (err) => isWatchdogError(err, 'CONFIG_INVALID') && /cannot listen/.test(err.message),
  )
})
