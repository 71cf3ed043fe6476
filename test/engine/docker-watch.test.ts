// `run` against the real Docker engine (CONTRIBUTING.md, "The test environment"): restarts counted from engine events and
// compared with the engine's own `docker events`, the restart loop, NetBird's fatal line classified,
// manual restarts, recreate, late start, label and compose selection, TTY, a 10 MB line and binary
// output. Everything is asserted on scraped /metrics (and the watcher's typed events).
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { getRule } from '../../src/core/rules.js'
import {
  EventRecorder,
  containerLogs,
  docker,
  inspectState,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { startWatchdog, type TestWatchdog } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

// NetBird v0.62–v0.65.1's crash-loop line (docs/reference/netbird.md, "Log lines"), as the rule catalogue has it.
const fatalLine = getRule('oidc-issuer-mismatch').examples[0]!
const printFatalThenExit = ['sh', '-c', 'printf "%s\\n" "$1" >&2; exit 1', 'sh', fatalLine]
// Stays up; exits 0 on SIGTERM (sh as PID 1 has no default signal handling).
const stayUp = 'trap "exit 0" TERM; while :; do sleep 0.1; done'

const created: string[] = []
const watchdogs: TestWatchdog[] = []
const recorders: EventRecorder[] = []

before(async () => {
  await requireDocker()
})

after(async () => {
  for (const r of recorders) r.stop()
  for (const w of watchdogs) await w.stop()
  await removeContainers(created)
})

async function watch(input: Record<string, unknown>): Promise<TestWatchdog> {
  const wd = await startWatchdog(input)
  watchdogs.push(wd)
  return wd
}

function record(name: string): EventRecorder {
  const rec = EventRecorder.start([`container=${name}`])
  recorders.push(rec)
  return rec
}

function newName(prefix: string): string {
  const name = uniqueName(prefix)
  created.push(name)
  return name
}

/** Polls until `actual()` equals `expected()`, then asserts it (so a mismatch shows both values). */
async function settles(
  what: string,
  actual: () => Promise<number | undefined>,
  expected: () => number | Promise<number>,
  timeoutMs = 30_000,
): Promise<void> {
  let a: number | undefined
  let e = NaN
  await waitFor(
    what,
    async () => {
      a = await actual()
      e = await expected()
      return a === e
    },
    timeoutMs,
  ).catch(() => undefined)
  assert.equal(a, e, what)
}

function countNewlines(b: Buffer): number {
  let n = 0
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++
  return n
}

test('a container printing NetBird’s fatal line in a restart loop: every restart counted as the engine reports it, loop flagged, line classified', async () => {
  const name = newName('loop')
  const rec = record(name)
  const wd = await watch({
    targets: { names: [name], autoDetect: false },
    detection: { loopDeaths: 3, loopWindowSeconds: 300, stableSeconds: 600 },
  })
  const c = { container: name }
  // Named targets have explicit series before the container exists; every rule starts at 0.
  assert.equal(await wd.metric('netbird_watchdog_container_restarts_total', c), 0)
  assert.equal(await wd.metric('netbird_watchdog_restart_loop', c), 0)
  for (const rule of ['oidc-issuer-mismatch', 'connector-open-failed', 'fatal']) {
    assert.equal(await wd.metric('netbird_watchdog_log_findings_total', { ...c, rule }), 0, rule)
  }
  const loopSeen = wd.daemon.events.once('loop', (e) => e.container === name && e.active)

  const id = await runContainer({ name, restart: 'unless-stopped', cmd: printFatalThenExit })
  await waitFor(
    'four restarts',
    async () => ((await wd.metric('netbird_watchdog_container_restarts_total', c)) ?? 0) >= 4,
    60_000,
  )
  await loopSeen
  assert.equal(await wd.metric('netbird_watchdog_restart_loop', c), 1)

  // Stop the loop and let the engine settle, then compare with what the engine itself reported.
  await docker(['update', '--restart', 'no', name])
  await waitFor('the container to stay exited', async () => {
    const s = await inspectState(name)
    return s.Status === 'exited' && !s.Restarting
  })
  await settles(
    'restarts_total = engine start events - 1',
    () => wd.metric('netbird_watchdog_container_restarts_total', c),
    () => rec.count('start', id) - 1,
  )
  const starts = rec.count('start', id)
  assert.ok(starts >= 5, `the engine restarted it (${starts} starts)`)
  await settles(
    'deaths_total = engine die events',
    () => wd.metric('netbird_watchdog_container_deaths_total', c),
    () => rec.count('die', id),
  )
  await settles(
    'one oidc-issuer-mismatch finding per start',
    () => wd.metric('netbird_watchdog_log_findings_total', { ...c, rule: 'oidc-issuer-mismatch' }),
    () => starts,
  )
  await settles(
    'log_lines_total = lines in docker logs',
    () => wd.metric('netbird_watchdog_log_lines_total', c),
    async () => countNewlines(await containerLogs(name)),
  )
  const samples = await wd.scrape()
  const value = (n: string, l: Record<string, string> = c): number | undefined =>
    samples.find(
      (s) =>
        s.name === n &&
        Object.entries(l).every(([k, v]) => s.labels[k] === v) &&
        Object.keys(s.labels).length === Object.keys(l).length,
    )?.value
  assert.equal(value('netbird_watchdog_container_up'), 0)
  assert.equal(value('netbird_watchdog_container_last_exit_code'), 1)
  assert.equal(value('netbird_watchdog_restart_loop'), 1)
  assert.equal(value('netbird_watchdog_docker_up', {}), 1)
  assert.equal(value('netbird_watchdog_log_findings_total', { ...c, rule: 'fatal' }), 0)
  assert.ok(
    (value('netbird_watchdog_last_finding_timestamp_seconds', {
      ...c,
      rule: 'oidc-issuer-mismatch',
    }) ?? 0) >
      Date.now() / 1000 - 600,
  )
  // RestartCount is mirrored as a gauge (restart-policy restarts only).
  const restartCount = Number(await docker(['inspect', '--format', '{{.RestartCount}}', name]))
  assert.equal(value('netbird_watchdog_container_restart_count'), restartCount)
  // The finding is logged once per line with its fields.
  const logged = wd.records.filter((r) => r.msg === 'finding' && r.container === name)
  assert.equal(logged.length, starts)
  assert.equal(logged[0]?.rule, 'oidc-issuer-mismatch')
  assert.equal(logged[0]?.returnedIssuer, 'https://oauth.id.jumpcloud.com/')
})

test('manual `docker restart` and stop/start are counted (RestartCount does not see them)', async () => {
  const name = newName('manual')
  const rec = record(name)
  const wd = await watch({ targets: { names: [name], autoDetect: false } })
  const c = { container: name }
  const id = await runContainer({
    name,
    stopTimeoutSeconds: 1,
    cmd: ['sh', '-c', `echo up; ${stayUp}`],
  })
  await waitFor('up', async () => (await wd.metric('netbird_watchdog_container_up', c)) === 1)
  await docker(['restart', '-t', '1', name])
  await settles(
    'one restart',
    () => wd.metric('netbird_watchdog_container_restarts_total', c),
    () => 1,
  )
  await docker(['stop', '-t', '1', name])
  await waitFor('down', async () => (await wd.metric('netbird_watchdog_container_up', c)) === 0)
  await docker(['start', name])
  await settles(
    'two restarts',
    () => wd.metric('netbird_watchdog_container_restarts_total', c),
    () => 2,
  )
  assert.equal(rec.count('start', id) - 1, 2, 'the engine reports the same')
  assert.equal(await wd.metric('netbird_watchdog_container_restart_count', c), 0)
  assert.equal(await wd.metric('netbird_watchdog_container_up', c), 1)
  await settles(
    'three "up" lines',
    () => wd.metric('netbird_watchdog_log_lines_total', c),
    () => 3,
  )
})

test('a restart within seconds of a start the watchdog found by inspect is counted', async (t) => {
  // The container starts before the watchdog, so that start is accounted from inspect and its own
  // event is not replayed (it precedes the event stream's `since`); it then dies and the engine
  // restarts it at once (restart backoff 100 ms), within the slack where the next start event
  // could be mistaken for the found start's own.
  const name = newName('quick')
  const state = mkdtempSync(join(tmpdir(), 'nbw-quick-'))
  chmodSync(state, 0o777)
  defer(t, () => rmSync(state, { recursive: true, force: true }))
  const rec = record(name)
  const id = await runContainer({
    name,
    restart: 'on-failure:1',
    volumes: [`${state}:/state`],
    cmd: ['sh', '-c', 'until [ -e /state/go ]; do sleep 0.05; done; exit 1'],
  })
  const wd = await watch({ targets: { names: [name], autoDetect: false } })
  const c = { container: name }
  await waitFor(
    'the target found',
    async () => (await wd.metric('netbird_watchdog_container_up', c)) === 1,
  )
  writeFileSync(join(state, 'go'), '')
  await waitFor('the restart to die as well', async () => {
    const s = await inspectState(name)
    return s.Status === 'exited' && !s.Restarting
  })
  assert.equal(rec.count('start', id), 2, 'the engine started it twice')
  await settles(
    'deaths_total = engine die events',
    () => wd.metric('netbird_watchdog_container_deaths_total', c),
    () => rec.count('die', id),
  )
  await settles(
    'one restart',
    () => wd.metric('netbird_watchdog_container_restarts_total', c),
    () => 1,
  )
})

test('a recreated container (new id, same name) is followed; recreate is not a restart', async () => {
  const name = newName('recreate')
  const wd = await watch({ targets: { names: [name], autoDetect: false } })
  const c = { container: name }
  const finding = { ...c, rule: 'oidc-issuer-mismatch' }
  const cmd = ['sh', '-c', `printf "%s\\n" "$1"; ${stayUp}`, 'sh', fatalLine]
  const id1 = await runContainer({ name, stopTimeoutSeconds: 1, cmd })
  await settles(
    'first finding',
    () => wd.metric('netbird_watchdog_log_findings_total', finding),
    () => 1,
  )
  await docker(['rm', '-f', name])
  await waitFor('the old one dropped', () => wd.daemon.watcher.targets.every((t) => t.id !== id1))
  const id2 = await runContainer({ name, stopTimeoutSeconds: 1, cmd })
  await settles(
    'second finding',
    () => wd.metric('netbird_watchdog_log_findings_total', finding),
    () => 2,
  )
  await waitFor('up', async () => (await wd.metric('netbird_watchdog_container_up', c)) === 1)
  assert.deepEqual(
    wd.daemon.watcher.targets.map((t) => t.id),
    [id2],
  )
  assert.equal(await wd.metric('netbird_watchdog_container_restarts_total', c), 0)
})

test('a target renamed while it runs: up under its new name, down under the old one; its lines carry the new name', async () => {
  const first = newName('rename')
  const second = newName('renamed')
  const labelValue = `ren-${process.pid}-${Date.now()}`
  const wd = await watch({ targets: { label: `nbw-test-select=${labelValue}`, autoDetect: false } })
  await waitFor('the engine connected', () => wd.daemon.watcher.dockerUp)
  const up = (container: string): Promise<number | undefined> =>
    wd.metric('netbird_watchdog_container_up', { container })
  const id = await runContainer({
    name: first,
    stopTimeoutSeconds: 1,
    labels: { 'nbw-test-select': labelValue },
    cmd: ['sh', '-c', stayUp],
  })
  await waitFor('up under its first name', async () => (await up(first)) === 1)
  await docker(['rename', first, second])
  await waitFor('up under its new name', async () => (await up(second)) === 1)
  // No target carries the first name any more: its series stay, reading down.
  assert.equal(await up(first), 0)
  assert.equal(await wd.metric('netbird_watchdog_targets'), 1)
  await docker(['stop', second])
  const died = await waitFor('the death logged', () =>
    wd.records.find((r) => r.msg === 'container died'),
  )
  // Each target logs through one child logger, bound again to its new name.
  assert.equal(died.container, second)
  assert.equal(died.containerId, id.slice(0, 12))
  const found = wd.records.find((r) => r.msg === 'target found')
  assert.equal(found?.container, first)
  assert.equal(found.containerId, id.slice(0, 12))
})

test('targets started after the watchdog are found, by label and by compose service; /readyz follows', async () => {
  const byLabel = newName('label')
  const byService = newName('service')
  const other = newName('other')
  const labelValue = `sel-${process.pid}-${Date.now()}`
  const service = `svc-${process.pid}-${Date.now()}`
  const wd = await watch({
    targets: {
      label: `nbw-test-select=${labelValue}`,
      composeServices: [service],
      autoDetect: false,
    },
  })
  await waitFor('the engine connected', () => wd.daemon.watcher.dockerUp)
  const ready = await fetch(`${wd.url}/readyz`)
  assert.equal(ready.status, 503)
  assert.match(await ready.text(), /no target/)
  assert.equal((await fetch(`${wd.url}/healthz`)).status, 200)

  const found = new Set<string>()
  wd.daemon.events.on('target', (e) => found.add(e.container))
  const cmd = ['sh', '-c', `echo hello; ${stayUp}`]
  await runContainer({ name: other, stopTimeoutSeconds: 1, cmd })
  await runContainer({
    name: byLabel,
    stopTimeoutSeconds: 1,
    labels: { 'nbw-test-select': labelValue },
    cmd,
  })
  await runContainer({
    name: byService,
    stopTimeoutSeconds: 1,
    labels: { 'com.docker.compose.service': service },
    cmd,
  })
  await waitFor('both targets found', () => found.has(byLabel) && found.has(byService))
  await waitFor('ready', async () => (await fetch(`${wd.url}/readyz`)).status === 200)
  assert.ok(!found.has(other), 'an unselected container is not a target')
  await settles(
    'label target lines',
    () => wd.metric('netbird_watchdog_log_lines_total', { container: byLabel }),
    () => 1,
  )
  assert.equal(await wd.metric('netbird_watchdog_container_up', { container: byService }), 1)
  assert.equal(await wd.metric('netbird_watchdog_targets'), 2)
  assert.equal(await wd.metric('netbird_watchdog_container_up', { container: other }), undefined)
})

test('the loop clears once the container has stayed up for the stable period', async () => {
  const name = newName('stable')
  const dir = mkdtempSync(join(tmpdir(), 'nbw-stable-'))
  chmodSync(dir, 0o777)
  const wd = await watch({
    targets: { names: [name], autoDetect: false },
    // Docker backs off 100, 200, 400 ms between restarts: a stable period well above that, so the
    // loop does not clear as "down and quiet" between the third crash and the last start on a
    // machine slow to start containers.
    detection: { loopDeaths: 3, loopWindowSeconds: 60, stableSeconds: 5 },
  })
  try {
    const c = { container: name }
    const active = wd.daemon.events.once('loop', (e) => e.container === name && e.active)
    const cleared = wd.daemon.events.once('loop', (e) => e.container === name && !e.active)
    // Crashes three times, then stays up.
    const script =
      'n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; ' +
      `if [ $n -le 3 ]; then echo crash $n; exit 1; fi; echo stable; ${stayUp}`
    await runContainer({
      name,
      restart: 'unless-stopped',
      stopTimeoutSeconds: 1,
      volumes: [`${dir}:/data`],
      cmd: ['sh', '-c', script],
    })
    await active
    assert.equal(await wd.metric('netbird_watchdog_restart_loop', c), 1)
    await cleared
    assert.equal(await wd.metric('netbird_watchdog_restart_loop', c), 0)
    assert.equal(await wd.metric('netbird_watchdog_container_restarts_total', c), 3)
    assert.equal(await wd.metric('netbird_watchdog_container_up', c), 1)
  } finally {
    await removeContainers([name])
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a 10 MB line and binary output do not break the stream; TTY containers are read too', async () => {
  const big = newName('big')
  const tty = newName('tty')
  const wd = await watch({ targets: { names: [big, tty], autoDetect: false } })
  const script =
    "head -c 10485760 /dev/zero | tr '\\000' a; echo; head -c 100000 /dev/urandom; echo; " +
    `printf "%s\\n" "$1"; ${stayUp}`
  await runContainer({
    name: big,
    stopTimeoutSeconds: 1,
    cmd: ['sh', '-c', script, 'sh', fatalLine],
  })
  await runContainer({
    name: tty,
    tty: true,
    stopTimeoutSeconds: 1,
    cmd: ['sh', '-c', `printf "%s\\n" "$1"; ${stayUp}`, 'sh', fatalLine],
  })
  const rule = 'oidc-issuer-mismatch'
  await settles(
    'the fatal line after the binary is classified',
    () => wd.metric('netbird_watchdog_log_findings_total', { container: big, rule }),
    () => 1,
    60_000,
  )
  await settles(
    'TTY finding',
    () => wd.metric('netbird_watchdog_log_findings_total', { container: tty, rule }),
    () => 1,
  )
  await settles(
    'every line counted',
    () => wd.metric('netbird_watchdog_log_lines_total', { container: big }),
    async () => countNewlines(await containerLogs(big)),
    60_000,
  )
  assert.ok(
    ((await wd.metric('netbird_watchdog_log_truncated_lines_total', { container: big })) ?? 0) >= 1,
  )
  assert.equal(
    await wd.metric('netbird_watchdog_log_findings_total', { container: big, rule: 'fatal' }),
    0,
  )
})

test('an out-of-memory kill is counted, with exit code 137', async () => {
  const name = newName('oom')
  const wd = await watch({ targets: { names: [name], autoDetect: false } })
  const c = { container: name }
  await waitFor('the engine connected', () => wd.daemon.watcher.dockerUp)
  const died = wd.daemon.events.once('died', (e) => e.container === name)
  await runContainer({
    name,
    extra: ['--memory', '16m', '--memory-swap', '16m'],
    cmd: ['sh', '-c', 'x=$(head -c 60000000 /dev/zero | tr "\\000" a); echo ${#x}'],
  })
  assert.equal((await died).exitCode, 137)
  await settles(
    'one OOM event',
    () => wd.metric('netbird_watchdog_container_oom_events_total', c),
    () => 1,
  )
  assert.equal(await wd.metric('netbird_watchdog_container_last_exit_code', c), 137)
  assert.equal(await wd.metric('netbird_watchdog_container_up', c), 0)
})

test('Docker health status is mirrored as a state set', async () => {
  const name = newName('health')
  const dir = mkdtempSync(join(tmpdir(), 'nbw-health-'))
  chmodSync(dir, 0o777)
  const wd = await watch({ targets: { names: [name], autoDetect: false } })
  const c = { container: name }
  const health = (status: string): Promise<number | undefined> =>
    wd.metric('netbird_watchdog_container_health_status', { ...c, status })
  try {
    await waitFor('the engine connected', () => wd.daemon.watcher.dockerUp)
    // Healthy while /data/ok exists.
    await runContainer({
      name,
      stopTimeoutSeconds: 1,
      volumes: [`${dir}:/data`],
      extra: ['--health-cmd', 'cat /data/ok', '--health-interval', '1s', '--health-retries', '1'],
      cmd: ['sh', '-c', `touch /data/ok; ${stayUp}`],
    })
    await waitFor('healthy', async () => (await health('healthy')) === 1)
    assert.equal(await health('unhealthy'), 0)
    rmSync(join(dir, 'ok'))
    await waitFor('unhealthy', async () => (await health('unhealthy')) === 1, 30_000)
    assert.equal(await health('healthy'), 0)
    assert.equal(await health('none'), 0)
  } finally {
    await removeContainers([name])
    rmSync(dir, { recursive: true, force: true })
  }
})
