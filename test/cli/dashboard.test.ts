// The Grafana dashboard and the alert rules query only metrics the watchdog exports, every query is
// valid PromQL (promtool parses each one), and the dashboard covers what an operator needs to see.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse, stringify } from 'yaml'
import { cliPath } from '../helpers/cli.js'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))
const dashboardPath = `${repo}config/grafana-dashboard.json`
const alertsPath = `${repo}config/alerts.yml`

interface Panel {
  id?: number
  type: string
  title: string
  datasource?: { type: string; uid: string }
  gridPos?: { h: number; w: number; x: number; y: number }
  targets?: Array<{ expr: string; refId: string; legendFormat?: string }>
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  annotations: { list: Array<{ expr?: string }> }
  templating: { list: Array<{ name: string; type: string; definition?: string }> }
}

const dashboard = JSON.parse(await readFile(dashboardPath, 'utf8')) as Dashboard

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

/** Every PromQL expression in the dashboard: panel targets, annotations, variable queries. */
function dashboardExprs(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = []
  for (const panel of allPanels(dashboard.panels)) {
    for (const t of panel.targets ?? [])
      out.push({ where: `${panel.title}/${t.refId}`, expr: t.expr })
  }
  for (const a of dashboard.annotations.list) {
    if (a.expr !== undefined) out.push({ where: 'annotation', expr: a.expr })
  }
  for (const v of dashboard.templating.list) {
    const m = /^label_values\((.*),\s*\w+\)$/.exec(v.definition ?? '')
    if (m !== null) out.push({ where: `variable ${v.name}`, expr: m[1]! })
  }
  return out
}

/** Every alert expression in config/alerts.yml. */
async function alertExprs(): Promise<Array<{ where: string; expr: string }>> {
  const doc = parse(await readFile(alertsPath, 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>
  }
  return doc.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: r.alert ?? r.record ?? '?', expr: String(r.expr) })),
  )
}

/** Grafana variables become regexes that match everything, so promtool can parse the query. */
function concrete(expr: string): string {
  return expr.replaceAll('$job', '.+').replaceAll('$container', '.*')
}

/** The watchdog's own metrics and the process/Node.js defaults it exports (prom-client). */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:netbird_watchdog|process|nodejs)_[a-z0-9_]+/g) ?? [])]
}

/** Metric names in a text exposition, with the series names a histogram or summary adds. */
function namesIn(exposition: string): Set<string> {
  const names = new Set<string>()
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string]
    names.add(name)
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s)
  }
  return names
}

/**
 * What the watchdog exports: the /metrics of a real `netbird-watchdog run` (the built CLI, in mode
 * observe; no engine is needed for the metric names, and the self-healing metrics are there too).
 */
async function exportedNames(): Promise<Set<string>> {
  exported ??= (async () => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as AddressInfo
    await new Promise((resolve) => probe.close(resolve))
    const child = spawn(process.execPath, [cliPath, 'run'], {
      env: {
        ...Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('NETBIRD_WATCHDOG_')),
        ),
        NETBIRD_WATCHDOG_MODE: 'observe',
        NETBIRD_WATCHDOG_METRICS_ADDRESS: `127.0.0.1:${port}`,
        NETBIRD_WATCHDOG_TARGETS: 'nbwd-dashboard-test-no-such-container',
        NETBIRD_WATCHDOG_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      const deadline = Date.now() + 30_000
      for (;;) {
        const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => (r.ok ? r.text() : undefined),
          () => undefined,
        )
        if (text?.includes('netbird_watchdog_build_info')) {
          return namesIn(text)
        }
        if (child.exitCode !== null || Date.now() > deadline) {
          assert.fail(
            `netbird-watchdog run served no /metrics (exit ${child.exitCode}):\n${stderr}`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  })()
  return exported
}
let exported: Promise<Set<string>> | undefined

test('the dashboard is importable: unique uid, one datasource variable, unique panel ids', () => {
  assert.equal(dashboard.uid, 'netbird-watchdog')
  assert.ok(
    dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'),
  )
  const panels = allPanels(dashboard.panels)
  const ids = panels.map((p) => p.id)
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const p of panels.filter((p) => p.type !== 'row')) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title)
    assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`)
  }
})

test('the dashboard shows restarts, loop state, findings by rule, repairs, rollbacks, breaker, backup age, Docker reachability', () => {
  const exprs = dashboardExprs().map((e) => e.expr)
  const shown = (re: RegExp) => exprs.some((e) => re.test(e))
  assert.ok(shown(/netbird_watchdog_container_restarts_total/), 'restarts')
  assert.ok(shown(/netbird_watchdog_restart_loop/), 'loop state')
  assert.ok(
    shown(/sum by \(rule\) \(increase\(netbird_watchdog_log_findings_total/),
    'findings by rule',
  )
  assert.ok(
    shown(/sum by \(result\) \(increase\(netbird_watchdog_repairs_total/),
    'repairs by result',
  )
  assert.ok(shown(/netbird_watchdog_rollbacks_total/), 'rollbacks')
  assert.ok(shown(/netbird_watchdog_breaker_open/), 'breaker')
  assert.ok(shown(/time\(\) - max\(netbird_watchdog_last_backup_timestamp_seconds/), 'backup age')
  assert.ok(shown(/netbird_watchdog_docker_up/), 'Docker reachability')
})

test('the dashboard plots SSO login failures and the management failures by rule', () => {
  const panels = allPanels(dashboard.panels)
  const groups = [
    ['login-issuer-mismatch', 'login-failed', 'authorization-request-invalid'],
    [
      'datastore-key-mismatch',
      'geolocation-failed',
      'store-failed',
      'tls-failed',
      'config-invalid',
    ],
  ]
  for (const ids of groups) {
    const panel = panels.find((p) =>
      (p.targets ?? []).some(
        (t) =>
          t.expr.startsWith('sum by (rule) (increase(netbird_watchdog_log_findings_total{') &&
          ids.every((id) => t.expr.includes(id)),
      ),
    )
    assert.ok(panel, `a panel plots ${ids.join(', ')} by rule`)
    assert.equal(panel.type, 'timeseries')
  }
})

test('the dashboard plots the SSO login probe: success per connector over time, failures by connector and reason', () => {
  const panels = allPanels(dashboard.panels)
  const plotting = (re: RegExp): Array<{ panel: Panel; legend: string }> =>
    panels.flatMap((p) =>
      (p.targets ?? [])
        .filter((t) => re.test(t.expr))
        .map((t) => ({ panel: p, legend: t.legendFormat ?? '' })),
    )
  const success = plotting(/^netbird_watchdog_sso_probe_success\{/)
  assert.equal(success.length, 1, 'one plot of the probe success')
  assert.equal(success[0]!.panel.type, 'timeseries')
  assert.match(success[0]!.legend, /\{\{connector\}\}/, 'a line per connector')
  const reasons = plotting(
    /^sum by \(connector, reason\) \(increase\(netbird_watchdog_sso_probe_failures_total\{/,
  )
  assert.equal(reasons.length, 1, 'one plot of the failures by connector and reason')
  assert.equal(reasons[0]!.panel.type, 'timeseries')
  assert.match(reasons[0]!.legend, /\{\{connector\}\}.*\{\{reason\}\}/)
  // Both under their own row, next to each other.
  const row = panels.find((p) => p.type === 'row' && /SSO login probe/.test(p.title))
  assert.ok(row, 'a row for the SSO login probe')
  for (const { panel } of [...success, ...reasons]) {
    assert.equal(panel.gridPos?.y, row.gridPos!.y + 1, panel.title)
  }
})

test('every dashboard and alert query is valid PromQL (promtool check rules)', async () => {
  const exprs = [...dashboardExprs(), ...(existsSync(alertsPath) ? await alertExprs() : [])]
  const dir = await mkdtemp(join(tmpdir(), 'nbwd-dashboard-'))
  try {
    const rules = {
      groups: [
        {
          name: 'dashboard-queries',
          rules: exprs.map((e, i) => ({ record: `dashboard:query:${i}`, expr: concrete(e.expr) })),
        },
      ],
    }
    await writeFile(join(dir, 'rules.yml'), stringify(rules))
    const result = await run('promtool', ['check', 'rules', join(dir, 'rules.yml')]).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => {
        assert.fail(`promtool rejected a query:\n${err.stdout ?? ''}${err.stderr ?? err.message}`)
      },
    )
    assert.match(result.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('every metric the dashboard queries is one the watchdog exports', async () => {
  const exported = await exportedNames()
  for (const { where, expr } of dashboardExprs()) {
    for (const name of metricNames(expr)) {
      assert.ok(exported.has(name), `${where}: ${name} is not exported by the watchdog`)
    }
  }
})

test('every metric the alert rules query is one the watchdog exports', async () => {
  const exported = await exportedNames()
  const alerts = await alertExprs()
  assert.ok(alerts.length > 0)
  for (const { where, expr } of alerts) {
    for (const name of metricNames(expr)) {
      assert.ok(exported.has(name), `${where}: ${name} is not exported by the watchdog`)
    }
  }
})

test('the Prometheus scrape snippet is a valid config that loads the alert rules, with the job they expect', async () => {
  const snippet = await readFile(`${repo}config/prometheus-scrape.yml`, 'utf8')
  const parsed = parse(snippet) as {
    rule_files: string[]
    scrape_configs: Array<{ job_name: string }>
  }
  const job = parsed.scrape_configs[0]!.job_name
  // The alerts select the watchdog by that job name (up{job=…}, absent(up{job=…})).
  const jobs = new Set(
    (await alertExprs()).flatMap((a) => [...a.expr.matchAll(/\bjob="([^"]+)"/g)].map((m) => m[1])),
  )
  assert.deepEqual([...jobs], [job])
  const dir = await mkdtemp(join(tmpdir(), 'nbwd-prometheus-'))
  try {
    await writeFile(join(dir, 'prometheus.yml'), snippet)
    await writeFile(join(dir, parsed.rule_files[0]!), await readFile(alertsPath, 'utf8'))
    const result = await run('promtool', ['check', 'config', join(dir, 'prometheus.yml')])
    assert.match(result.stdout + result.stderr, /SUCCESS: 1 rule files found/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
