// Errors never escape the self-healing flow: an engine that goes away between the repair's commit and
// its restart, or that is unreachable from the start, ends the flow as an outcome (metric, log line),
// never as an unhandled rejection; when it is back, the restart it cut short is finished. And a true bug anywhere in the process is logged with its stack by
// the process-level handler, which exits 70 so the container is restarted.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { connectorIssuer } from '../../src/core/connectors.js'
import { DockerEngine } from '../../src/docker/engine.js'
import { WatchdogEvents } from '../../src/docker/events.js'
import { createLogger } from '../../src/log.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import {
  SocketRelay,
  containerLogs,
  docker,
  engineSocket,
  inspectState,
  nodeImage,
  requireDocker,
  waitFor,
} from '../helpers/docker.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import {
  metricValue,
  removeTestContainers,
  runFakeNetbird,
  startIssuerPeer,
  startTestSelfHealing,
  type IssuerPeer,
} from '../helpers/selfheal.js'
import type { SelfHealing } from '../../src/heal/self-heal.js'
import { defer } from '../helpers/cleanup.js'

const jc = 'd1c9q2ll0fgs73cunqsg'

/** Unhandled rejections and uncaught exceptions seen while `fn` runs (node:test would fail on them too). */
async function noEscapes<T>(fn: () => Promise<T>): Promise<{ value: T; escaped: unknown[] }> {
  const escaped: unknown[] = []
  const onError = (err: unknown): void => void escaped.push(err)
  process.on('unhandledRejection', onError)
  process.on('uncaughtException', onError)
  try {
    const value = await fn()
    // Let any rejection still in flight surface.
    await new Promise((r) => setImmediate(r))
    return { value, escaped }
  } finally {
    process.off('unhandledRejection', onError)
    process.off('uncaughtException', onError)
  }
}

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-heal-err-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A NetBird v0.65.2+ stand-in whose connector's issuer lacks the provider's trailing slash, and a
 * healer that reaches the engine through a relay cut the moment the repair is committed (between the
 * commit and the restart).
 */
async function cutAtCommit(
  t: TestContext,
  name: string,
  events?: WatchdogEvents,
): Promise<{
  dbPath: string
  peer: IssuerPeer
  container: string
  relay: SocketRelay
  records: Array<Record<string, unknown>>
  registry: Registry
  heal: SelfHealing
}> {
  await requireDocker([nodeImage])
  const dir = tmp(t)
  const dbPath = join(dir, 'idp.db')
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  createIdpDb(dbPath, { connectors: oidcConnectors([{ id: jc, issuer: peer.origin }]) })
  const container = `${name}-${process.pid}`
  defer(t, () => removeTestContainers([container]))
  await runFakeNetbird({ name: container, store: { dataDir: dir }, variant: 'erro' })
  await waitFor(
    'the ERRO line',
    async () => (await containerLogs(container)).toString('utf8').includes('ERRO'),
    60_000,
  )
  const relay = new SocketRelay(join(dir, 'docker.sock'), engineSocket())
  await relay.listen()
  defer(t, () => relay.close())
  const records: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line) as Record<string, unknown>
        records.push(r)
        if (r.msg === 'IdP store repaired and verified; restarting the container') relay.cut()
      }
      cb()
    },
  })
  const registry = new Registry()
  const heal = startTestSelfHealing(t, {
    dbPath,
    dir,
    registry,
    ...(events !== undefined ? { events } : {}),
    logger: createLogger({ level: 'info' }, sink),
    docker: new DockerEngine({ socketPath: relay.path }),
    config: {
      mode: 'repair',
      targets: { names: [container], autoDetect: false },
      repair: { confirmSeconds: 2, restartBackoffSeconds: 0, stopTimeoutSeconds: 2 },
    },
  })
  return { dbPath, peer, container, relay, records, registry, heal }
}

test('the engine goes away between the commit and the restart: an outcome, not a crash', async (t) => {
  const { dbPath, peer, container, records, registry, heal } = await cutAtCommit(t, 'nbw-heal-err')
  const { value: outcome, escaped } = await noEscapes(() =>
    heal.healer.heal(container, '', { kind: 'finding', connectorId: jc }),
  )
  assert.deepEqual(escaped, [])
  assert.equal(outcome.kind, 'repaired')
  assert.equal(outcome.kind === 'repaired' && outcome.result, 'unconfirmed')
  assert.match(outcome.detail, /restarting the container failed/)
  assert.equal(
    await metricValue(registry, 'netbird_watchdog_repairs_total', {
      container,
      result: 'unconfirmed',
    }),
    1,
  )
  // The fix stays: nothing says it is wrong.
  const row = readConnectors(dbPath).find((r) => r.id === jc)!
  assert.equal(connectorIssuer(row), `${peer.origin}/`)

  // Unreachable from the start: a skip with its reason, nothing asked of the provider or the store.
  const { value: skipped, escaped: escaped2 } = await noEscapes(() =>
    heal.healer.heal(container, '', { kind: 'finding', connectorId: jc }),
  )
  assert.deepEqual(escaped2, [])
  assert.equal(skipped.kind === 'skipped' && skipped.reason, 'docker_unreachable')
  assert.ok(records.every((r) => r.level !== 'fatal'))
})

test('the engine goes away inside the restart after a repair: when it is back, the container it left stopped is started and the repair confirmed', async (t) => {
  // The container is stopped while the relay is cut, as an engine that went down between a
  // restart's stop and its start leaves it (moby/moby#46688).
  const events = new WatchdogEvents()
  const { dbPath, peer, container, relay, records, registry, heal } = await cutAtCommit(
    t,
    'nbw-heal-cut',
    events,
  )
  const cut = await heal.healer.heal(container, '', { kind: 'finding', connectorId: jc })
  assert.equal(cut.kind === 'repaired' && cut.result, 'unconfirmed', JSON.stringify(cut))
  await docker(['stop', '-t', '2', container])
  const stopped = await inspectState(container)
  assert.equal(stopped.Running, false)

  // The engine answers again (the watcher's reconnection says so on the bus).
  relay.restore()
  events.emit('docker', { up: true })
  await heal.healer.idle()
  const state = await inspectState(container)
  assert.equal(state.Running, true, 'the container is started again')
  assert.ok(Date.parse(state.StartedAt) > Date.parse(stopped.FinishedAt), 'a run after the stop')
  assert.ok(
    records.some(
      (r) => typeof r.msg === 'string' && r.msg.includes('still stopped by the restart'),
    ),
    'the log says why it was started',
  )
  assert.equal(
    await metricValue(registry, 'netbird_watchdog_repairs_total', { container, result: 'success' }),
    1,
  )
  assert.equal(await metricValue(registry, 'netbird_watchdog_rollbacks_total', { container }), 0)
  assert.equal(connectorIssuer(readConnectors(dbPath).find((r) => r.id === jc)!), `${peer.origin}/`)

  // Nothing is owed any more: another reconnection starts nothing.
  await docker(['stop', '-t', '2', container])
  events.emit('docker', { up: true })
  await heal.healer.idle()
  assert.equal((await inspectState(container)).Running, false, 'an operator stop is left alone')
})

test('a true bug: the process-level handler logs it with its stack and exits 70', async () => {
  const crash = fileURLToPath(new URL('../../dist/crash.js', import.meta.url))
  for (const how of ['reject', 'throw'] as const) {
    const script = `
      const { installCrashHandlers } = await import(${JSON.stringify(crash)})
      installCrashHandlers((code) => process.exit(code))
      ${how === 'reject' ? "Promise.reject(new Error('boom-' + 'reject'))" : "setImmediate(() => { throw new Error('boom-' + 'throw') })"}
      setTimeout(() => process.exit(0), 10000)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(code, 70, stderr)
    const line = JSON.parse(stderr.trim().split('\n').at(-1)!) as {
      level: string
      msg: string
      err: { message: string; stack: string }
    }
    assert.equal(line.level, 'fatal')
    assert.equal(line.err.message, `boom-${how}`)
    assert.match(line.err.stack, /boom-/)
  }
})
