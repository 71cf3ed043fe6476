// The Docker engine going away is a state, not a crash: the test stops and starts a dockerd of its
// own (PrivateEngine: own socket, data-root and containerd, started with the shared engine's flags;
// stopped only by the pid it started), while the watchdog watches a target on it.
// docker_up goes 0 then 1; the restart the engine makes when it comes back is counted once, and the
// logs are resumed without losing or double-counting a line.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { getRule } from '../../src/core/rules.js'
import {
  EventRecorder,
  PrivateEngine,
  busyboxImage,
  docker,
  requireDocker,
  runContainer,
  waitFor,
} from '../helpers/docker.js'
import { startWatchdog, type TestWatchdog } from '../helpers/watchdog.js'

const fatalLine = getRule('oidc-issuer-mismatch').examples[0]!

let engine: PrivateEngine
let wd: TestWatchdog | undefined
const recorders: EventRecorder[] = []

before(async () => {
  await requireDocker()
  engine = new PrivateEngine()
  await engine.start()
  await engine.loadImage(busyboxImage)
})

after(async () => {
  for (const r of recorders) r.stop()
  await wd?.stop()
  await engine.destroy()
})

test('dockerd stopped and started: no crash, docker_up 0 -> 1, the restart while it was away counted once, logs resumed exactly', async () => {
  const name = 'netbird-management'
  const host = engine.host
  wd = await startWatchdog({ docker: { reconnectMaxSeconds: 1 } }, { dockerHost: host })
  const w = wd
  const c = { container: name }
  recorders.push(EventRecorder.start([`container=${name}`], host))
  const id = await runContainer({
    name,
    host,
    restart: 'unless-stopped',
    stopTimeoutSeconds: 1,
    // One line per start: a benign one and NetBird's fatal line; then it stays up.
    cmd: [
      'sh',
      '-c',
      'echo starting; printf "%s\\n" "$1"; trap "exit 0" TERM; while :; do sleep 0.1; done',
      'sh',
      fatalLine,
    ],
  })
  // Auto-detection finds netbird-management on the private engine.
  await waitFor('found and read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 2
  })
  assert.equal(await w.metric('netbird_watchdog_docker_up'), 1)
  assert.equal(await w.metric('netbird_watchdog_container_restarts_total', c), 0)
  const downSeen = w.daemon.events.once('docker', (e) => !e.up)
  const upAgain = w.daemon.events.once('docker', (e) => e.up)

  await engine.stop()
  await downSeen
  assert.equal(await w.metric('netbird_watchdog_docker_up'), 0)
  assert.equal((await fetch(`${w.url}/readyz`)).status, 503)
  assert.equal((await fetch(`${w.url}/healthz`)).status, 200)

  const restartedAt = Date.now()
  await engine.start()
  // The new engine's own record, from before it started (its event buffer starts empty).
  const rec = EventRecorder.start([`container=${name}`], host, restartedAt)
  recorders.push(rec)
  await upAgain
  // The engine restarts the unless-stopped container when it comes back: one restart, once.
  await waitFor('the restart counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 1
  })
  await waitFor('the second start’s lines read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 4
  })
  // A later, known event settles everything before it: a manual restart must make exactly 2.
  await docker(['restart', '-t', '1', name], { host })
  await waitFor('the manual restart counted', async () => {
    return (await w.metric('netbird_watchdog_container_restarts_total', c)) === 2
  })
  await waitFor('the third start’s lines read', async () => {
    return (await w.metric('netbird_watchdog_log_lines_total', c)) === 6
  })
  const samples = await w.scrape()
  const v = (n: string, l: Record<string, string> = c): number | undefined =>
    samples.find((s) => s.name === n && Object.entries(l).every(([k, x]) => s.labels[k] === x))
      ?.value
  assert.equal(v('netbird_watchdog_container_restarts_total'), 2)
  assert.equal(v('netbird_watchdog_log_lines_total'), 6)
  assert.equal(v('netbird_watchdog_log_findings_total', { ...c, rule: 'oidc-issuer-mismatch' }), 3)
  assert.equal(v('netbird_watchdog_docker_up', {}), 1)
  assert.equal(v('netbird_watchdog_docker_reconnects_total', {}), 1)
  assert.equal(v('netbird_watchdog_container_up'), 1)
  // What the engine itself reports since it came back: the start at boot and the manual restart.
  await waitFor('the engine events recorded', () => rec.count('start', id) === 2)
  assert.equal((await fetch(`${w.url}/readyz`)).status, 200)
})
