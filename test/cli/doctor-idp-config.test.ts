// doctor's checks of the embedded IdP's own settings (idp-storage-config, session-cookie-key,
// local-auth-connectors) against the files a real NetBird reads: config.yaml as getting-started.sh
// v0.77.1 renders it, management.json of the quickstart, and idp.db with Dex's schema. The verdicts
// mirror netbirdio/netbird v0.77.1 management/server/idp/embedded.go and combined/cmd/config.go.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import type { CheckId, CheckResult } from '../../src/core/checks/check.js'
import { cookieKeyVerdict, goBase64DecodedLength } from '../../src/core/checks/idp-config-checks.js'
import { runDoctor, type DoctorReport } from '../../src/doctor/run-doctor.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { runCli } from '../helpers/cli.js'
import { canarySecret, createIdpDb, oidcConnectorConfig } from '../helpers/idp-fixture.js'
import { defer } from '../helpers/cleanup.js'

const fixtures = new URL('../fixtures/netbird/', import.meta.url)
const fixture = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8')
const lab = { timeoutMs: 1500, allowInsecure: true }
/** 32 bytes, base64-encoded as `openssl rand -base64 32` prints them (44 characters). */
const cookieKey = Buffer.from('cookie-canary-32-bytes-long-7f3c').toString('base64')
const datastoreKey = Buffer.from('datastore-canary-32-bytes-long!!').toString('base64')
const dsnPassword = 'pg-canary-Pa55w0rd-9d1e'

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-idp-config-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** config.yaml as getting-started.sh v0.77.1 writes it, then edited as an operator would. */
function configYaml(dir: string, edit: (text: string) => string = (s) => s): string {
  const path = join(dir, 'config.yaml')
  const text = fixture('config-v0.77-combined.yaml')
    .replace('__COOKIE_KEY__', cookieKey)
    .replace('__DATASTORE_KEY__', datastoreKey)
  writeFileSync(path, edit(text))
  return path
}

/** Adds lines under `server.auth:` (indented like the rest of the block). */
const inAuth =
  (...lines: string[]) =>
  (text: string): string =>
    text.replace('  auth:\n', `  auth:\n${lines.map((l) => `    ${l}\n`).join('')}`)
/** Adds a `server.authStore` block. */
const authStore =
  (...lines: string[]) =>
  (text: string): string =>
    text.replace('  store:\n', `  authStore:\n${lines.map((l) => `    ${l}\n`).join('')}  store:\n`)

function results(report: DoctorReport, id: CheckId): CheckResult[] {
  return report.checks.filter((c) => c.id === id)
}
function one(report: DoctorReport, id: CheckId): CheckResult {
  const hits = results(report, id)
  assert.equal(hits.length, 1, `one ${id} result in ${JSON.stringify(report.checks, null, 1)}`)
  return hits[0]!
}
function assertNoSecrets(report: DoctorReport): void {
  const text = JSON.stringify(report)
  for (const s of [cookieKey, datastoreKey, dsnPassword, canarySecret, 'cookie-canary']) {
    assert.ok(!text.includes(s), `secret leaked: ${s}`)
  }
}

test("the v0.77.1 quickstart's config.yaml passes: default auth store, a 32-byte base64 cookie key", async (t) => {
  const report = await runDoctor({ configYaml: configYaml(tmp(t)) }, lab)
  const storage = one(report, 'idp-storage-config')
  assert.equal(storage.status, 'pass')
  assert.equal(storage.area, 'idp-config')
  assert.match(storage.message, /"sqlite3" \(the default\): \/var\/lib\/netbird\/idp\.db/)
  const key = one(report, 'session-cookie-key')
  assert.equal(key.status, 'pass')
  assert.match(key.message, /32 bytes once base64-decoded \(not shown\)/)
  assert.deepEqual(
    results(report, 'local-auth-connectors'),
    [],
    'local login is on: nothing to check',
  )
  assert.equal(report.ok, true)
  assertNoSecrets(report)
})

test('server.authStore.engine as NetBird reads it: `sqlite` fails naming sqlite3, other spellings fail, the two real engines pass', async (t) => {
  const cases: Array<[edit: (s: string) => string, status: string, pattern: RegExp]> = [
    [authStore('engine: "sqlite"'), 'fail', /Set server\.authStore\.engine to "sqlite3"/],
    [authStore('engine: sqlite'), 'fail', /"sqlite" is how server\.store\.engine spells SQLite/],
    [authStore('engine: "Postgres"', 'dsn: "host=db"'), 'fail', /to "postgres"/],
    [authStore('engine: postgresql', 'dsn: "host=db"'), 'fail', /to "postgres"/],
    [authStore('engine: mysql'), 'fail', /to "sqlite3" .* or "postgres"/],
    [authStore('engine: "sqlite3"'), 'pass', /engine "sqlite3": \/var\/lib\/netbird\/idp\.db/],
    [
      authStore('engine: sqlite3', 'file: auth/idp.db'),
      'pass',
      /\/var\/lib\/netbird\/auth\/idp\.db/,
    ],
    // combined/cmd/config.go: without authStore.engine, server.auth.storage.type is the engine.
    [inAuth('storage:', '  type: sqlite'), 'fail', /server\.auth\.storage\.type to "sqlite3"/],
    [inAuth('storage:', '  type: sqlite3'), 'pass', /engine "sqlite3"/],
  ]
  for (const [edit, status, pattern] of cases) {
    const dir = tmp(t)
    const report = await runDoctor({ configYaml: configYaml(dir, edit) }, lab)
    const c = one(report, 'idp-storage-config')
    const text = `${c.message} ${c.remediation ?? ''}`
    assert.equal(c.status, status, text)
    assert.match(text, pattern)
    if (status === 'fail') {
      assert.match(c.message, /NetBird accepts only "sqlite3" or "postgres", exactly as written/)
      assert.match(c.message, /idp-storage-config-invalid/)
      assert.equal(report.ok, false)
    }
  }
})

test('a postgres auth store needs its DSN; the DSN is never shown', async (t) => {
  const none = await runDoctor(
    { configYaml: configYaml(tmp(t), authStore('engine: "postgres"')) },
    lab,
  )
  const missing = one(none, 'idp-storage-config')
  assert.equal(missing.status, 'fail')
  assert.match(missing.message, /authStore\.dsn is required when authStore\.engine is postgres/)
  const dsn = `postgres://netbird:${dsnPassword}@db:5432/netbird?sslmode=disable`
  const given = await runDoctor(
    { configYaml: configYaml(tmp(t), authStore('engine: "postgres"', `dsn: "${dsn}"`)) },
    lab,
  )
  assert.equal(one(given, 'idp-storage-config').status, 'pass')
  assertNoSecrets(given)
  // management.json names it EmbeddedIdP.Storage.Config.DSN, and NetBird says so differently.
  const dir = tmp(t)
  const mj = join(dir, 'management.json')
  writeFileSync(
    mj,
    fixture('management-v0.64-quickstart.json').replace('"Type": "sqlite3"', '"Type": "postgres"'),
  )
  const json = await runDoctor({ managementJson: mj }, lab)
  const c = one(json, 'idp-storage-config')
  assert.equal(c.status, 'fail')
  assert.equal(c.target, `${mj} EmbeddedIdP.Storage.Type`)
  assert.match(c.message, /storage DSN is required for postgres/)
})

test('management.json: the storage type is compared exactly, the default is sqlite3 in the data directory', async (t) => {
  const dir = tmp(t)
  const mj = join(dir, 'management.json')
  const v64 = fixture('management-v0.64-quickstart.json')
  const run = async (text: string): Promise<CheckResult> => {
    writeFileSync(mj, text)
    return one(await runDoctor({ managementJson: mj }, lab), 'idp-storage-config')
  }
  assert.equal((await run(v64)).status, 'pass')
  const sqlite = await run(v64.replace('"Type": "sqlite3"', '"Type": "sqlite"'))
  assert.equal(sqlite.status, 'fail')
  assert.match(sqlite.remediation ?? '', /Set EmbeddedIdP\.Storage\.Type to "sqlite3"/)
  // Go matches struct keys case-insensitively, values exactly.
  const lower = await run(v64.replace('"Type": "sqlite3"', '"type": "SQLite3"'))
  assert.equal(lower.status, 'fail')
  const v62 = await run(fixture('management-v0.62-quickstart.json'))
  assert.equal(v62.status, 'pass')
  assert.match(v62.message, /\(the default\): \/var\/lib\/netbird\/idp\.db/)
})

test("the cookie key's length as NetBird decodes it: raw or base64 (four encodings), never shown", async (t) => {
  const b64 = (n: number) => randomBytes(n).toString('base64')
  const rawUrl = (n: number) => randomBytes(n).toString('base64url')
  const cases: Array<[key: string, ok: boolean, message: RegExp]> = [
    ['0123456789abcdef', true, /16 bytes \(not shown\)/],
    ['0123456789abcdef01234567', true, /24 bytes \(not shown\)/],
    ['0123456789abcdef0123456789abcdef', true, /32 bytes \(not shown\)/],
    [b64(32), true, /32 bytes once base64-decoded/],
    [b64(16), true, /24 bytes/], // 24 characters: a valid raw key before any decoding
    [b64(24), true, /32 bytes/], // likewise 32 characters
    [rawUrl(32), true, /32 bytes once base64-decoded/],
    [b64(32).replace(/=+$/, ''), true, /32 bytes once base64-decoded/],
    ['  ' + b64(32) + '  ', true, /32 bytes once base64-decoded/], // trimmed, as NetBird does
    ['too-short', false, /is 9 bytes and no base64 reading/],
    [b64(20), false, /is 28 bytes/],
    [b64(64), false, /is 88 bytes/],
    ['ü'.repeat(8), true, /16 bytes \(not shown\)/], // bytes, not characters
  ]
  for (const [key, ok, message] of cases) {
    const report = await runDoctor(
      {
        configYaml: configYaml(tmp(t), (s) => s.replace(`"${cookieKey}"`, JSON.stringify(key))),
      },
      lab,
    )
    const c = one(report, 'session-cookie-key')
    assert.equal(c.status, ok ? 'pass' : 'fail', `${JSON.stringify(key)}: ${c.message}`)
    assert.match(c.message, message)
    assert.ok(!JSON.stringify(report).includes(key.trim()), 'the key is never shown')
    if (!ok) {
      assert.match(c.remediation ?? '', /NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY/)
      assert.match(c.remediation ?? '', /server\.auth\.sessionCookieEncryptionKey/)
      assert.match(c.remediation ?? '', /16, 24 or 32 bytes/)
    }
  }
})

test('the cookie key from NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY only when the file has none; no key, no check', async (t) => {
  const bad = 'env-canary-cookie-key'
  const withoutKey = (s: string): string => s.replace(/ {4}sessionCookieEncryptionKey: .*\n/, '')
  const fromEnv = await runDoctor(
    { configYaml: configYaml(tmp(t), withoutKey) },
    { ...lab, env: { NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY: bad } },
  )
  const c = one(fromEnv, 'session-cookie-key')
  assert.equal(c.status, 'fail')
  assert.match(
    c.message,
    /^NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY \(in this environment\) is 21 bytes/,
  )
  assert.ok(!JSON.stringify(fromEnv).includes(bad))
  // The file's key wins over the environment (embedded.go resolveSessionCookieEncryptionKey).
  const fileWins = await runDoctor(
    { configYaml: configYaml(tmp(t)) },
    { ...lab, env: { NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY: bad } },
  )
  assert.equal(one(fileWins, 'session-cookie-key').status, 'pass')
  const neither = await runDoctor({ configYaml: configYaml(tmp(t), withoutKey) }, lab)
  assert.deepEqual(results(neither, 'session-cookie-key'), [])
  // management.json: EmbeddedIdP.SessionCookieEncryptionKey
  const dir = tmp(t)
  const mj = join(dir, 'management.json')
  writeFileSync(
    mj,
    fixture('management-v0.64-quickstart.json').replace(
      '"LocalAuthDisabled": false',
      '"LocalAuthDisabled": false,\n        "SessionCookieEncryptionKey": "not-a-valid-key"',
    ),
  )
  const json = await runDoctor({ managementJson: mj }, lab)
  const k = one(json, 'session-cookie-key')
  assert.equal(k.status, 'fail')
  assert.equal(k.target, `${mj} EmbeddedIdP.SessionCookieEncryptionKey`)
  assert.ok(!JSON.stringify(json).includes('not-a-valid-key'))
})

test('local login off needs another connector in idp.db (or a static one in management.json)', async (t) => {
  const dir = tmp(t)
  const onlyLocal = join(dir, 'only-local.db')
  createIdpDb(onlyLocal, {
    schema: 'grant-types',
    connectors: [{ id: 'local', type: 'local', name: 'Email', config: null }],
  })
  const withOidc = join(dir, 'with-oidc.db')
  createIdpDb(withOidc, {
    schema: 'grant-types',
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: 'okta-d1c9q4dl0fgs73cunqt0',
        type: 'oidc',
        name: 'Okta',
        config: oidcConnectorConfig({
          issuer: 'https://corp.okta.com',
          clientID: 'netbird',
          clientSecret: canarySecret,
        }),
      },
    ],
  })
  for (const flag of ['localAuthDisabled: true', 'localAuthDisabled: yes']) {
    const yaml = configYaml(tmp(t), inAuth(flag))
    const refused = await runDoctor({ configYaml: yaml, store: new SqliteStore(onlyLocal) }, lab)
    const c = one(refused, 'local-auth-connectors')
    assert.equal(c.status, 'fail', flag)
    assert.match(
      c.message,
      /cannot disable local authentication: no other identity providers configured/,
    )
    assert.match(c.remediation ?? '', /server\.auth\.localAuthDisabled to false/)
    assert.equal(refused.ok, false)
    const fine = await runDoctor({ configYaml: yaml, store: new SqliteStore(withOidc) }, lab)
    assert.equal(one(fine, 'local-auth-connectors').status, 'pass')
    assert.match(one(fine, 'local-auth-connectors').message, /okta-d1c9q4dl0fgs73cunqt0/)
    const noStore = await runDoctor({ configYaml: yaml }, lab)
    assert.equal(one(noStore, 'local-auth-connectors').status, 'skip')
  }
  // NetBird seeds EmbeddedIdP.StaticConnectors into the store before it looks (idp/dex/provider.go).
  const mj = join(dir, 'management.json')
  writeFileSync(
    mj,
    fixture('management-v0.64-quickstart.json').replace(
      '"LocalAuthDisabled": false',
      '"LocalAuthDisabled": true,\n        "StaticConnectors": [{"type": "oidc", "name": "Okta", "id": "okta-static", "config": {"issuer": "https://corp.okta.com"}}]',
    ),
  )
  const seeded = await runDoctor({ managementJson: mj, store: new SqliteStore(onlyLocal) }, lab)
  assert.equal(one(seeded, 'local-auth-connectors').status, 'pass')
})

test('doctor --config-yaml on a config with `engine: sqlite`: exit 1, the fix names sqlite3, no secret printed', async (t) => {
  const dir = tmp(t)
  const yaml = configYaml(dir, authStore('engine: "sqlite"'))
  const human = await runCli(['doctor', '--config-yaml', yaml])
  assert.equal(human.code, 1, human.stderr)
  assert.match(human.stdout, /Embedded IdP configuration/)
  assert.match(human.stdout, /✗ idp-storage-config: server\.authStore\.engine is "sqlite"/)
  assert.match(human.stdout, /fix: Set server\.authStore\.engine to "sqlite3"/)
  const json = await runCli(['doctor', '--config-yaml', yaml, '--json'])
  assert.equal(json.code, 1)
  const parsed = JSON.parse(json.stdout) as { checks: { id: string; status: string }[] }
  assert.ok(parsed.checks.some((c) => c.id === 'idp-storage-config' && c.status === 'fail'))
  for (const run of [human, json]) {
    for (const s of [cookieKey, datastoreKey]) {
      assert.ok(!run.stdout.includes(s) && !run.stderr.includes(s), 'no key printed')
    }
  }
})

test("Go's base64 decoders, as embedded.go uses them: padding rules, alphabets, ignored newlines", () => {
  const std = { url: false, padded: true }
  const rawStd = { url: false, padded: false }
  const url = { url: true, padded: true }
  const rawUrl = { url: true, padded: false }
  assert.equal(goBase64DecodedLength('YWJj', std), 3)
  assert.equal(goBase64DecodedLength('YWI=', std), 2)
  assert.equal(goBase64DecodedLength('YQ==', std), 1)
  assert.equal(goBase64DecodedLength('YQ=', std), undefined, 'padded needs a multiple of 4')
  assert.equal(goBase64DecodedLength('YQ', std), undefined)
  assert.equal(goBase64DecodedLength('Y===', std), undefined, 'at most two pads')
  assert.equal(goBase64DecodedLength('YQ==YQ==', std), undefined, 'nothing after padding')
  assert.equal(goBase64DecodedLength('YQ', rawStd), 1)
  assert.equal(goBase64DecodedLength('YQ==', rawStd), undefined, 'raw takes no padding')
  assert.equal(goBase64DecodedLength('Y', rawStd), undefined, 'a lone character is corrupt')
  assert.equal(goBase64DecodedLength('-_8', rawStd), undefined, 'URL alphabet is not standard')
  assert.equal(goBase64DecodedLength('-_8', rawUrl), 2)
  assert.equal(goBase64DecodedLength('+/8=', url), undefined)
  assert.equal(goBase64DecodedLength('YW\r\nJj', std), 3, 'CR and LF are skipped')
  // A key whose base64 is valid in one encoding only still counts.
  const key = randomBytes(32)
  assert.deepEqual(cookieKeyVerdict(key.toString('base64url')), {
    ok: true,
    bytes: 32,
    encoding: 'base64',
  })
  assert.deepEqual(cookieKeyVerdict('x'.repeat(33)), { ok: false, rawBytes: 33 })
})
