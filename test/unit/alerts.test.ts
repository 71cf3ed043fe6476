// config/alerts.yml: valid for promtool, its unit tests pass, and every alert is tested firing and
// not firing; every metric it reads is one the watchdog exports.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { parse } from 'yaml'
import { configSchema } from '../../src/config/schema.js'
import { DockerEngine } from '../../src/docker/engine.js'
import { WatchdogEvents } from '../../src/docker/events.js'
import { createHealMetrics } from '../../src/heal/metrics.js'
import { createSsoMetrics } from '../../src/heal/sso-metrics.js'
import { createStoreWatchMetrics } from '../../src/heal/store-watch.js'
import { SsoMonitor } from '../../src/heal/sso-monitor.js'
import { createLogger } from '../../src/log.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { waitFor } from '../helpers/wait.js'
import { createWatchMetrics } from '../../src/metrics.js'
import { rules as catalogue } from '../../src/core/rules.js'
import { conclusiveFailures, probeFailureReasons } from '../../src/core/sso-probe.js'
import { defer } from '../helpers/cleanup.js'

const exec = promisify(execFile)
const configDir = fileURLToPath(new URL('../../config/', import.meta.url))

async function promtool(args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await exec('promtool', [...args], { cwd: configDir })
    return stdout + stderr
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string }
    if (e.code === 'ENOENT') {
      throw new Error('promtool is missing: install it with `bash scripts/test-env.sh`', {
        cause: err,
      })
    }
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
      cause: err,
    })
  }
}

interface AlertRule {
  alert: string
  expr: string
  for?: string
}

const rules = (
  parse(readFileSync(`${configDir}alerts.yml`, 'utf8')) as { groups: { rules: AlertRule[] }[] }
).groups.flatMap((g) => g.rules)

const tests = (
  parse(readFileSync(`${configDir}alerts.test.yml`, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts?: unknown[] }[] }[]
  }
).tests.flatMap((t) => t.alert_rule_test)

test('promtool check rules config/alerts.yml', async () => {
  assert.match(await promtool(['check', 'rules', 'alerts.yml']), /SUCCESS/)
})

test('promtool test rules config/alerts.test.yml', async () => {
  assert.match(await promtool(['test', 'rules', 'alerts.test.yml']), /SUCCESS/)
})

test('every alert is tested both firing and not firing', () => {
  for (const { alert } of rules) {
    const cases = tests.filter((t) => t.alertname === alert)
    assert.ok(
      cases.some((t) => (t.exp_alerts ?? []).length > 0),
      `${alert} is tested firing`,
    )
    assert.ok(
      cases.some((t) => (t.exp_alerts ?? []).length === 0),
      `${alert} is tested not firing`,
    )
  }
})

test('the alerts read only metrics the watchdog exports (or Prometheus’ own `up`)', async () => {
  const registry = new Registry()
  createWatchMetrics(registry, { version: 'test', defaults: false })
  createHealMetrics(registry, 'repair')
  createSsoMetrics(registry, () => [])
  createStoreWatchMetrics(registry, () => undefined)
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name))
  for (const { alert, expr } of rules) {
    for (const name of expr.match(/\bnetbird_watchdog_[a-z0-9_]+/g) ?? []) {
      assert.ok(exported.has(name), `${alert}: ${name} is exported`)
    }
  }
})

/** The rule ids an alert selects from log_findings_total (`rule="…"` or `rule=~"…"`), if any. */
function selectedRules(expr: string): ((id: string) => boolean) | undefined {
  const m = /log_findings_total\{[^}]*\brule(=~?)"([^"]+)"/.exec(expr)
  if (m === null) return undefined
  const re = m[1] === '=~' ? new RegExp(`^(?:${m[2]})$`) : undefined
  return (id) => (re ? re.test(id) : id === m[2])
}

test('every critical rule alerts at once; login-time rules only above a count in a window', () => {
  const byRule = (id: string) =>
    rules.filter((r) => selectedRules(r.expr)?.(id) === true && /findings_total/.test(r.expr))
  for (const rule of catalogue.filter((r) => r.severity === 'critical')) {
    const atOnce = byRule(rule.id).filter((r) => r.for === undefined && /\) > 0$/.test(r.expr))
    assert.ok(atOnce.length > 0, `${rule.id} has an alert firing on its first finding`)
  }
  for (const id of ['login-issuer-mismatch', 'login-failed', 'authorization-request-invalid']) {
    const alerts = byRule(id).filter((r) => r.alert !== 'NetbirdLogFindingsHigh')
    assert.equal(alerts.length, 1, `${id}: one dedicated alert`)
    const threshold = /\[(\d+)m\]\)\s*>=\s*(\d+)$/.exec(alerts[0]!.expr)
    assert.ok(threshold !== null, `${id}: a count over a window`)
    assert.ok(Number(threshold[2]) > 1, `${id}: one failed login is not an incident`)
  }
})

/** The probe failure reasons an alert selects from sso_probe_failures_total (`reason=~"…"`). */
function selectedReasons(alert: string): string[] {
  const rule = rules.find((r) => r.alert === alert)
  assert.ok(rule, `${alert} is a shipped alert`)
  const m = /sso_probe_failures_total\{[^}]*\breason=~"([^"]+)"/.exec(rule.expr)
  assert.ok(m !== null, `${alert} selects failures by reason`)
  return m[1]!.split('|')
}

test("a connector is down on the connector's or its provider's failures, never on the probe's own", () => {
  const down = selectedReasons('NetbirdWatchdogSsoConnectorDown')
  const notProven = selectedReasons('NetbirdWatchdogSsoNotProven')
  for (const reason of [...down, ...notProven]) {
    assert.ok((probeFailureReasons as readonly string[]).includes(reason), `${reason} is a reason`)
  }
  for (const reason of conclusiveFailures) {
    assert.ok(down.includes(reason), `${reason} (conclusive) pages as a connector down`)
  }
  for (const reason of ['provider_unreachable', 'provider_error']) {
    assert.ok(down.includes(reason), `${reason}: nobody can log in through the connector`)
  }
  // The probe's configuration, a NetBird that does not answer, a store nobody can read: no connector is down.
  for (const reason of [
    'probe_client_unknown',
    'probe_redirect_unregistered',
    'netbird_unreachable',
    'netbird_error',
    'store_unavailable',
  ]) {
    assert.ok(!down.includes(reason), `${reason} does not page as a connector down`)
  }
  for (const reason of ['probe_client_unknown', 'probe_redirect_unregistered']) {
    assert.ok(notProven.includes(reason), `${reason}: SSO is not being proven`)
  }
  assert.deepEqual(
    notProven.filter((r) => down.includes(r)),
    [],
    'no reason is both',
  )
})

/**
 * What NetbirdWatchdogSsoNotProven stands on: a probe with no URL for NetBird's IdP exports
 * `sso_probe_enabled 0` for its target, and a probe switched off on purpose exports no series at all.
 */
test('sso_probe_enabled: 0 for a target whose IdP cannot be found, no series when sso.probeSeconds is 0', async (t) => {
  const exposition = async (probeSeconds: number): Promise<string> => {
    const monitor = new SsoMonitor({
      config: configSchema().parse({
        targets: { autoDetect: false, names: ['netbird-server'] },
        schedules: { doctor: '', backup: '', integrity: '' },
        sso: { probeSeconds },
      }),
      // Neither is reached: with no sso.url and no NetBird config file there is nothing to ask.
      store: new SqliteStore(join(tmpdir(), 'nbw-alerts-no-such-idp.db')),
      docker: new DockerEngine({ socketPath: join(tmpdir(), 'nbw-alerts-no-engine.sock') }),
      events: new WatchdogEvents(),
      logger: createLogger({ level: 'silent' }),
    })
    defer(t, () => monitor.stop())
    const registry = new Registry()
    createSsoMetrics(registry, () => monitor.state())
    monitor.start()
    if (probeSeconds > 0) {
      await waitFor('the first round', async () =>
        (await registry.metrics()).includes('netbird_watchdog_sso_probe_enabled{'),
      )
    }
    return registry.metrics()
  }
  assert.match(
    await exposition(60),
    /^netbird_watchdog_sso_probe_enabled\{container="netbird-server"\} 0$/m,
  )
  assert.doesNotMatch(await exposition(0), /^netbird_watchdog_sso_probe_enabled\{/m)
})
