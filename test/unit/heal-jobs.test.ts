// Scheduler overlap guard, webhook notifier and POST /reset handler, each against real peers
// (node-cron timers, a real HTTP server on 127.0.0.1) — no module mocks.
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { createLogger } from '../../src/log.js'
import { createHealMetrics } from '../../src/heal/metrics.js'
import { createResetHandler } from '../../src/heal/reset.js'
import { startScheduler } from '../../src/heal/scheduler.js'
import { createNotifier } from '../../src/heal/webhook.js'
import { waitFor } from '../helpers/wait.js'
import { defer } from '../helpers/cleanup.js'

function sinkLogger(): {
  logger: ReturnType<typeof createLogger>
  lines: Array<Record<string, unknown>>
} {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l))
      cb()
    },
  })
  return { logger: createLogger({ level: 'debug' }, stream), lines }
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  const value = metric?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  )
  return value?.value
}

test('overlapping runs of a job are skipped and counted, never queued', async (t) => {
  const registry = new Registry()
  const metrics = createHealMetrics(registry, 'repair')
  const { logger } = sinkLogger()
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let runs = 0
  const scheduler = startScheduler({
    timezone: 'UTC',
    metrics,
    logger,
    jobs: [
      {
        name: 'backup',
        expression: '',
        run: async () => {
          runs++
          await gate
        },
      },
    ],
  })
  defer(t, () => scheduler.stop())
  const first = scheduler.runNow('backup')
  assert.equal(await scheduler.runNow('backup'), false)
  assert.equal(await scheduler.runNow('backup'), false)
  release()
  assert.equal(await first, true)
  assert.equal(runs, 1)
  assert.equal(
    await metricValue(registry, 'netbird_watchdog_scheduled_runs_skipped_total', {
      task: 'backup',
    }),
    2,
  )
  assert.equal(
    await metricValue(registry, 'netbird_watchdog_scheduled_runs_total', { task: 'backup' }),
    1,
  )
  assert.equal(await scheduler.runNow('backup'), true)
})

test('a real cron tick runs the job; a job that throws is logged, not fatal; stop waits for it', async () => {
  const registry = new Registry()
  const metrics = createHealMetrics(registry, 'repair')
  const { logger, lines } = sinkLogger()
  let ticks = 0
  const scheduler = startScheduler({
    timezone: 'UTC',
    metrics,
    logger,
    jobs: [
      {
        name: 'integrity',
        expression: '* * * * * *', // every second
        run: () => {
          ticks++
          return Promise.reject(new Error('boom'))
        },
      },
    ],
  })
  await waitFor('a cron tick', () => ticks >= 1, 10_000, 1)
  await scheduler.stop()
  const after = ticks
  // The error is logged as an object (pino keeps its type, message and stack).
  assert.ok(
    lines.some(
      (l) =>
        l.msg === 'scheduled job failed' &&
        (l.err as { message?: string } | undefined)?.message === 'boom',
    ),
  )
  assert.equal(await scheduler.runNow('integrity'), false) // stopped
  assert.equal(ticks, after)
})

async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

test('webhook: JSON POST for subscribed events only; a failing endpoint is logged without its URL', async (t) => {
  const received: Array<Record<string, unknown>> = []
  const hook = await listen((req, res) => {
    void readBody(req).then((body) => {
      received.push({ method: req.method, type: req.headers['content-type'], ...JSON.parse(body) })
      res.writeHead(received.length === 2 ? 500 : 204).end()
    })
  })
  defer(t, () => hook.close())
  const { logger, lines } = sinkLogger()
  const secretUrl = `${hook.url}/hook?token=s3cret-webhook-token`
  const notifier = createNotifier({
    url: secretUrl,
    events: ['repair', 'rollback'],
    timeoutMs: 5000,
    version: '9.9.9',
    logger,
  })
  notifier.notify({ event: 'detection', container: 'nb', text: 'not subscribed' })
  notifier.notify({
    event: 'repair',
    container: 'nb',
    text: 'recovered',
    details: { backup: '/b' },
  })
  await notifier.flush()
  notifier.notify({ event: 'rollback', container: 'nb', text: 'rolled back' })
  await notifier.flush()
  assert.equal(received.length, 2)
  assert.deepEqual(
    received.map((r) => [r.method, r.type, r.event, r.container, r.text, r.source, r.version]),
    [
      ['POST', 'application/json', 'repair', 'nb', 'recovered', 'netbird-watchdog', '9.9.9'],
      ['POST', 'application/json', 'rollback', 'nb', 'rolled back', 'netbird-watchdog', '9.9.9'],
    ],
  )
  assert.deepEqual(received[0]!.details, { backup: '/b' })
  assert.ok(lines.some((l) => l.msg === 'webhook rejected' && l.status === 500))
  // Unreachable endpoint: logged, never thrown.
  const dead = createNotifier({
    url: `${hook.url.replace(/:\d+$/, ':1')}/x?token=s3cret-webhook-token`,
    events: ['repair'],
    timeoutMs: 2000,
    version: 'x',
    logger,
  })
  dead.notify({ event: 'repair', container: 'nb', text: 'x' })
  await dead.flush()
  assert.ok(lines.some((l) => l.msg === 'webhook failed'))
  assert.ok(!JSON.stringify(lines).includes('s3cret-webhook-token'))
})

test('webhook: an endpoint that never answers is cut off at the timeout, its socket closed; a redirect is not followed', async (t) => {
  const closed: string[] = []
  const hung = await listen((req) => {
    void readBody(req) // read the POST, never answer
    req.socket.once('close', () => closed.push('hung'))
  })
  defer(t, () => hung.close())
  const elsewhere: string[] = []
  const target = await listen((req, res) => {
    elsewhere.push(req.method ?? '')
    res.writeHead(204).end()
  })
  defer(t, () => target.close())
  const moved = await listen((_req, res) => {
    res.writeHead(307, { location: `${target.url}/hook` }).end()
  })
  defer(t, () => moved.close())
  const { logger, lines } = sinkLogger()
  for (const url of [`${hung.url}/hook`, `${moved.url}/hook`]) {
    const notifier = createNotifier({
      url,
      events: ['repair'],
      timeoutMs: 300,
      version: 'x',
      logger,
    })
    notifier.notify({ event: 'repair', container: 'nb', text: 'x' })
    await notifier.flush()
  }
  const failed = lines.find((l) => l.msg === 'webhook failed')
  assert.equal(failed?.reason, 'timeout', JSON.stringify(lines))
  // The abort tears the connection down: the endpoint sees its socket close, not a lingering one.
  await waitFor('the hung endpoint sees its connection closed', () => closed.length === 1, 10_000)
  assert.ok(lines.some((l) => l.msg === 'webhook rejected' && l.status === 307))
  assert.deepEqual(elsewhere, [], 'the redirect target got nothing')
})

test('POST /reset: bearer token required, constant answer shapes, read-only methods refused', async (t) => {
  const calls: Array<string | undefined> = []
  const token = 'reset-token-0123456789abcdef'
  const { logger, lines } = sinkLogger()
  const handler = createResetHandler({
    token,
    healer: { reset: (c) => (calls.push(c), c === undefined ? ['a', 'b'] : [c]) },
    logger,
  })
  const srv = await listen(handler)
  defer(t, () => srv.close())
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${srv.url}${path}`, { method: 'POST', headers })
  assert.equal((await post('/reset')).status, 401)
  assert.equal((await post('/reset', { authorization: 'Bearer wrong' })).status, 401)
  assert.equal((await post('/reset', { authorization: `Basic ${token}` })).status, 401)
  assert.equal((await fetch(`${srv.url}/reset`)).status, 405)
  assert.deepEqual(calls, [])
  const ok = await post('/reset', { authorization: `Bearer ${token}` })
  assert.equal(ok.status, 200)
  assert.deepEqual(await ok.json(), { reset: ['a', 'b'] })
  const one = await post('/reset?container=netbird-management', {
    authorization: `Bearer ${token}`,
  })
  assert.deepEqual(await one.json(), { reset: ['netbird-management'] })
  assert.deepEqual(calls, [undefined, 'netbird-management'])
  assert.ok(!JSON.stringify(lines).includes(token))

  const disabled = await listen(
    createResetHandler({ token: undefined, healer: { reset: () => [] }, logger }),
  )
  defer(t, () => disabled.close())
  const res = await fetch(`${disabled.url}/reset`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  })
  assert.equal(res.status, 404)
})

test('heal metrics: every series a rule needs exists with 0 before anything happens', async () => {
  const registry = new Registry()
  const metrics = createHealMetrics(registry, 'dry-run')
  metrics.addTarget('netbird-management')
  const text = await registry.metrics()
  for (const line of [
    'netbird_watchdog_repairs_total{container="netbird-management",result="success"} 0',
    'netbird_watchdog_repairs_total{container="netbird-management",result="rolled_back"} 0',
    'netbird_watchdog_repair_failures_total{container="netbird-management"} 0',
    'netbird_watchdog_rollbacks_total{container="netbird-management"} 0',
    'netbird_watchdog_repairs_skipped_total{container="netbird-management",reason="breaker_open"} 0',
    'netbird_watchdog_breaker_open{container="netbird-management"} 0',
    'netbird_watchdog_last_repair_timestamp_seconds 0',
    'netbird_watchdog_backups_total 0',
    'netbird_watchdog_backup_failures_total 0',
    'netbird_watchdog_last_backup_timestamp_seconds 0',
    'netbird_watchdog_mode{mode="dry-run"} 1',
    'netbird_watchdog_mode{mode="repair"} 0',
    'netbird_watchdog_scheduled_runs_skipped_total{task="doctor"} 0',
  ]) {
    assert.ok(text.includes(line), `missing: ${line}`)
  }
})
