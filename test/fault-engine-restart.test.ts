// Fault test: the Docker engine stops and starts (twice) while the target is in a restart loop.
// A private engine (its own dockerd, test/helpers/docker.ts) is used so that stopping it
// disturbs nothing else on the machine. The reference is the container itself: every start appends
// a line to a file on the host, and prints NetBird's fatal line once. After the loop is stopped,
// the daemon must have counted every restart exactly once (starts - 1, the first start is not a
// restart), every fatal line exactly once, and seen the engine go away and come back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sumOf } from '../bench/lib/metrics-text.js'
import { delay, observeConfig, Watchdog } from '../bench/lib/watchdog.js'
import { fatalLine } from '../bench/lib/workloads.js'
import { busyboxImage, docker, PrivateEngine, requireDocker } from './helpers/docker.js'

const name = `nbw-fault-engine-${process.pid}`

/** Polls `fn` until it returns true, with a deadline; the message says what never happened. */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await delay(100)
  }
}

test('engine restarted twice during a restart loop: restarts and findings counted once each', async (t) => {
  await requireDocker([busyboxImage])
  const engine = new PrivateEngine()
  t.after(() => engine.destroy())
  const state = await mkdtemp(join(tmpdir(), 'nbw-fault-state-'))
  t.after(() => rm(state, { recursive: true, force: true }))
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
  t.after(() => wd.stop())
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

  await until('two restarts counted', async () => (await restarts()) >= 2)
  for (let cycle = 0; cycle < 2; cycle++) {
    await engine.stop()
    await wd.waitMetric('netbird_watchdog_docker_up', (v) => v === 0)
    await engine.start()
    await wd.waitMetric('netbird_watchdog_docker_up', (v) => v === 1)
    const before = await restarts()
    await until(`two more restarts after engine restart ${cycle + 1}`, async () => {
      return (await restarts()) >= before + 2
    })
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
  await until('counters reach the reference', async () => {
    const s = await seen()
    return (
      s.restarts >= expect.restarts && s.findings >= expect.findings && s.deaths >= expect.deaths
    )
  }).catch(() => undefined)
  assert.ok(starts >= 6, `the loop ran (${starts} starts)`)
  assert.deepEqual(await seen(), expect)
  const reconnects = sumOf(await wd.scrape(), 'netbird_watchdog_docker_reconnects_total')
  assert.ok(reconnects >= 2, `reconnected after each engine restart (${reconnects})`)
  assert.equal(wd.exit, undefined, 'the watchdog kept running')
})
