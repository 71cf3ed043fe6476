// The shipped alert rules on a real Prometheus server (Debian's `prometheus`, 1 s scrape and
// evaluation on 127.0.0.1) scraping a real `netbird-watchdog run` (dist/cli.js, observe mode) that
// watches real containers: one crash-loops on NetBird's issuer-mismatch fatal, one logs Dex login
// failures (and wrong passwords, which must count for nothing), one crash-loops on a store fatal.
// Asserted through Prometheus' HTTP API: exactly the expected alerts fire, and no watchdog-health
// alert (NetbirdWatchdog*) is even pending. A second run: the watchdog's SSO login probe against the
// simulated NetBird v0.65.2+ (test/fixtures/fake-netbird: Dex's login endpoint, a connector it cannot
// open, a real oidc-provider upstream) fires NetbirdWatchdogSsoConnectorDown — with the shipped rules
// unchanged, so after its real `for: 2m` (the test waits for it). A third: an idp.db recreated under
// the watchdog (a new file with only NetBird's `local` connector) fires NetbirdIdpStoreReplaced and
// nothing else. Run `npm run build` first.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { renameSync, unlinkSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { sumOf } from '../../bench/lib/metrics-text.js'
import { observeConfig, Watchdog } from '../../bench/lib/watchdog.js'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/net.js'
import { getRule } from '../../src/core/rules.js'
import {
  busyboxImage,
  nodeImage,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { fakeNetbirdDexUrl, runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { defer } from '../helpers/cleanup.js'

const alertsPath = fileURLToPath(new URL('../../config/alerts.yml', import.meta.url))

interface ActiveAlert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
}

async function startPrometheus(
  dir: string,
  watchdogPort: number,
): Promise<{ url: string; stop: () => Promise<void>; output: () => string }> {
  const port = await freePort()
  // The alerts select the watchdog by job="netbird-watchdog" (NetbirdWatchdogDown/Absent).
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [alertsPath],
    scrape_configs: [
      {
        job_name: 'netbird-watchdog',
        static_configs: [{ targets: [`127.0.0.1:${watchdogPort}`] }],
      },
    ],
  }
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config))
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const collect = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-20_000)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined))
    child.once('error', resolve)
  })
  if (spawned !== undefined) {
    throw new Error(
      'the Prometheus server is missing: install it (Debian package `prometheus`) with `bash scripts/test-env.sh`',
      { cause: spawned },
    )
  }
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    }
  }
  try {
    await waitFor(
      'Prometheus /-/ready',
      async () => {
        if (child.exitCode !== null) throw new Error('exited')
        return (await fetch(`${url}/-/ready`)).ok ? true : undefined
      },
      60_000,
      200,
    )
  } catch (err) {
    await stop()
    throw new Error(`Prometheus did not become ready:\n${output}`, { cause: err })
  }
  return { url, stop, output: () => output }
}

async function activeAlerts(url: string): Promise<ActiveAlert[]> {
  const res = await fetch(`${url}/api/v1/alerts`)
  const body = (await res.json()) as { status: string; data: { alerts: ActiveAlert[] } }
  assert.equal(body.status, 'success')
  return body.data.alerts
}

/** One instant vector through Prometheus' query API. */
async function query(url: string, promql: string): Promise<Array<{ value: [number, string] }>> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = (await res.json()) as {
    status: string
    data: { result: Array<{ value: [number, string] }> }
  }
  assert.equal(body.status, 'success', promql)
  return body.data.result
}

test('real Prometheus with the shipped alerts: issuer mismatch, SSO login failures and a store fatal fire; watchdog health stays quiet', async (t) => {
  await requireDocker([busyboxImage])
  const dir = await mkdtemp(join(tmpdir(), 'nbw-prometheus-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const triggerDir = join(dir, 'trigger')
  await mkdir(triggerDir)
  await chmod(triggerDir, 0o777)

  const mgmt = uniqueName('prom-issuer')
  const dex = uniqueName('prom-dex')
  const store = uniqueName('prom-store')
  defer(t, () => removeContainers([mgmt, dex, store]))

  // Every container waits for the trigger file, so that Prometheus has scraped the pre-initialised
  // zeros before the first finding: an alert on increase() needs to see the counter rise.
  const waitForTrigger = 'until [ -e /trigger/go ]; do sleep 0.1; done'
  const issuerFatal = getRule('oidc-issuer-mismatch').examples[0]!
  const storeFatal = getRule('store-failed').examples[0]!
  // Dex logs text on stderr through NetBird's bridge even when NetBird itself logs JSON.
  const loginLine = getRule('login-issuer-mismatch').examples[0]!.replace(
    '2026-08-20T10:05:12.481Z',
    '2026-08-20T12:05:12.481+02:00',
  )
  const wrongPassword =
    '2026-08-20T12:09:00.000+02:00 ERRO [user: alice@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.'
  const jsonInfo =
    '{"level":"info","msg":"running HTTP server and gRPC server on the same port: [::]:80","source":"management/internals/server/server.go:230","time":"2026-08-20T12:05:00+02:00"}'
  const logins = 8
  const volume = `${triggerDir}:/trigger:ro`
  for (const [name, line] of [
    [mgmt, issuerFatal],
    [store, storeFatal],
  ] as const) {
    await runContainer({
      name,
      restart: 'unless-stopped',
      volumes: [volume],
      extra: ['-e', `LINE=${line}`],
      cmd: ['sh', '-c', `${waitForTrigger}; echo "$LINE" >&2; exit 1`],
    })
  }
  await runContainer({
    name: dex,
    volumes: [volume],
    extra: ['-e', `LOGIN=${loginLine}`, '-e', `WRONG=${wrongPassword}`, '-e', `INFO=${jsonInfo}`],
    cmd: [
      'sh',
      '-c',
      `${waitForTrigger}; i=0; while [ $i -lt ${logins} ]; do i=$((i+1)); echo "$INFO"; echo "$LOGIN" >&2; echo "$WRONG" >&2; done; exec sleep 3600`,
    ],
  })

  // Busybox containers have no IdP: the login probe is off on purpose (on, it would find no IdP URL
  // and NetbirdWatchdogSsoNotProven would rightly be pending).
  const wd = await Watchdog.start({
    config: observeConfig({ names: [mgmt, dex, store] }, { sso: { probeSeconds: 0 } }),
  })
  defer(t, () => wd.stop())
  await wd.waitMetric('netbird_watchdog_targets', (v) => v === 3)

  const prom = await startPrometheus(dir, wd.port)
  defer(t, () => prom.stop())
  const findings = (container: string, rule: string): string =>
    `netbird_watchdog_log_findings_total{job="netbird-watchdog",container="${container}",rule="${rule}"}`
  // Prometheus holds the zeros of all three counters the alerts will need.
  await waitFor(
    'Prometheus to have scraped the watchdog',
    async () => {
      const samples = [
        ...(await query(prom.url, `${findings(mgmt, 'oidc-issuer-mismatch')} == 0`)),
        ...(await query(prom.url, `${findings(dex, 'login-issuer-mismatch')} == 0`)),
        ...(await query(prom.url, `${findings(store, 'store-failed')} == 0`)),
      ]
      return samples.length === 3 ? true : undefined
    },
    60_000,
    200,
  )
  await writeFile(join(triggerDir, 'go'), '')

  const expected = [
    ['NetbirdIdpIssuerMismatch', mgmt, 'oidc-issuer-mismatch'],
    ['NetbirdSsoLoginFailures', dex, 'login-issuer-mismatch'],
    ['NetbirdManagementFailure', store, 'store-failed'],
  ].map((a) => a.join(' '))
  const key = (a: ActiveAlert): string =>
    [a.labels.alertname, a.labels.container, a.labels.rule].join(' ')
  const firing = await waitFor(
    'the three alerts to fire',
    async () => {
      const now = (await activeAlerts(prom.url)).filter((a) => a.state === 'firing').map(key)
      return expected.every((e) => now.includes(e)) ? now : undefined
    },
    120_000,
    200,
  ).catch(async (err: unknown) => {
    const now = await activeAlerts(prom.url).catch(() => [])
    throw new Error(
      `alerts now: ${JSON.stringify(now.map((a) => [key(a), a.state]))}\nPrometheus:\n${prom.output()}`,
      { cause: err },
    )
  })

  // Exactly these fire. The restart-loop alert may join them once its `for: 1m` has passed.
  assert.deepEqual(
    firing.filter((k) => !k.startsWith('NetbirdContainerRestartLoop ')).sort(),
    [...expected].sort(),
  )
  const alerts = await activeAlerts(prom.url)
  const shipped = (
    parse(await readFile(alertsPath, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string }> }>
    }
  ).groups.flatMap((g) => g.rules.map((r) => r.alert))
  const health = shipped.filter((name) => name.startsWith('NetbirdWatchdog'))
  for (const name of [
    'NetbirdWatchdogDown',
    'NetbirdWatchdogAbsent',
    'NetbirdWatchdogDockerUnreachable',
    'NetbirdWatchdogNoTarget',
  ]) {
    assert.ok(health.includes(name), `${name} is a shipped alert`)
  }
  assert.deepEqual(
    alerts.filter((a) => health.includes(a.labels.alertname ?? '')).map(key),
    [],
    'no watchdog-health alert is pending or firing',
  )
  assert.deepEqual(
    (await query(prom.url, 'up{job="netbird-watchdog"}')).map((s) => s.value[1]),
    ['1'],
  )

  // The Dex container's lines: every login failure counted once, the wrong passwords and the JSON
  // info lines read (log_lines_total) but counted as nothing.
  await wd.waitMetric('netbird_watchdog_log_lines_total', (v) => v === 3 * logins, 30_000, {
    container: dex,
  })
  const samples = await wd.scrape()
  assert.equal(sumOf(samples, 'netbird_watchdog_log_findings_total', { container: dex }), logins)
  assert.equal(
    sumOf(samples, 'netbird_watchdog_log_findings_total', {
      container: dex,
      rule: 'login-issuer-mismatch',
    }),
    logins,
  )
})

test('real Prometheus with the shipped alerts: the SSO login probe finds a connector Dex cannot open and NetbirdWatchdogSsoConnectorDown fires after its `for:`', async (t) => {
  await requireDocker([nodeImage])
  const dir = await mkdtemp(join(tmpdir(), 'nbw-prometheus-sso-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  // The provider returns its issuer with a trailing slash; `broken` is stored without it (NetBird's
  // JumpCloud case: Dex cannot open it), `working` with it.
  const peer = await startIssuerPeer(t, { trailingSlash: true })
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: oidcConnectors([
      { id: 'broken', issuer: peer.origin },
      { id: 'working', issuer: `${peer.origin}/` },
    ]),
  })
  const netbird = uniqueName('prom-sso')
  defer(t, () => removeContainers([netbird]))
  const port = await freePort()
  // NetBird's public issuer as the fixture's connectors spell their redirect URI (…/oauth2/callback).
  const dexUrl = fakeNetbirdDexUrl(port, 'https://netbird.example.com/oauth2')
  await runFakeNetbird({
    name: netbird,
    store: { dataDir: dir },
    variant: 'erro',
    listen: { port },
    issuer: 'https://netbird.example.com/oauth2',
  })
  await waitFor(
    "the stand-in's Dex",
    async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
    60_000,
  )

  // Observe mode: the connector stays broken. Logs not followed: the probe alone finds it.
  const wd = await Watchdog.start({
    config: observeConfig(
      { names: [netbird] },
      {
        idp: { dbPath },
        oidc: { allowInsecure: true, timeoutMs: 3000 },
        sso: { url: dexUrl, probeSeconds: 1, timeoutMs: 5000 },
        detection: { followLogs: false },
      },
    ),
  })
  defer(t, () => wd.stop())
  await wd.waitMetric('netbird_watchdog_sso_probe_failures_total', (v) => v >= 2, 30_000, {
    container: netbird,
    connector: 'broken',
    reason: 'connector_failed',
  })
  await wd.waitMetric('netbird_watchdog_sso_probe_success', (v) => v === 1, 30_000, {
    container: netbird,
    connector: 'working',
  })

  const prom = await startPrometheus(dir, wd.port)
  defer(t, () => prom.stop())
  const sso = (a: ActiveAlert): boolean => a.labels.alertname === 'NetbirdWatchdogSsoConnectorDown'
  const explain = async (err: unknown): Promise<never> => {
    const now = await activeAlerts(prom.url).catch(() => [])
    throw new Error(
      `alerts now: ${JSON.stringify(now.map((a) => [a.labels, a.state]))}\nPrometheus:\n${prom.output()}`,
      { cause: err },
    )
  }
  // Pending first: the shipped `for:` holds it back.
  const pending = await waitFor(
    'NetbirdWatchdogSsoConnectorDown to be pending',
    async () => {
      const found = (await activeAlerts(prom.url)).filter(sso)
      return found.length > 0 ? found : undefined
    },
    60_000,
    200,
  ).catch(explain)
  assert.deepEqual(
    pending.map((a) => [a.labels.container, a.labels.connector, a.state]),
    [[netbird, 'broken', 'pending']],
  )
  const firing = await waitFor(
    'NetbirdWatchdogSsoConnectorDown to fire',
    async () => {
      const found = (await activeAlerts(prom.url)).filter((a) => sso(a) && a.state === 'firing')
      return found.length > 0 ? found : undefined
    },
    240_000,
    200,
  ).catch(explain)
  assert.deepEqual(
    firing.map((a) => a.labels),
    [
      {
        alertname: 'NetbirdWatchdogSsoConnectorDown',
        severity: 'critical',
        job: 'netbird-watchdog',
        instance: `127.0.0.1:${wd.port}`,
        container: netbird,
        connector: 'broken',
      },
    ],
  )
  // The working connector never was; the probe runs and is not refused as configured, so no other
  // watchdog alert is even pending.
  const alerts = await activeAlerts(prom.url)
  assert.deepEqual(
    alerts.filter((a) => a.labels.connector === 'working'),
    [],
  )
  assert.deepEqual(
    alerts
      .filter((a) => a.labels.alertname?.startsWith('NetbirdWatchdog') === true && !sso(a))
      .map((a) => a.labels.alertname),
    [],
  )
  assert.deepEqual(
    (await query(prom.url, `netbird_watchdog_sso_probe_enabled{container="${netbird}"}`)).map(
      (s) => s.value[1],
    ),
    ['1'],
  )
})

test('real Prometheus with the shipped alerts: an idp.db recreated under the watchdog fires NetbirdIdpStoreReplaced, and nothing else', async (t) => {
  await requireDocker([busyboxImage])
  const dir = await mkdtemp(join(tmpdir(), 'nbw-prometheus-store-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath)
  const backups = join(dir, 'backups')
  const kept = await runCli(['backups', 'create', '--db', dbPath, '--backup-dir', backups])
  assert.equal(kept.code, 0, kept.stderr)
  const netbird = uniqueName('prom-store')
  defer(t, () => removeContainers([netbird]))
  await runContainer({ name: netbird, cmd: ['sleep', '3600'] })

  const wd = await Watchdog.start({
    config: observeConfig(
      { names: [netbird] },
      {
        idp: { dbPath },
        backups: { dir: backups },
        schedules: { doctor: '', backup: '', integrity: '* * * * * *' },
        sso: { probeSeconds: 0 },
      },
    ),
  })
  defer(t, () => wd.stop())
  const prom = await startPrometheus(dir, wd.port)
  defer(t, () => prom.stop())
  await waitFor(
    'Prometheus to have scraped idp_store_replaced 0',
    async () =>
      (await query(prom.url, 'netbird_watchdog_idp_store_replaced == 0')).length === 1
        ? true
        : undefined,
    60_000,
    200,
  )
  assert.deepEqual(
    (await activeAlerts(prom.url)).filter((a) => a.labels.alertname === 'NetbirdIdpStoreReplaced'),
    [],
    'not before',
  )

  // The volume recreated: a new idp.db with only NetBird's `local` connector.
  createIdpDb(`${dbPath}.new`, {
    connectors: [{ id: 'local', type: 'local', name: 'Email', config: null }],
  })
  unlinkSync(dbPath)
  renameSync(`${dbPath}.new`, dbPath)
  const firing = await waitFor(
    'NetbirdIdpStoreReplaced to fire',
    async () => {
      const now = (await activeAlerts(prom.url)).filter((a) => a.state === 'firing')
      return now.length > 0 ? now : undefined
    },
    60_000,
    200,
  ).catch(async (err: unknown) => {
    const now = await activeAlerts(prom.url).catch(() => [])
    throw new Error(`alerts now: ${JSON.stringify(now)}\nPrometheus:\n${prom.output()}`, {
      cause: err,
    })
  })
  assert.deepEqual(
    firing.map((a) => a.labels),
    [
      {
        alertname: 'NetbirdIdpStoreReplaced',
        severity: 'critical',
        job: 'netbird-watchdog',
        instance: `127.0.0.1:${wd.port}`,
      },
    ],
  )
  assert.deepEqual(
    (await activeAlerts(prom.url)).map((a) => a.labels.alertname),
    ['NetbirdIdpStoreReplaced'],
    'no other alert is even pending',
  )
})
