// config/alerts.yml: valid for promtool, its unit tests pass, and every alert is tested firing and
// not firing; every metric it reads is one the watchdog exports.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { parse } from 'yaml'
import { createHealMetrics } from '../src/heal/metrics.js'
import { createWatchMetrics } from '../src/metrics.js'
import { rules as catalogue } from '../src/core/rules.js'

const exec = promisify(execFile)
const configDir = fileURLToPath(new URL('../config/', import.meta.url))

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
