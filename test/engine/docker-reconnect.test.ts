// Losing the engine connection while the engine itself keeps working (a socket proxy or the network
// between them failing): a Unix-socket relay in front of the real engine that the test cuts and
// restores. Restarts that happen while the watchdog is cut off are recovered from the engine's
// event replay (`since`) and counted exactly once; the lines printed meanwhile are read once.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  EventRecorder,
  SocketRelay,
  docker,
  engineSocket,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { startWatchdog, type TestWatchdog } from '../helpers/watchdog.js'

const dir = mkdtempSync(join(tmpdir(), 'nbw-relay-'))
const relay = new SocketRelay(join(dir, 'docker.sock'), engineSocket())
const name = uniqueName('relay')
const frozenName = uniqueName('frozen')
let wd: TestWatchdog | undefined
let rec: EventRecorder | undefined
let wd2: TestWatchdog | undefined
let rec2: EventRecorder | undefined

before(async () => {
  await requireDocker()
  await relay.listen()
})

after(async () => {
  rec?.stop()
  rec2?.stop()
  await wd?.stop()
  await wd2?.stop()
  await relay.close()
  await removeContainers([name, frozenName])
  rmSync(dir, { recursive: true, force: true })
})

test('restarts while the watchdog is cut off from the engine are replayed with `since` and counted once', async () => {
  rec = EventRecorder.start([`container=${name}`])
  wd = await startWatchdog(
    { targets: { names: [name], autoDetect: false }, docker: { reconnectMaxSeconds: 1 } },
    { dockerHost: `unix://${relay.path}` },
  )
  const w = wd
  const c = { container: name }
  const id = await runContainer({
    name,
    stopTimeoutSeconds: 1,
    cmd: ['sh', '-c', 'echo started; trap "exit 0" TERM; while :; do sleep 0.1; done'],
  })
  await waitFor('first start read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 1
  })
  const down = w.daemon.events.once('docker', (e) => !e.up)
  relay.cut()
  await down
  assert.equal(await w.metric('netbird_watchdog_docker_up'), 0)
  // Two restarts the watchdog cannot see as they happen.
  await docker(['restart', '-t', '1', name])
  await docker(['restart', '-t', '1', name])
  await waitFor('the engine reported both', () => rec!.count('start', id) === 3)
  const up = w.daemon.events.once('docker', (e) => e.up)
  relay.restore()
  await up
  await waitFor('both restarts counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 2
  })
  await waitFor('the lines printed meanwhile read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 3
  })
  // A later event settles everything before it: one more restart must make exactly 3.
  await docker(['restart', '-t', '1', name])
  await waitFor('the next restart counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 3
  })
  await waitFor('its line read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 4
  })
  assert.equal(await w.metric('netbird_watchdog_container_restarts_total', c), 3)
  assert.equal(await w.metric('netbird_watchdog_container_deaths_total', c), 3)
  assert.equal(rec.count('start', id) - 1, 3, 'the engine reports the same')
  assert.equal(await w.metric('netbird_watchdog_docker_reconnects_total'), 1)
})

test('an engine connection that hangs (nothing answers, nothing closes) is detected by the ping and recovered', async () => {
  rec2 = EventRecorder.start([`container=${frozenName}`])
  wd2 = await startWatchdog(
    { targets: { names: [frozenName], autoDetect: false }, docker: { reconnectMaxSeconds: 1 } },
    { dockerHost: `unix://${relay.path}`, watcherTuning: { pingMs: 200, pingTimeoutMs: 500 } },
  )
  const w = wd2
  const c = { container: frozenName }
  const id = await runContainer({
    name: frozenName,
    stopTimeoutSeconds: 1,
    cmd: ['sh', '-c', 'echo started; trap "exit 0" TERM; while :; do sleep 0.1; done'],
  })
  await waitFor('first start read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 1
  })
  const down = w.daemon.events.once('docker', (e) => !e.up)
  relay.freeze()
  await docker(['restart', '-t', '1', frozenName])
  await down
  assert.equal(await w.metric('netbird_watchdog_docker_up'), 0)
  await waitFor('the engine reported the restart', () => rec2!.count('start', id) === 2)
  const up = w.daemon.events.once('docker', (e) => e.up)
  relay.restore()
  await up
  await waitFor('the restart counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 1
  })
  await waitFor('its line read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 2
  })
  await docker(['restart', '-t', '1', frozenName])
  await waitFor('the next restart counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 2
  })
  await waitFor('its line read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 3
  })
  assert.equal(await w.metric('netbird_watchdog_container_restarts_total', c), 2)
})
