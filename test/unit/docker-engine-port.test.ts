// The engine adapter's pure parts (address resolution, event and inspect parsing) and the typed
// event emitter the healer subscribes to.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  DockerEngine,
  dockerConnection,
  nsToSince,
  parseEvent,
  parseInspect,
  rfc3339ToNs,
} from '../../src/docker/engine.js'
import { WatchdogEvents } from '../../src/docker/events.js'
import { formatEngineTime } from '../../src/docker/log-stream.js'
import { isWatchdogError } from '../../src/errors.js'
import { defer } from '../helpers/cleanup.js'

test('engine address: config, then DOCKER_HOST, then the socket path', () => {
  const socketPath = '/var/run/docker.sock'
  assert.deepEqual(dockerConnection({ socketPath }, {}), { socketPath })
  assert.deepEqual(dockerConnection({ socketPath }, { DOCKER_HOST: '' }), { socketPath })
  assert.deepEqual(dockerConnection({ socketPath }, { DOCKER_HOST: 'unix:///run/d.sock' }), {
    socketPath: '/run/d.sock',
  })
  assert.deepEqual(dockerConnection({ socketPath }, { DOCKER_HOST: 'tcp://proxy:2375' }), {
    host: 'proxy',
    port: 2375,
    protocol: 'http',
  })
  assert.deepEqual(
    dockerConnection({ host: 'https://engine:2376', socketPath }, { DOCKER_HOST: 'tcp://x:1' }),
    { host: 'engine', port: 2376, protocol: 'https' },
  )
  assert.throws(
    () => dockerConnection({ socketPath }, { DOCKER_HOST: 'ssh://user@host' }),
    (err) => isWatchdogError(err, 'CONFIG_INVALID'),
  )
})

test('events keep their exact nanosecond time (JSON numbers would round it)', () => {
  const line =
    '{"status":"die","id":"abc","from":"img","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"1","name":"netbird-management","com.docker.compose.service":"management"}},"scope":"local","time":1764403200,"timeNano":1764403200123456789}'
  const e = parseEvent(JSON.parse(line), 1764403200123456789n)
  assert.ok(e)
  assert.equal(e.timeNano, 1764403200123456789n)
  assert.equal(e.action, 'die')
  assert.equal(e.name, 'netbird-management')
  assert.equal(e.attributes.exitCode, '1')
  assert.equal(parseEvent({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } }), undefined)
  assert.equal(nsToSince(1764403200000000042n), '1764403200.000000042')
})

test('engine times: RFC3339Nano <-> ns, the zero time is "never"', () => {
  assert.equal(rfc3339ToNs('2026-11-29T08:00:00.123456789Z'), 1795939200123456789n)
  assert.equal(rfc3339ToNs('2026-11-29T08:00:00Z'), 1795939200000000000n)
  assert.equal(rfc3339ToNs('0001-01-01T00:00:00Z'), undefined)
  // The same instant written with a zone offset, as NetBird v0.65.3+ does under a non-UTC TZ.
  assert.equal(rfc3339ToNs('2026-11-29T10:00:00.123456789+02:00'), 1795939200123456789n)
  assert.equal(rfc3339ToNs('2026-11-29T03:00:00-05:00'), 1795939200000000000n)
  assert.equal(formatEngineTime(1795939200123456789n), '2026-11-29T08:00:00.123456789Z')
  assert.equal(formatEngineTime(1795939200000000007n), '2026-11-29T08:00:00.000000007Z')
})

test('inspect: the fields the watchdog and the healer rely on', () => {
  const d = parseInspect({
    Id: 'abc',
    Name: '/netbird-management',
    RestartCount: 7,
    Config: { Labels: { a: 'b' }, Tty: false, Image: 'netbirdio/management:latest' },
    HostConfig: { RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 } },
    State: {
      Status: 'restarting',
      Running: true,
      Restarting: true,
      OOMKilled: false,
      ExitCode: 1,
      StartedAt: '2026-11-29T08:00:00.1Z',
      FinishedAt: '2026-11-29T08:00:01.2Z',
    },
    Mounts: [
      {
        Type: 'volume',
        Name: 'root_netbird_management',
        Source: '/var/lib/docker/volumes/root_netbird_management/_data',
        Destination: '/var/lib/netbird',
        RW: true,
      },
    ],
  })
  assert.equal(d.name, 'netbird-management')
  assert.equal(d.restartCount, 7)
  assert.deepEqual(d.restartPolicy, { name: 'unless-stopped', maximumRetryCount: 0 })
  assert.equal(d.state.status, 'restarting')
  assert.equal(d.state.health, undefined)
  assert.equal(d.mounts[0]?.name, 'root_netbird_management')
  assert.equal(d.mounts[0]?.destination, '/var/lib/netbird')
})

test('typed events: unsubscribe, once with a predicate, a throwing listener is contained', async () => {
  const errors: string[] = []
  const events = new WatchdogEvents((_err, event) => errors.push(event))
  const seen: boolean[] = []
  const off = events.on('docker', (e) => seen.push(e.up))
  events.on('docker', () => {
    throw new Error('listener bug')
  })
  const second = events.once('loop', (e) => e.active)
  events.emit('docker', { up: true })
  off()
  events.emit('docker', { up: false })
  events.emit('loop', { container: 'a', active: false })
  events.emit('loop', { container: 'a', active: true })
  assert.deepEqual(seen, [true])
  assert.deepEqual(errors, ['docker', 'docker'])
  assert.deepEqual(await second, { container: 'a', active: true })
})

test('a fake engine (faults a real one cannot produce on demand): a garbage line in /events is skipped, a 500 is DOCKER_ACTION_FAILED, a dead socket DOCKER_UNAVAILABLE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-fake-engine-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const socketPath = join(dir, 'docker.sock')
  // Recorded from the real engine (20.10): `docker run --rm … true`, GET /events?since&until.
  const recorded = readFileSync(
    fileURLToPath(new URL('../fixtures/engine/events-run-rm.jsonl', import.meta.url)),
    'utf8',
  )
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      // A torn line first (the fault), then the recorded bytes split mid-object.
      res.write('{"status":"sta\n')
      res.write(recorded.slice(0, 50))
      res.end(recorded.slice(50))
      return
    }
    res.writeHead(500, { 'content-type': 'application/json' })
    res.end('{"message":"simulated engine failure"}\n')
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  defer(t, () => new Promise<void>((resolve) => server.close(() => resolve())))
  const engine = new DockerEngine({ socketPath })
  const seen = []
  for await (const e of engine.events({ signal: new AbortController().signal })) seen.push(e)
  assert.deepEqual(
    seen.map((e) => e.action),
    ['create', 'attach', 'start', 'die', 'destroy'],
  )
  const exact = [...recorded.matchAll(/"timeNano":(\d+)/g)].map((m) => BigInt(m[1]!))
  assert.deepEqual(
    seen.map((e) => e.timeNano),
    exact,
  )
  assert.equal(seen[3]?.attributes.exitCode, '0')
  assert.equal(seen[0]?.name, 'netbird-management-rec')
  await assert.rejects(engine.list(), (err) => isWatchdogError(err, 'DOCKER_ACTION_FAILED'))
  const gone = new DockerEngine({ socketPath: join(dir, 'nothing.sock') })
  await assert.rejects(gone.ping(), (err) => isWatchdogError(err, 'DOCKER_UNAVAILABLE'))
})
