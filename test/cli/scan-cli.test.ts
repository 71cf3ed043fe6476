import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { getRule, ruleIds, rules } from '../../src/core/rules.js'
import { runCli, spawnCli } from '../helpers/cli.js'

const fatalLine = rules[0]!.examples[0]!
const benign =
  '2026-01-19T08:38:54Z INFO management/cmd/management.go:306: running with the embedded IdP: https://bird.example.com/oauth2'

describe('netbird-watchdog scan', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nbw-scan-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('clean input: exit 0 and a summary', async () => {
    const r = await runCli(['scan'], { input: `${benign}\n${benign}\n` })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /scanned 2 line\(s\): no known failure/)
  })

  test('a reader that closes the pipe early (`scan | head -1`): still exit 1 once a finding was seen', async () => {
    const log = join(dir, 'many.log')
    // Megabytes of findings: scan is still writing when the reader goes away.
    await writeFile(log, `${fatalLine}\n`.repeat(20_000))
    const cli = spawnCli(['scan', log], { timeoutMs: 30_000 })
    await new Promise<void>((resolve) => cli.child.stdout!.once('data', () => resolve()))
    cli.child.stdout!.destroy()
    const res = await cli.done
    assert.equal(res.signal, null, res.stderr)
    assert.equal(res.code, 1, res.stderr)
  })

  test('a finding on stdin: exit 1, row with line, rule, values and the fix', async () => {
    const r = await runCli(['scan', '-'], { input: `${benign}\n${fatalLine}\n${benign}\n` })
    assert.equal(r.code, 1)
    assert.match(
      r.stdout,
      /^line 2: oidc-issuer-mismatch \[critical, fatal\] connector=d5k3c2ejl7ks73b0hq2g/m,
    )
    assert.match(
      r.stdout,
      /configured="https:\/\/oauth\.id\.jumpcloud\.com" provider-returns="https:\/\/oauth\.id\.jumpcloud\.com\/"/,
    )
    assert.match(r.stdout, /fix: .*repair/)
    assert.match(r.stdout, /scanned 3 line\(s\): 1 finding\(s\) \(oidc-issuer-mismatch ×1\)/)
  })

  test('--json prints exactly one object per finding and nothing else', async () => {
    const file = join(dir, 'mixed.log')
    const lines = [benign, fatalLine, 'panic: runtime error: index out of range', benign]
    await writeFile(file, lines.join('\r\n'))
    const r = await runCli(['scan', file, '--json'])
    assert.equal(r.code, 1)
    const out = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown)
    assert.deepEqual(out, [
      {
        line: 2,
        rule: 'oidc-issuer-mismatch',
        severity: 'critical',
        fatal: true,
        connectorId: 'd5k3c2ejl7ks73b0hq2g',
        expectedIssuer: 'https://oauth.id.jumpcloud.com',
        returnedIssuer: 'https://oauth.id.jumpcloud.com/',
      },
      { line: 3, rule: 'panic', severity: 'critical', fatal: true },
    ])
  })

  test('a 10 MB single line is cut for matching, counted, and later lines still found', async () => {
    const file = join(dir, 'huge.log')
    const huge = 'x'.repeat(10 * 1024 * 1024)
    await writeFile(file, `${huge}\n${fatalLine}\n`)
    const r = await runCli(['scan', file])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^line 2: oidc-issuer-mismatch/m)
    assert.match(r.stdout, /scanned 2 line\(s\).*1 over-long line\(s\) were cut/)
  })

  test('a 10 MB line that itself carries the failure is still classified', async () => {
    const r = await runCli(['scan', '--json'], {
      input: `${fatalLine}${' padding'.repeat(1_400_000)}\n`,
    })
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stdout.trim()).rule, 'oidc-issuer-mismatch')
  })

  test('binary garbage does not crash the scanner', async () => {
    const garbage = Buffer.alloc(3 * 1024 * 1024)
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24
    const r = await runCli(['scan'], {
      input: Buffer.concat([garbage, Buffer.from(`\n${fatalLine}\n`)]),
    })
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stdout, /oidc-issuer-mismatch/)
  })

  test('unreadable input and bad usage exit 2 with a message on stderr', async () => {
    const missing = await runCli(['scan', join(dir, 'nope.log')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /cannot read .*nope\.log/)
    assert.equal(missing.stdout, '')
    const asDir = await runCli(['scan', dir])
    assert.equal(asDir.code, 2)
    const badFlag = await runCli(['scan', '--no-such-flag'])
    assert.equal(badFlag.code, 2)
    assert.match(badFlag.stderr, /unknown option/)
  })

  test('--json reports login-time and management failures from a mixed text/JSON stream', async () => {
    // NB_LOG_FORMAT=json turns NetBird's own lines into JSON; Dex keeps logging text through the bridge.
    const lines = [
      '{"level":"info","msg":"management server version 0.77.1","source":"management/cmd/management.go:140","time":"2026-08-20T12:00:00+02:00"}',
      getRule('login-issuer-mismatch').examples[1]!,
      '2026-08-20T10:09:00.000Z ERRO [user: alice@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.',
      getRule('login-failed').examples[0]!,
      getRule('authorization-request-invalid').examples[0]!,
      getRule('datastore-key-mismatch').examples[3]!,
      getRule('geolocation-failed').examples[3]!,
      getRule('config-invalid').examples[0]!,
    ]
    const r = await runCli(['scan', '--json'], { input: lines.join('\n') + '\n' })
    assert.equal(r.code, 1, r.stderr)
    const out = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown)
    assert.deepEqual(out, [
      {
        line: 2,
        rule: 'login-issuer-mismatch',
        severity: 'error',
        fatal: false,
        expectedIssuer: 'https://sso.example.com/realms/corp',
        returnedIssuer: 'http://sso.example.com/realms/corp',
      },
      { line: 4, rule: 'login-failed', severity: 'error', fatal: false },
      { line: 5, rule: 'authorization-request-invalid', severity: 'error', fatal: false },
      { line: 6, rule: 'datastore-key-mismatch', severity: 'critical', fatal: false },
      { line: 7, rule: 'geolocation-failed', severity: 'critical', fatal: true },
      { line: 8, rule: 'config-invalid', severity: 'critical', fatal: true },
    ])
  })

  test('a login-time issuer mismatch names the token issuer in the text report', async () => {
    const r = await runCli(['scan'], { input: getRule('login-issuer-mismatch').examples[0]! })
    assert.equal(r.code, 1)
    assert.match(
      r.stdout,
      /^line 1: login-issuer-mismatch \[error\] configured="https:\/\/sso\.example\.com\/realms\/corp" token-issuer="https:\/\/keycloak\.internal:8443\/realms\/corp"$/m,
    )
    assert.match(r.stdout, /fix: Make the provider issue tokens/)
  })

  test('a wrong password alone is no finding', async () => {
    const wrong =
      'netbird-server  | 2026-08-20T12:09:00.000+02:00 ERRO [user: bob@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.'
    const r = await runCli(['scan'], { input: `${wrong}\n${wrong}\n` })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /scanned 2 line\(s\): no known failure/)
  })

  test('--help lists every rule id of the catalogue', async () => {
    const r = await runCli(['scan', '--help'])
    assert.equal(r.code, 0)
    const listed = /^Rules: (.*)$/m.exec(r.stdout)?.[1]
    assert.deepEqual(listed?.split(', '), [...ruleIds])
  })

  test('--help documents the examples and exit codes', async () => {
    const r = await runCli(['scan', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /docker logs netbird-management 2>&1 \| netbird-watchdog scan/)
    assert.match(r.stdout, /Exit status: 0 no finding, 1 at least one finding, 2 usage error/)
  })
})
