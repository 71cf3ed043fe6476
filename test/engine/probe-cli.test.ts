// `netbird-watchdog probe` as an operator runs it (dist/cli.js: `npm run build` first), against the
// simulated NetBird v0.65.2+ serving Dex's login endpoint as NetBird's Dex does
// (test/fixtures/fake-netbird, docs/reference/netbird.md "Dex at login") in a real container, real
// OpenID providers on 127.0.0.1 (oidc-provider), a real idp.db — and one real PostgreSQL store. The
// faults a real provider cannot be made to show on demand come from a small HTTP server on 127.0.0.1:
// a provider whose discovery answers and whose login page answers 500.
// Every run is checked for the connectors' client secret (the canary) and the PostgreSQL role's
// password: neither may appear on stdout or stderr.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { runCli, type CliRun } from '../helpers/cli.js'
import { nodeImage, requireDocker, uniqueName, waitFor } from '../helpers/docker.js'
import {
  canarySecret,
  createIdpDb,
  oidcConnectorConfig,
  type FixtureConnector,
} from '../helpers/idp-fixture.js'
import { freePort } from '../helpers/net.js'
import {
  clusterForFile,
  createDexDatabase,
  rolePassword,
  type PgCluster,
} from '../helpers/postgres.js'
import {
  fakeNetbirdDexUrl,
  removeTestContainers,
  runFakeNetbird,
  startIssuerPeer,
  type IssuerPeer,
} from '../helpers/selfheal.js'
import { defer } from '../helpers/cleanup.js'

/** NetBird's public issuer as the fixture's connectors spell their redirect URI (…/oauth2/callback). */
const issuer = 'https://netbird.example.com/oauth2'

let cluster: PgCluster
clusterForFile(
  (c) => (cluster = c),
  () => requireDocker([nodeImage]),
)

/** A generic-OIDC connector as NetBird stores it, its client secret the canary. */
function connector(id: string, storedIssuer: string): FixtureConnector {
  return {
    id,
    type: 'oidc',
    name: id,
    config: oidcConnectorConfig({
      issuer: storedIssuer,
      clientID: `client-${id}`,
      clientSecret: canarySecret,
    }),
  }
}

const local: FixtureConnector = { id: 'local', type: 'local', name: 'Email', config: null }

/**
 * A provider whose discovery answers (its issuer exactly as stored) and whose login page answers 500:
 * a fault a real oidc-provider does not show on demand. Counts the requests to its login page.
 */
async function startFailingLoginProvider(): Promise<{
  origin: string
  loginRequests(): number
  close(): Promise<void>
}> {
  let logins = 0
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/.well-known/openid-configuration') {
      const body = JSON.stringify({
        issuer: origin,
        authorization_endpoint: `${origin}/auth`,
        token_endpoint: `${origin}/token`,
        jwks_uri: `${origin}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
      res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    } else if (path === '/auth') {
      logins++
      res
        .writeHead(500, { 'content-type': 'text/html' })
        .end('<html><body><h1>Internal Server Error</h1></body></html>')
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    loginRequests: () => logins,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Runs the CLI; nothing it prints may hold a client secret or the PostgreSQL password. */
async function probe(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const run = await runCli(['probe', ...args], { env })
  for (const secret of [canarySecret, rolePassword, '9d2f7b1c']) {
    assert.ok(!run.stdout.includes(secret), `a secret on stdout:\n${run.stdout}`)
    assert.ok(!run.stderr.includes(secret), `a secret on stderr:\n${run.stderr}`)
  }
  return run
}

interface World {
  dir: string
  dbPath: string
  dexUrl: string
  peer: IssuerPeer
  failing: Awaited<ReturnType<typeof startFailingLoginProvider>>
}
let w: World
const cleanups: Array<() => Promise<unknown>> = []

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-probe-cli-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  // The provider returns its issuer with a trailing slash.
  const peer = await startIssuerPeer(undefined, { trailingSlash: true })
  cleanups.push(() => peer.close())
  // A provider Dex opens at NetBird's start, and which is gone by the time anyone logs in.
  const gone = await startIssuerPeer(undefined, { trailingSlash: true })
  cleanups.push(() => gone.close())
  const failing = await startFailingLoginProvider()
  cleanups.push(() => failing.close())
  const dbPath = join(dir, 'idp.db')
  createIdpDb(dbPath, {
    connectors: [
      local,
      connector('good', `${peer.origin}/`),
      // NetBird's JumpCloud case: stored without the trailing slash the provider returns.
      connector('broken', peer.origin),
      connector('failing', failing.origin),
      connector('gone', `${gone.origin}/`),
    ],
  })
  const container = uniqueName('probe-cli')
  cleanups.push(() => removeTestContainers([container]))
  const port = await freePort()
  const dexUrl = fakeNetbirdDexUrl(port, issuer)
  await runFakeNetbird({
    name: container,
    store: { dataDir: dir },
    variant: 'erro',
    listen: { port },
    issuer,
  })
  // Dex serves once it has opened every stored connector ('gone' included), as NetBird's does.
  await waitFor(
    "the stand-in's Dex",
    async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
    60_000,
  )
  await gone.close()
  w = { dir, dbPath, dexUrl, peer, failing }
})

after(async () => {
  for (const fn of cleanups.reverse()) await fn()
})

interface ProbeJson {
  ok: boolean
  url: string
  results: Array<
    | { connectorId: string; ok: true; ms: number }
    | { connectorId: string; ok: false; reason: string; detail: string; ms: number }
  >
}

/** --json: one JSON object, nothing else on stdout. */
function json(run: CliRun): ProbeJson {
  const lines = run.stdout.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `one line of JSON on stdout:\n${run.stdout}`)
  return JSON.parse(lines[0]!) as ProbeJson
}

/** Each probed connector and how it fared: `ok`, or its failure reason. */
function verdicts(out: ProbeJson): Record<string, string> {
  return Object.fromEntries(out.results.map((r) => [r.connectorId, r.ok ? 'ok' : r.reason]))
}

test('a connector Dex cannot open, a provider answering 500, a provider gone: exit 1, each with its reason, the working one passes', async () => {
  const run = await probe(['--url', w.dexUrl, '--db', w.dbPath, '--allow-insecure'])
  assert.equal(run.code, 1, run.stdout + run.stderr)
  assert.equal(run.stderr, '')
  const lines = run.stdout.trimEnd().split('\n')
  assert.equal(
    lines[0],
    `netbird-watchdog probe: ${w.dexUrl} (client netbird-cli), IdP store ${w.dbPath}`,
  )
  assert.match(lines[1]!, /^ {2}✓ "good": the login reaches the provider \(\d+ ms\)$/)
  assert.match(
    lines[2]!,
    /^ {2}✗ "broken": connector_failed: Dex cannot open the connector \(400 "Connector failed to initialize"/,
  )
  assert.equal(
    lines[3],
    '  ✗ "failing": provider_error: the provider answers the login URL with HTTP 500',
  )
  assert.match(
    lines[4]!,
    /^ {2}✗ "gone": provider_unreachable: the provider's discovery does not answer \(connection refused/,
  )
  assert.equal(lines[5], 'PROBLEMS FOUND: 3 of 4 connector(s) fail')
  // NetBird's local (password) connector is not a login through a provider: not probed.
  assert.equal(lines.length, 6)
})

test("--json: one object with ok, url and every connector's result; the same verdicts, exit 1", async () => {
  const run = await probe(['--url', w.dexUrl, '--db', w.dbPath, '--allow-insecure', '--json'])
  assert.equal(run.code, 1, run.stdout + run.stderr)
  assert.equal(run.stderr, '')
  const out = json(run)
  assert.deepEqual(Object.keys(out), ['ok', 'url', 'results'])
  assert.equal(out.ok, false)
  assert.equal(out.url, w.dexUrl)
  assert.deepEqual(verdicts(out), {
    good: 'ok',
    broken: 'connector_failed',
    failing: 'provider_error',
    gone: 'provider_unreachable',
  })
  for (const r of out.results) {
    assert.deepEqual(
      Object.keys(r),
      r.ok ? ['connectorId', 'ok', 'ms'] : ['connectorId', 'ok', 'reason', 'detail', 'ms'],
    )
    assert.ok(Number.isInteger(r.ms) && r.ms >= 0, `${r.connectorId}: ms`)
  }
  const broken = out.results.find((r) => r.connectorId === 'broken')
  assert.ok(broken !== undefined && !broken.ok)
  assert.match(broken.detail, /Connector failed to initialize/)
})

test('--connector: only the connectors named (repeatable); exit 0 when they pass, 1 when one fails', async () => {
  const good = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--connector',
    'good',
  ])
  assert.equal(good.code, 0, good.stdout + good.stderr)
  assert.match(good.stdout, /✓ "good"/)
  assert.doesNotMatch(good.stdout, /"broken"|"failing"|"gone"/)
  assert.match(good.stdout, /^OK: 1 connector\(s\) pass$/m)

  const two = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--json',
    '--connector',
    'broken',
    '--connector',
    'good',
  ])
  assert.equal(two.code, 1, two.stdout + two.stderr)
  assert.deepEqual(verdicts(json(two)), { good: 'ok', broken: 'connector_failed' })
})

test('--connector naming no OIDC connector in the store (unknown, or the local one): exit 2, nothing probed', async () => {
  for (const id of ['nope', 'local']) {
    const before = w.failing.loginRequests()
    const run = await probe([
      '--url',
      w.dexUrl,
      '--db',
      w.dbPath,
      '--allow-insecure',
      '--connector',
      'failing',
      '--connector',
      id,
    ])
    assert.equal(run.code, 2, run.stdout + run.stderr)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, new RegExp(`no OIDC connector "${id}" in `))
    assert.equal(w.failing.loginRequests(), before, 'no connector was probed')
  }
})

test("--no-provider: Dex and discovery only; the provider's login page is not fetched", async () => {
  const before = w.failing.loginRequests()
  const off = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--connector',
    'failing',
    '--no-provider',
  ])
  assert.equal(off.code, 0, off.stdout + off.stderr)
  assert.match(off.stdout, /✓ "failing": the login reaches the provider/)
  assert.equal(w.failing.loginRequests(), before, 'the login page was not asked')

  const on = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--connector',
    'failing',
  ])
  assert.equal(on.code, 1, on.stdout + on.stderr)
  assert.match(on.stdout, /✗ "failing": provider_error/)
  assert.equal(w.failing.loginRequests(), before + 1, 'the login page was asked once')
})

test('a probe Dex refuses as configured (--client-id, --redirect-uri): exit 2, the reason said', async () => {
  const client = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--client-id',
    'nope',
    '--json',
  ])
  assert.equal(client.code, 2, client.stdout + client.stderr)
  assert.deepEqual(verdicts(json(client)), {
    good: 'probe_client_unknown',
    broken: 'probe_client_unknown',
    failing: 'probe_client_unknown',
    gone: 'probe_client_unknown',
  })

  const redirect = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--connector',
    'good',
    '--redirect-uri',
    'http://localhost:9/elsewhere',
  ])
  assert.equal(redirect.code, 2, redirect.stdout + redirect.stderr)
  assert.match(redirect.stdout, /✗ "good": probe_redirect_unregistered: /)

  // The dashboard's client with one of its redirect URIs is a probe Dex accepts.
  const dashboard = await probe([
    '--url',
    w.dexUrl,
    '--db',
    w.dbPath,
    '--allow-insecure',
    '--connector',
    'good',
    '--client-id',
    'netbird-dashboard',
    '--redirect-uri',
    'https://netbird.example.com/nb-auth',
  ])
  assert.equal(dashboard.code, 0, dashboard.stdout + dashboard.stderr)
  assert.match(dashboard.stdout, /\(client netbird-dashboard\)/)
})

test('NetBird not listening: every connector netbird_unreachable, exit 1', async () => {
  const url = `http://127.0.0.1:${await freePort()}/oauth2`
  const run = await probe(['--url', url, '--db', w.dbPath, '--allow-insecure', '--json'])
  assert.equal(run.code, 1, run.stdout + run.stderr)
  assert.deepEqual(verdicts(json(run)), {
    good: 'netbird_unreachable',
    broken: 'netbird_unreachable',
    failing: 'netbird_unreachable',
    gone: 'netbird_unreachable',
  })
})

test('no URL to probe: exit 2 with a clear message, nothing probed', async () => {
  const before = w.failing.loginRequests()
  const run = await probe(['--db', w.dbPath, '--allow-insecure'])
  assert.equal(run.code, 2, run.stdout + run.stderr)
  assert.equal(run.stdout, '')
  assert.match(run.stderr, /no URL to probe: give --url/)
  assert.equal(w.failing.loginRequests(), before)
})

test('a --url with user information: exit 2, and neither the password nor the user is printed', async () => {
  const password = 'url-Pa55-5e1d8c'
  const url = new URL(w.dexUrl)
  url.username = 'probe-user-4b7a'
  url.password = password
  for (const args of [[], ['--json']]) {
    const run = await probe(['--url', url.href, '--db', w.dbPath, '--allow-insecure', ...args])
    assert.equal(run.code, 2, run.stdout + run.stderr)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /--url must not carry user information \(the value is not shown\)/)
    for (const s of [password, 'probe-user-4b7a']) {
      assert.ok(!run.stderr.includes(s), `stderr shows ${s}:\n${run.stderr}`)
    }
  }
})

test('a --url with a query or a fragment (the login path would land in it): exit 2, nothing probed', async () => {
  const before = w.failing.loginRequests()
  for (const url of [`${w.dexUrl}?tenant=1`, `${w.dexUrl}#login`]) {
    const run = await probe(['--url', url, '--db', w.dbPath, '--allow-insecure'])
    assert.equal(run.code, 2, run.stdout + run.stderr)
    assert.equal(run.stdout, '')
    assert.match(run.stderr, /--url must not have a query or a fragment/)
  }
  assert.equal(w.failing.loginRequests(), before)
})

test('a PostgreSQL store (--db DSN): the connectors read from it, every one passes, exit 0; no password printed', async (t) => {
  const peer = w.peer
  const { dsn } = await createDexDatabase(cluster, {
    connectors: [local, connector('pg-a', `${peer.origin}/`), connector('pg-b', `${peer.origin}/`)],
  })
  const container = uniqueName('probe-cli-pg')
  defer(t, () => removeTestContainers([container]))
  const port = await freePort()
  const dexUrl = fakeNetbirdDexUrl(port, issuer)
  await runFakeNetbird({
    name: container,
    store: { dsn },
    variant: 'erro',
    listen: { port },
    issuer,
  })
  await waitFor(
    "the stand-in's Dex",
    async () => (await fetch(`${dexUrl}/.well-known/openid-configuration`)).ok,
    60_000,
  )
  const run = await probe(['--url', dexUrl, '--db', dsn, '--allow-insecure'])
  assert.equal(run.code, 0, run.stdout + run.stderr)
  assert.equal(run.stderr, '')
  assert.match(run.stdout, /^ {2}✓ "pg-a": the login reaches the provider/m)
  assert.match(run.stdout, /^ {2}✓ "pg-b": the login reaches the provider/m)
  assert.match(run.stdout, /^OK: 2 connector\(s\) pass$/m)
  const out = json(await probe(['--url', dexUrl, '--db', dsn, '--allow-insecure', '--json']))
  assert.equal(out.ok, true)
  assert.deepEqual(verdicts(out), { 'pg-a': 'ok', 'pg-b': 'ok' })
})
