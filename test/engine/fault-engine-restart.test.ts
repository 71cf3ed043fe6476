// Fault tests with a private Docker engine (its own dockerd, test/helpers/docker.ts), so that stopping it
// disturbs nothing else on the machine.
// 1. The engine stops and starts (twice) while the target is in a restart loop.
// The reference is the container itself: every start appends
// a line to a file on the host, and prints NetBird's fatal line once. After the loop is stopped,
// the daemon must have counted every restart exactly once (starts - 1, the first start is not a
// restart), every fatal line exactly once, and seen the engine go away and come back.
// 2. The engine stops during the confirm window of a good repair (a Docker upgrade, a reboot): the
// container dies with it, which is no evidence against the repair — no rollback, the confirmation
// ends `unconfirmed` and resumes when the engine and the container are back, then succeeds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sumOf } from '../../bench/lib/metrics-text.js'
import { observeConfig, Watchdog } from '../../bench/lib/watchdog.js'
import { fatalLine } from '../../bench/lib/workloads.js'
import { connectorIssuer } from '../../src/core/connectors.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import {
  busyboxImage,
  docker,
  inspectState,
  nodeImage,
  PrivateEngine,
  requireDocker,
} from '../helpers/docker.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { fakeNetbirdDexUrl, runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { waitFor } from '../helpers/wait.js'
import { printRecordsIfFailed } from '../helpers/watchdog.js'
import { freePort } from '../helpers/net.js'
import { defer } from '../helpers/cleanup.js'

function issuerOf(dbPath: string, id: string): string | undefined {
  const row = readConnectors(dbPath).find((r) => r.id === id)
  return row && connectorIssuer(row)
}

const name = `nbw-fault-engine-${process.pid}`

test('engine restarted twice during a restart loop: restarts and findings counted once each', async (t) => {
  await requireDocker([busyboxImage])
  const engine = new PrivateEngine()
  defer(t, () => engine.destroy())
  const state = await mkdtemp(join(tmpdir(), 'nbw-fault-state-'))
  defer(t, () => rm(state, { recursive: true, force: true }))
  await chmod(state, 0o777)
  await engine.start()
  await engine.loadImage(busyboxImage)
  // The watchdog first: every start and line of the target is then the watchdog's to see.
  const wd = await Watchdog.start({
    config: observeConfig(
      { names: [name] },
      { docker: { host: engine.host, reconnectMaxSeconds: 1 } },
    ),
    waitReady: false,
  })
  defer(t, () => wd.stop())
  await docker(
    [
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'none',
      '--label',
      'netbird-watchdog.test=1',
      '--restart',
      'unless-stopped',
      '-v',
      `${state}:/state`,
      '-e',
      `FATAL=${fatalLine}`,
      busyboxImage,
      'sh',
      '-c',
      // TERM (the engine shutting down) ends it within a second, like any other death.
      'trap "exit 1" TERM; echo start >> /state/starts; echo "$FATAL"; sleep 1; exit 1',
    ],
    { host: engine.host },
  )

  const restarts = async (): Promise<number> =>
    sumOf(await wd.scrape(), 'netbird_watchdog_container_restarts_total', { container: name })

  await waitFor('two restarts counted', async () => (await restarts()) >= 2, 30_000, 100)
  for (let cycle = 0; cycle < 2; cycle++) {
    await engine.stop()
    await wd.waitMetric('netbird_watchdog_docker_up', (v) => v === 0)
    await engine.start()
    await wd.waitMetric('netbird_watchdog_docker_up', (v) => v === 1)
    const before = await restarts()
    await waitFor(
      `two more restarts after engine restart ${cycle + 1}`,
      async () => {
        return (await restarts()) >= before + 2
      },
      30_000,
      100,
    )
  }

  // End the loop: `docker stop` also cancels a pending restart of the policy.
  await docker(['stop', '-t', '1', name], { host: engine.host })
  const starts = (await readFile(join(state, 'starts'), 'utf8')).split('\n').filter(Boolean).length
  const logs = await docker(['logs', name], { host: engine.host })
  const fatalLines = logs.split('\n').filter((l) => l === fatalLine).length
  const expect = {
    restarts: starts - 1,
    findings: fatalLines,
    deaths: starts,
  }
  const seen = async (): Promise<typeof expect> => {
    const m = await wd.scrape()
    const c = { container: name }
    return {
      restarts: sumOf(m, 'netbird_watchdog_container_restarts_total', c),
      findings: sumOf(m, 'netbird_watchdog_log_findings_total', {
        ...c,
        rule: 'oidc-issuer-mismatch',
      }),
      deaths: sumOf(m, 'netbird_watchdog_container_deaths_total', c),
    }
  }
  // Counters only grow: wait (deadline) until they reach the reference, then compare exactly.
  await waitFor(
    'counters reach the reference',
    async () => {
      const s = await seen()
      return (
        s.restarts >= expect.restarts && s.findings >= expect.findings && s.deaths >= expect.deaths
      )
    },
    30_000,
    100,
  ).catch(() => undefined)
  assert.ok(starts >= 6, `the loop ran (${starts} starts)`)
  assert.deepEqual(await seen(), expect)
  const reconnects = sumOf(await wd.scrape(), 'netbird_watchdog_docker_reconnects_total')
  assert.ok(reconnects >= 2, `reconnected after each engine restart (${reconnects})`)
  assert.equal(wd.exit, undefined, 'the watchdog kept running')
})

test("the engine restarts during a repair's confirm window: no rollback, the repair stays, confirmation resumes and succeeds", async (t) => {
  await requireDocker([nodeImage])
  const engine = new PrivateEngine()
  defer(t, () => engine.destroy())
  const dir = await mkdtemp(join(tmpdir(), 'nbw-fault-confirm-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  await engine.start()
  await engine.loadImage(nodeImage)
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const dbPath = join(dir, 'idp.db')
  const jc = 'd1c9q2ll0fgs73cunqsg'
  createIdpDb(dbPath, { connectors: oidcConnectors([{ id: jc, issuer: peer.origin }]) })
  const container = `nbw-fault-confirm-${process.pid}`
  // The SSO login probe runs too: a NetBird that went away with its engine is no evidence either.
  const dexPort = await freePort()
  const issuer = 'https://netbird.example.com/oauth2'
  const wd = await Watchdog.start({
    config: {
      mode: 'repair',
      docker: { host: engine.host, reconnectMaxSeconds: 1 },
      targets: { names: [container], autoDetect: false },
      idp: { dbPath },
      backups: { dir: join(dir, 'backups') },
      oidc: { allowInsecure: true, timeoutMs: 3000 },
      sso: { url: fakeNetbirdDexUrl(dexPort, issuer), probeSeconds: 1, timeoutMs: 3000 },
      // Long enough to stop the engine inside it.
      repair: { confirmSeconds: 20, restartBackoffSeconds: 0, stopTimeoutSeconds: 2 },
      schedules: { doctor: '', backup: '', integrity: '' },
    },
    waitReady: false,
    keep: () => true,
  })
  defer(t, () => wd.stop())
  printRecordsIfFailed(t, wd.records)
  // NetBird ≤ v0.65.1: crash-loops on the JumpCloud trailing slash until the watchdog fixes it.
  await runFakeNetbird({
    name: container,
    store: { dataDir: dir },
    variant: 'fatal',
    host: engine.host,
    listen: { port: dexPort },
    issuer,
  })
  const committed = await wd.waitRecord(
    (r) => r.msg === 'IdP store repaired and verified; restarting the container',
    60_000,
  )
  // A fresh run, started after the fix, is up: the confirm window is open.
  await waitFor(
    'the fixed container running',
    async () => {
      const s = await inspectState(container, engine.host)
      return s.Running && Date.parse(s.StartedAt) >= Date.parse(committed.time)
    },
    30_000,
    100,
  )
  const fixed = `${peer.origin}/`
  assert.equal(issuerOf(dbPath, jc), fixed)

  // A Docker upgrade or a host reboot: the engine stops (its containers die with it) and comes back.
  await engine.stop()
  const interrupted = await wd.waitRecord((r) => r.msg.includes('confirmation resumes'), 60_000)
  assert.equal(interrupted.level, 'warn')
  const metric = async (name: string, labels: Record<string, string>): Promise<number> =>
    sumOf(await wd.scrape(), name, labels)
  const c = { container }
  assert.equal(await metric('netbird_watchdog_repairs_total', { ...c, result: 'unconfirmed' }), 1)
  assert.equal(await metric('netbird_watchdog_rollbacks_total', c), 0)
  assert.equal(await metric('netbird_watchdog_breaker_open', c), 0)
  assert.equal(issuerOf(dbPath, jc), fixed, 'the repair stays in place')

  await engine.start()
  // The engine restarts the container (its restart policy), or an operator starts it: either way
  // the watchdog sees it running again and resumes confirming. Docker brings an `unless-stopped`
  // container back only if it recorded the container's exit before it went down; when its shutdown
  // lost that race (seen on a busy machine: "cleaning up dead shim" at the next start, the container
  // exited with code 0, as in moby/moby#45800) or it went down inside a `docker restart` between the
  // stop and the start (moby/moby#46688), the container stays exited, and the test starts it.
  const back = await inspectState(container, engine.host)
  if (!back.Running && !back.Restarting) {
    t.diagnostic(`the engine left the container ${back.Status}: starting it as an operator would`)
    await docker(['start', container], { host: engine.host })
  }
  try {
    await wd.waitMetric('netbird_watchdog_repairs_total', (v) => v === 1, 90_000, {
      ...c,
      result: 'success',
    })
  } catch (err) {
    const state = await docker(['inspect', '-f', '{{json .State}}', container], {
      host: engine.host,
    }).catch((e: unknown) => String(e))
    throw new Error(
      `${String(err)}\ncontainer state: ${state}\nthe private dockerd's log:\n${engine.logTail(60)}`,
      { cause: err },
    )
  }
  assert.equal(await metric('netbird_watchdog_rollbacks_total', c), 0)
  assert.equal(await metric('netbird_watchdog_breaker_open', c), 0)
  assert.equal(issuerOf(dbPath, jc), fixed)
  assert.equal((await inspectState(container, engine.host)).Status, 'running')
  assert.ok(!wd.records.some((r) => r.msg.startsWith('ROLLED BACK')), 'never rolled back')
  // Confirmed by staying up and by the login probe, once the engine and NetBird were back.
  const recovered = wd.records.find((r) => r.msg.startsWith('recovered:'))
  assert.match(recovered?.msg ?? '', /login probe/)
  assert.equal(await metric('netbird_watchdog_sso_probe_success', { ...c, connector: jc }), 1)
  assert.equal(wd.exit, undefined, 'the watchdog kept running')
})
