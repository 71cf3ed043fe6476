// `netbird-watchdog doctor` as an operator runs it (node dist/cli.js; `npm test` builds first): exit
// codes, the human report and its printed fix, the --json contract, and no secret in any output.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runCli, spawnCli, type CliRun } from '../helpers/cli.js'
import {
  canarySecret,
  createIdpDb,
  jumpcloudId,
  oidcConnectorConfig,
} from '../helpers/idp-fixture.js'
import { startJumpCloudApi, startJumpCloudLike } from '../helpers/oidc-peers.js'
import { defer } from '../helpers/cleanup.js'

const fixtures = new URL('../fixtures/netbird/', import.meta.url)
const fixture = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8')
const apiToken = 'jc-api-token-canary-cli-5e6f7a'

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-doctor-cli-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The guide's broken state: a Generic-OIDC JumpCloud connector stored without the trailing slash. */
function guideCase(dir: string, issuer: string): { db: string; mj: string } {
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: jumpcloudId,
        type: 'oidc',
        name: 'JumpCloud',
        config: oidcConnectorConfig({
          issuer,
          clientID: '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b',
          clientSecret: canarySecret,
        }),
      },
    ],
  })
  const mj = join(dir, 'management.json')
  writeFileSync(mj, fixture('management-v0.62-quickstart.json'))
  return { db, mj }
}

function assertClean(run: CliRun, ...secrets: string[]): void {
  for (const s of [canarySecret, ...secrets]) {
    assert.ok(!run.stdout.includes(s), `secret in stdout: ${s}`)
    assert.ok(!run.stderr.includes(s), `secret in stderr: ${s}`)
  }
}

test("the guide's trailing-slash case: exit 1, the printed fix, and the fix works", async (t) => {
  const dir = tmp(t)
  const jc = await startJumpCloudLike(t)
  const { db, mj } = guideCase(dir, jc.origin)
  const run = await runCli(['doctor', '--db', db, '--management-json', mj, '--allow-insecure'])
  assert.equal(run.code, 1, run.stderr)
  assert.match(run.stdout, /Embedded IdP connectors/)
  assert.ok(run.stdout.includes(`connector ${jumpcloudId} (JumpCloud)`))
  assert.ok(
    run.stdout.includes(
      `✗ issuer-matches-discovery: stored issuer "${jc.origin}" but the provider returns "${jc.origin}/" (the provider returns it with a trailing slash)`,
    ),
    run.stdout,
  )
  // A plain-http (lab) issuer: the printed command carries --allow-insecure, which `repair` requires.
  const fix = `netbird-watchdog repair --db ${db} --connector ${jumpcloudId} --issuer ${jc.origin}/ --allow-insecure`
  assert.ok(
    run.stdout.includes(`fix: Set the issuer to exactly "${jc.origin}/": ${fix}`),
    run.stdout,
  )
  assert.match(
    run.stdout,
    /✓ redirect-uri: redirectURI is https:\/\/netbird\.example\.com\/oauth2\/callback/,
  )
  assert.match(run.stdout, /PROBLEMS FOUND: \d+ passed, 0 warning\(s\), 1 failed, 0 skipped/)
  assertClean(run)

  // Run exactly the printed command; doctor is then clean.
  const repaired = await runCli(fix.split(' ').slice(1))
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr)
  const again = await runCli(['doctor', '--db', db, '--management-json', mj, '--allow-insecure'])
  assert.equal(again.code, 0, again.stdout)
  assert.match(again.stdout, /✓ issuer-matches-discovery/)
  assert.match(again.stdout, /^OK: /m)
  assertClean(again)
})

test('--json: one object, exactly the contract keys, exit 1 on a failure', async (t) => {
  const dir = tmp(t)
  const jc = await startJumpCloudLike(t)
  const { db, mj } = guideCase(dir, jc.origin)
  const run = await runCli([
    'doctor',
    '--db',
    db,
    '--management-json',
    mj,
    '--allow-insecure',
    '--json',
  ])
  assert.equal(run.code, 1, run.stderr)
  assert.equal(run.stdout.trim().split('\n').length, 1)
  const out = JSON.parse(run.stdout) as { ok: boolean; checks: Record<string, unknown>[] }
  assert.deepEqual(Object.keys(out), ['ok', 'checks'])
  assert.equal(out.ok, false)
  assert.ok(out.checks.length >= 5)
  for (const c of out.checks) {
    const keys = Object.keys(c)
    assert.deepEqual(keys.slice(0, 4), ['id', 'status', 'target', 'message'])
    assert.ok(keys.length === 4 || (keys.length === 5 && keys[4] === 'remediation'), keys.join())
    assert.ok(['pass', 'warn', 'fail', 'skip'].includes(c.status as string))
  }
  const issuer = out.checks.find((c) => c.id === 'issuer-matches-discovery')
  assert.equal(issuer?.status, 'fail')
  assert.equal(issuer?.target, `connector ${jumpcloudId} (JumpCloud)`)
  assert.match(String(issuer?.remediation), /--issuer http:\/\/127\.0\.0\.1:\d+\//)
  assertClean(run)
})

test('plain http is refused unless the config flag allows it', async (t) => {
  const dir = tmp(t)
  const jc = await startJumpCloudLike(t)
  const { db, mj } = guideCase(dir, jc.origin + '/')
  const refused = await runCli(['doctor', '--db', db, '--management-json', mj, '--json'])
  assert.equal(refused.code, 1)
  const out = JSON.parse(refused.stdout) as {
    checks: { id: string; status: string; message: string }[]
  }
  const reach = out.checks.find((c) => c.id === 'discovery-reachable')
  assert.equal(reach?.status, 'fail')
  assert.match(reach?.message ?? '', /plain-http issuer refused.*\[insecure\]/)
  // oidc.allowInsecure through the environment (NETBIRD_WATCHDOG_ALLOW_INSECURE_OIDC) or a config file.
  const viaEnv = await runCli(['doctor', '--db', db, '--management-json', mj], {
    env: { NETBIRD_WATCHDOG_ALLOW_INSECURE_OIDC: 'true' },
  })
  assert.equal(viaEnv.code, 0, viaEnv.stdout)
  const cfg = join(dir, 'watchdog.yaml')
  writeFileSync(
    cfg,
    `oidc:\n  allowInsecure: true\n  timeoutMs: 2000\nidp:\n  dbPath: ${db}\n  managementJson: ${mj}\n`,
  )
  const viaFile = await runCli(['doctor', '--config', cfg])
  assert.equal(viaFile.code, 0, viaFile.stdout + viaFile.stderr)
  assert.ok(viaFile.stdout.includes(`idp.db ${db}`))
})

test('standalone JumpCloud: a rejected API token fails (exit 1), the token never printed', async (t) => {
  const dir = tmp(t)
  const jc = await startJumpCloudLike(t)
  const api = await startJumpCloudApi(apiToken)
  defer(t, () => api.close())
  const write = (token: string): string => {
    const m = JSON.parse(
      fixture('management-standalone-jumpcloud.json')
        .replaceAll('https://oauth.id.jumpcloud.com', jc.origin)
        .replace('__API_TOKEN__', token),
    ) as { IdpManagerConfig: { ExtraConfig: Record<string, string> } }
    m.IdpManagerConfig.ExtraConfig.ApiUrl = api.apiUrl
    const path = join(dir, `management-${token.length}.json`)
    writeFileSync(path, JSON.stringify(m))
    return path
  }
  const bad = await runCli([
    'doctor',
    '--management-json',
    write('not-the-token-x'),
    '--allow-insecure',
  ])
  assert.equal(bad.code, 1, bad.stdout + bad.stderr)
  assert.match(bad.stdout, /Standalone IdP setup/)
  assert.match(
    bad.stdout,
    /✗ jumpcloud-api-token: the JumpCloud API at http:\/\/127\.0\.0\.1:\d+\/api rejected the token \(HTTP 401\)/,
  )
  assert.match(bad.stdout, /fix: Verify the integration user/)
  assertClean(bad, 'not-the-token-x', apiToken)
  const good = await runCli(['doctor', '--management-json', write(apiToken), '--allow-insecure'])
  assert.equal(good.code, 0, good.stdout)
  assert.match(good.stdout, /✓ jumpcloud-api-token/)
  assertClean(good, apiToken)
})

test('standalone JumpCloud: an API that never answers does not hold up a SIGTERM (exit 143)', async (t) => {
  const dir = tmp(t)
  const jc = await startJumpCloudLike(t)
  // Takes the token check's request and never answers it.
  let asked = false
  const silent = createServer(() => {
    asked = true
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  defer(t, () => {
    silent.closeAllConnections()
    silent.close()
  })
  const m = JSON.parse(
    fixture('management-standalone-jumpcloud.json')
      .replaceAll('https://oauth.id.jumpcloud.com', jc.origin)
      .replace('__API_TOKEN__', apiToken),
  ) as { IdpManagerConfig: { ExtraConfig: Record<string, string> } }
  m.IdpManagerConfig.ExtraConfig.ApiUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/api`
  const mj = join(dir, 'management.json')
  writeFileSync(mj, JSON.stringify(m))
  // Ten minutes to answer; a hang past the helper's deadline is SIGKILLed, failing the assertions.
  const cli = spawnCli(
    ['doctor', '--management-json', mj, '--allow-insecure', '--timeout-ms', '600000'],
    { timeoutMs: 30_000 },
  )
  for (let i = 0; !asked; i++) {
    assert.ok(i < 300, 'the token check never reached the API')
    await new Promise((r) => setTimeout(r, 50))
  }
  cli.child.kill('SIGTERM')
  const res = await cli.done
  assert.equal(res.signal, null, 'ended by itself after one SIGTERM, not killed')
  assert.equal(res.code, 143, res.stdout + res.stderr)
  assertClean(res, apiToken)
})

test('usage and input errors exit 2', async (t) => {
  const dir = tmp(t)
  const badTimeout = await runCli(['doctor', '--db', join(dir, 'x.db'), '--timeout-ms', 'soon'])
  assert.equal(badTimeout.code, 2)
  assert.match(badTimeout.stderr, /--timeout-ms must be a positive number/)
  // The old spelling is still read (and checked), but no longer shown.
  const oldSpelling = await runCli(['doctor', '--db', join(dir, 'x.db'), '--timeout', '0'])
  assert.equal(oldSpelling.code, 2)
  assert.match(oldSpelling.stderr, /--timeout-ms must be a positive number/)
  const help = await runCli(['doctor', '--help'])
  assert.match(help.stdout, /--timeout-ms <ms>/)
  assert.doesNotMatch(help.stdout, /--timeout </)
  const missingDb = await runCli(['doctor', '--db', join(dir, 'missing.db')])
  assert.equal(missingDb.code, 2)
  assert.match(missingDb.stderr, /database not found/)
  const broken = join(dir, 'management.json')
  writeFileSync(broken, '{ "HttpConfig": ')
  const badJson = await runCli(['doctor', '--management-json', broken])
  assert.equal(badJson.code, 2)
  assert.match(badJson.stderr, /not valid JSON/)
  const badConfig = join(dir, 'w.yaml')
  writeFileSync(badConfig, 'oidc:\n  allowInsecure: maybe\n')
  const cfg = await runCli(['doctor', '--config', badConfig])
  assert.equal(cfg.code, 2)
  const unknown = await runCli(['doctor', '--frobnicate'])
  assert.equal(unknown.code, 2)
})
