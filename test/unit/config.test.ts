// Every watchdog config shipped in config/ loads through the real loader, and the example documents
// every key of the schema with its default value.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { configSchema } from '../../src/config/schema.js'
import { isWatchdogError } from '../../src/errors.js'

const configDir = fileURLToPath(new URL('../../config/', import.meta.url))
/**
 * The watchdog configs among config/*.yml: named watchdog*.yml (the others are Prometheus alert
 * rules, their tests, a scrape config).
 */
const watchdogConfigs = readdirSync(configDir).filter((f) => /^watchdog.*\.ya?ml$/.test(f))

test('config/ ships at least the example', () => {
  assert.ok(watchdogConfigs.includes('watchdog.example.yml'))
})

for (const file of watchdogConfigs) {
  test(`config/${file} loads through loadConfig`, () => {
    const { config, source } = loadConfig(`${configDir}${file}`, {})
    assert.equal(source, `${configDir}${file}`)
    assert.ok(Object.isFrozen(config))
  })
}

test('the example sets every key of the schema to its default (it documents them all)', () => {
  const example: unknown = parse(readFileSync(`${configDir}watchdog.example.yml`, 'utf8'))
  const defaults = configSchema().parse({})
  const paths = (value: unknown, prefix = ''): string[] =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value).flatMap(([k, v]) => paths(v, prefix ? `${prefix}.${k}` : k))
      : [prefix]
  assert.deepEqual(paths(example).sort(), paths(defaults).sort())
  assert.deepEqual(configSchema().parse(example), defaults)
  // Optional keys without a default are shown commented out.
  const text = readFileSync(`${configDir}watchdog.example.yml`, 'utf8')
  for (const key of ['host:', 'managementJson:', 'configYaml:', 'dir:']) {
    assert.match(text, new RegExp(`# {1,3}${key}`), key)
  }
})

test('no file: defaults (auto-detection, local socket, :9464); env overrides apply', () => {
  const { config } = loadConfig(undefined, {
    NETBIRD_WATCHDOG_METRICS_ADDRESS: '127.0.0.1:19464',
    NETBIRD_WATCHDOG_TARGETS: 'a, b',
  })
  assert.equal(config.targets.autoDetect, true)
  assert.equal(config.docker.socketPath, '/var/run/docker.sock')
  assert.equal(config.metrics.address, '127.0.0.1:19464')
  assert.deepEqual(config.targets.names, ['a', 'b'])
  assert.equal(loadConfig(undefined, {}).config.metrics.address, ':9464')
})

test('every problem is listed with its path', () => {
  try {
    loadConfig(fileURLToPath(new URL('../fixtures/config/invalid-run.yml', import.meta.url)), {})
    assert.fail('expected CONFIG_INVALID')
  } catch (err) {
    assert.ok(isWatchdogError(err, 'CONFIG_INVALID'))
    assert.match(err.message, /detection\.loopDeaths: /)
    assert.match(err.message, /metrics\.address: must be host:port/)
    assert.match(err.message, /targets\.bogus: unknown key/)
  }
})

test('an empty NETBIRD_WATCHDOG_CONFIG means "no file", not a file named ""', () => {
  const { config, source } = loadConfig(undefined, { NETBIRD_WATCHDOG_CONFIG: '' })
  assert.equal(source, undefined)
  assert.equal(config.metrics.address, ':9464')
})

test('checks on one field or section run whatever else is wrong: every problem at once, each once', () => {
  const problems = configSchema().safeParse({
    mode: 'bogus',
    targets: { label: 'has space=x' },
    idp: { dsn: 'not a dsn' },
    repair: { restartBackoffSeconds: 60, restartBackoffMaxSeconds: 30 },
    metrics: { address: 'x' },
  })
  assert.equal(problems.success, false)
  const byPath = problems.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  assert.deepEqual(
    byPath.map((p) => p.slice(0, p.indexOf(':'))).sort(),
    ['idp.dsn', 'metrics.address', 'mode', 'repair.restartBackoffMaxSeconds', 'targets.label'],
    byPath.join('\n'),
  )
  assert.ok(
    !byPath.some((p) => p.includes('65535')),
    'no port complaint about text that is not host:port',
  )
})

test('waits and periods are bounded: Node fires a timer over 2^31-1 ms at once', () => {
  const over = configSchema().safeParse({
    oidc: { timeoutMs: 3_000_000_000 },
    webhook: { timeoutMs: 600_001 },
    idp: { busyTimeoutMs: 2 ** 31 },
    repair: { cooldownSeconds: 30 * 24 * 3600 },
    docker: { reconnectMaxSeconds: 2 ** 31 },
  })
  assert.equal(over.success, false)
  assert.deepEqual(over.error.issues.map((i) => i.path.join('.')).sort(), [
    'docker.reconnectMaxSeconds',
    'idp.busyTimeoutMs',
    'oidc.timeoutMs',
    'repair.cooldownSeconds',
    'webhook.timeoutMs',
  ])
  const atLimit = configSchema().safeParse({
    oidc: { timeoutMs: 600_000 },
    repair: { cooldownSeconds: 20 * 24 * 3600 },
  })
  assert.equal(atLimit.success, true)
})
