// The stand-in NetBird's login endpoint against what NetBird's embedded Dex does (docs/reference/netbird.md,
// "Dex at login"): the simulated container (test/fixtures/fake-netbird, `--listen`) on the real Docker
// engine with `--network host`, real oidc-providers on 127.0.0.1, a real idp.db with Dex's schema and
// one real PostgreSQL store. Each request is what the watchdog's SSO probe sends: `GET <dex>/auth/<id>`
// with NetBird's CLI client, no cookies, no redirects followed. Asserted: statuses, page texts,
// `Location`s byte for byte, the log lines NetBird prints, the auth_request rows, and Dex's
// resource_version rule (a connector held in memory keeps its old config until its version changes).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import {
  containerLogs,
  docker,
  nodeImage,
  removeContainers,
  requireDocker,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import {
  createIdpDb,
  goJsonMarshal,
  holdLock,
  oidcConnectorConfig,
  type FixtureConnector,
  type FixtureSchema,
} from '../helpers/idp-fixture.js'
import { freePort } from '../helpers/net.js'
import { clusterForFile, createDexDatabase, type PgCluster } from '../helpers/postgres.js'
import { fakeNetbirdDexUrl, runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { defer } from '../helpers/cleanup.js'

let cluster: PgCluster
clusterForFile(
  (c) => (cluster = c),
  () => requireDocker([nodeImage]),
)

const issuer = 'https://netbird.example.com/oauth2'
const callback = `${issuer}/callback` // what NetBird stores as the connector's redirectURI
const probeState = 'probe-state-1'
/** Dex's storage.NewID: a letter, then 24 characters of unpadded lowercase base32. */
const dexId = /^[a-z][a-z2-7]{24}$/

function connector(
  id: string,
  fields: { issuer: string; clientID?: string; redirectURI?: string },
) {
  return {
    id,
    type: 'oidc',
    name: id,
    config: oidcConnectorConfig({
      issuer: fields.issuer,
      clientID: fields.clientID ?? `${id}-client`,
      clientSecret: 'secret',
      redirectURI: fields.redirectURI ?? callback,
    }),
  } satisfies FixtureConnector
}

/** The probe's request: NetBird's CLI client and its first redirect URI. */
function loginUrl(dex: string, id: string, change: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    client_id: 'netbird-cli',
    redirect_uri: 'http://localhost:53000/',
    response_type: 'code',
    scope: 'openid profile email',
    state: probeState,
    ...change,
  })
  return `${dex}/auth/${encodeURIComponent(id)}?${q.toString()}`
}

interface Answer {
  status: number
  location: string | null
  contentType: string | null
  body: string
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { redirect: 'manual' })
  return {
    status: res.status,
    location: res.headers.get('location'),
    contentType: res.headers.get('content-type'),
    body: await res.text(),
  }
}

/** The error page's heading and message (NetBird's Dex error template). */
function errorPage(body: string): { heading?: string; message?: string } {
  const heading = /<h1 class="nb-heading">([^<]*)<\/h1>/.exec(body)?.[1]
  const message = /<div class="nb-error">\s*([^<]*?)\s*<\/div>/.exec(body)?.[1]
  return {
    ...(heading !== undefined ? { heading } : {}),
    ...(message !== undefined ? { message } : {}),
  }
}

/** The provider's authorization_endpoint from its own discovery document. */
async function authorizationEndpoint(origin: string): Promise<string> {
  const doc = (await (await fetch(`${origin}/.well-known/openid-configuration`)).json()) as {
    authorization_endpoint: string
  }
  return doc.authorization_endpoint
}

/** The Location Dex builds (oauth2.Config.AuthCodeURL: url.Values.Encode, keys sorted). */
function expectedLocation(authEndpoint: string, clientID: string, state: string): string {
  return `${authEndpoint}?client_id=${clientID}&redirect_uri=https%3A%2F%2Fnetbird.example.com%2Foauth2%2Fcallback&response_type=code&scope=openid+openid+profile+email&state=${state}`
}

async function restartState(name: string): Promise<string> {
  return (
    await docker(['inspect', '--format', '{{.RestartCount}} {{.State.StartedAt}}', name])
  ).trim()
}

/** The stand-in on a free port; resolves once its Dex answers discovery. */
async function standIn(
  t: TestContext,
  opts: { store: { dataDir: string } | { dsn: string }; version?: string },
): Promise<{ name: string; dex: string; logs(): Promise<string> }> {
  const name = uniqueName('fake-sso')
  defer(t, () => removeContainers([name]))
  const port = await freePort()
  await runFakeNetbird({
    name,
    store: opts.store,
    variant: 'erro',
    listen: { port },
    issuer,
    ...(opts.version !== undefined ? { version: opts.version } : {}),
  })
  const dex = fakeNetbirdDexUrl(port, issuer)
  await waitFor(
    'the stand-in Dex to answer',
    async () => (await fetch(`${dex}/.well-known/openid-configuration`)).status === 200,
    60_000,
  )
  return { name, dex, logs: async () => (await containerLogs(name)).toString('utf8') }
}

function tempDb(
  t: TestContext,
  connectors: FixtureConnector[],
  schema: FixtureSchema = 'v0.244',
): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-fake-sso-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'idp.db')
  createIdpDb(path, { schema, connectors })
  return { dir, path }
}

type Row = Record<string, unknown>

function sqlite<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { timeout: 5000 })
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

const authRows = (path: string): Row[] =>
  sqlite(path, (db) => db.prepare('select * from auth_request').all() as Row[])

function setConfig(path: string, id: string, config: string, resourceVersion?: string): void {
  sqlite(path, (db) => {
    db.prepare('update connector set config = ? where id = ?').run(Buffer.from(config), id)
    if (resourceVersion !== undefined) {
      db.prepare('update connector set resource_version = ? where id = ?').run(resourceVersion, id)
    }
  })
}

/** A log line of the stand-in, whole: `<RFC3339 time> ERRO <rest>`. */
function hasLine(logs: string, rest: string, millis = false): boolean {
  const time = millis
    ? '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'
    : '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ'
  const escaped = rest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^${time} ${escaped}$`, 'm').test(logs)
}

test('NetBird v0.65.2 (Dex v0.244.0), idp.db: the login endpoint answers as Dex does', async (t) => {
  const healthyPeer = await startIssuerPeer(t, { trailingSlash: false })
  const slashPeer = await startIssuerPeer(t, { trailingSlash: true }) // JumpCloud's spelling
  const otherPeer = await startIssuerPeer(t, { trailingSlash: false })
  const db = tempDb(t, [
    { id: 'local', type: 'local', name: 'Email', config: null },
    connector('healthy', { issuer: healthyPeer.origin }),
    connector('broken', { issuer: slashPeer.origin }), // stored without the provider's slash
    connector('held', { issuer: healthyPeer.origin }),
    connector('wrongcb', {
      issuer: healthyPeer.origin,
      redirectURI: 'https://netbird.example.com/other/callback',
    }),
  ])
  const nb = await standIn(t, { store: { dataDir: db.dir } })
  const started = await restartState(nb.name)
  const healthyAuth = await authorizationEndpoint(healthyPeer.origin)

  await t.test('a healthy connector: 302 to the provider, one auth_request row', async () => {
    const before = Date.now()
    const res = await get(loginUrl(nb.dex, 'healthy'))
    const after = Date.now()
    assert.equal(res.status, 302)
    const rows = authRows(db.path)
    assert.equal(rows.length, 1)
    const row = rows[0]!
    assert.match(String(row.id), dexId)
    assert.equal(res.location, expectedLocation(healthyAuth, 'healthy-client', String(row.id)))
    assert.equal(res.contentType, 'text/html; charset=utf-8')
    assert.equal(res.body, `<a href="${res.location.replace(/&/g, '&amp;')}">Found</a>.\n\n`)
    assert.deepEqual(
      {
        client_id: row.client_id,
        redirect_uri: row.redirect_uri,
        state: row.state,
        nonce: row.nonce,
        connector_id: row.connector_id,
        scopes: String(row.scopes),
        response_types: String(row.response_types),
        claims_groups: String(row.claims_groups),
        logged_in: row.logged_in,
        force_approval_prompt: row.force_approval_prompt,
        connector_data: row.connector_data,
        code_challenge: row.code_challenge,
        code_challenge_method: row.code_challenge_method,
      },
      {
        client_id: 'netbird-cli',
        redirect_uri: 'http://localhost:53000/',
        state: probeState,
        nonce: '',
        connector_id: 'healthy',
        scopes: '["openid","profile","email"]',
        response_types: '["code"]',
        claims_groups: 'null',
        logged_in: 0,
        force_approval_prompt: 0,
        connector_data: null,
        code_challenge: '',
        code_challenge_method: 'plain',
      },
    )
    assert.ok(Buffer.isBuffer(row.hmac_key) && row.hmac_key.length === 51)
    // expiry = now + 24 h, as mattn/go-sqlite3 writes a UTC time.Time.
    const expiry = String(row.expiry)
    assert.match(expiry, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00$/)
    const ms = Date.parse(expiry.replace(' ', 'T').replace('+00:00', 'Z'))
    const day = 24 * 3600 * 1000
    assert.ok(ms >= before + day - 1000 && ms <= after + day + 1000, expiry)
  })

  await t.test('a connector broken at startup: 400 and the ERRO line NetBird prints', async () => {
    const rowsBefore = authRows(db.path).length
    const res = await get(loginUrl(nb.dex, 'broken'))
    assert.equal(res.status, 400)
    assert.deepEqual(errorPage(res.body), {
      heading: 'Bad Request',
      message: 'Connector failed to initialize',
    })
    assert.equal(authRows(db.path).length, rowsBefore)
    const cause = `failed to create connector broken: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "${slashPeer.origin}" got "${slashPeer.origin}/"`
    const logs = await nb.logs()
    assert.ok(
      hasLine(
        logs,
        `ERRO [id: broken, err: failed to open connector: ${cause}] idp/dex/logrus_handler.go:83: server: Failed to open connector`,
      ),
      logs,
    )
    assert.ok(
      hasLine(
        logs,
        `ERRO [err: failed to open connector: failed to open connector: ${cause}] idp/dex/logrus_handler.go:83: Failed to get connector`,
      ),
      logs,
    )
  })

  await t.test(
    'the broken row fixed in the store, version left empty: the next login works, no restart',
    async () => {
      setConfig(db.path, 'broken', connector('broken', { issuer: `${slashPeer.origin}/` }).config)
      const res = await get(loginUrl(nb.dex, 'broken'))
      assert.equal(res.status, 302)
      const row = authRows(db.path).find((r) => r.connector_id === 'broken')
      assert.ok(row !== undefined)
      assert.equal(
        res.location,
        expectedLocation(
          await authorizationEndpoint(slashPeer.origin),
          'broken-client',
          String(row.id),
        ),
      )
      assert.equal(await restartState(nb.name), started)
    },
  )

  await t.test(
    'a connector held since startup: same resource_version keeps the old config, a new one reopens',
    async () => {
      const otherAuth = await authorizationEndpoint(otherPeer.origin)
      assert.notEqual(otherAuth, healthyAuth)
      const moved = connector('held', { issuer: otherPeer.origin, clientID: 'moved-client' }).config
      setConfig(db.path, 'held', moved) // resource_version stays ''
      const stale = await get(loginUrl(nb.dex, 'held'))
      assert.equal(stale.status, 302)
      assert.ok(
        stale.location?.startsWith(`${healthyAuth}?client_id=held-client&`),
        stale.location ?? '',
      )

      setConfig(db.path, 'held', moved, 'rv-2')
      const fresh = await get(loginUrl(nb.dex, 'held'))
      assert.equal(fresh.status, 302)
      assert.ok(
        fresh.location?.startsWith(`${otherAuth}?client_id=moved-client&`),
        fresh.location ?? '',
      )

      // Held again, now at rv-2: a change without a new version is not seen.
      setConfig(
        db.path,
        'held',
        connector('held', { issuer: otherPeer.origin, clientID: 'third' }).config,
      )
      const held = await get(loginUrl(nb.dex, 'held'))
      assert.ok(
        held.location?.startsWith(`${otherAuth}?client_id=moved-client&`),
        held.location ?? '',
      )
      assert.equal(await restartState(nb.name), started)
    },
  )

  await t.test('an unknown client: 404, nothing stored', async () => {
    const rowsBefore = authRows(db.path).length
    const res = await get(loginUrl(nb.dex, 'healthy', { client_id: 'nobody' }))
    assert.equal(res.status, 404)
    assert.deepEqual(errorPage(res.body), {
      heading: 'Not Found',
      message: 'Invalid client_id (&#34;nobody&#34;).',
    })
    assert.equal(authRows(db.path).length, rowsBefore)
    const logs = await nb.logs()
    assert.ok(
      hasLine(
        logs,
        'ERRO [err: Invalid client_id ("nobody").] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      ),
      logs,
    )
  })

  await t.test('a redirect URI the client does not have: 400, nothing stored', async () => {
    const rowsBefore = authRows(db.path).length
    const res = await get(loginUrl(nb.dex, 'healthy', { redirect_uri: 'http://localhost:55555/' }))
    assert.equal(res.status, 400)
    assert.deepEqual(errorPage(res.body), {
      heading: 'Bad Request',
      message: 'Unregistered redirect_uri (&#34;http://localhost:55555/&#34;).',
    })
    assert.equal(authRows(db.path).length, rowsBefore)
    // NetBird's other CLI redirect URI is registered.
    const other = await get(
      loginUrl(nb.dex, 'healthy', { redirect_uri: 'http://localhost:54000/' }),
    )
    assert.equal(other.status, 302)
  })

  await t.test('no openid scope: 303 back to the client with invalid_scope', async () => {
    const res = await get(loginUrl(nb.dex, 'healthy', { scope: 'profile email' }))
    assert.equal(res.status, 303)
    assert.equal(
      res.location,
      `http://localhost:53000/?error=invalid_scope&error_description=Missing+required+scope%28s%29+%5B%22openid%22%5D.&state=${probeState}`,
    )
  })

  await t.test(
    'a stored redirectURI that is not <issuer>/callback: 500 "Login error." after storing the request',
    async () => {
      const rowsBefore = authRows(db.path).length
      const res = await get(loginUrl(nb.dex, 'wrongcb'))
      assert.equal(res.status, 500)
      assert.deepEqual(errorPage(res.body), {
        heading: 'Internal Server Error',
        message: 'Login error.',
      })
      assert.equal(authRows(db.path).length, rowsBefore + 1)
      const logs = await nb.logs()
      assert.ok(
        hasLine(
          logs,
          `ERRO [connector_id: wrongcb, err: expected callback URL "${callback}" did not match the URL in the config "https://netbird.example.com/other/callback"] idp/dex/logrus_handler.go:83: connector returned error when creating callback`,
        ),
        logs,
      )
    },
  )

  await t.test(
    'a connector id not in the store: 400 "Connector failed to initialize"',
    async () => {
      const res = await get(loginUrl(nb.dex, 'gone'))
      assert.equal(res.status, 400)
      assert.equal(errorPage(res.body).message, 'Connector failed to initialize')
      assert.ok(
        hasLine(
          await nb.logs(),
          'ERRO [err: failed to get connector object from storage: not found] idp/dex/logrus_handler.go:83: Failed to get connector',
        ),
      )
    },
  )
  await t.test(
    "idp.db locked past Dex's 5 s busy timeout: a reader lock gives the same 400, a writer's 500",
    async () => {
      const rowsBefore = authRows(db.path).length
      // EXCLUSIVE: Dex cannot even read the connector row.
      const exclusive = await holdLock(db.path, 'exclusive')
      let res: Answer
      try {
        res = await get(loginUrl(nb.dex, 'healthy'))
      } finally {
        await exclusive.release()
      }
      assert.equal(res.status, 400)
      assert.equal(errorPage(res.body).message, 'Connector failed to initialize')
      assert.ok(
        hasLine(
          await nb.logs(),
          'ERRO [err: failed to get connector object from storage: select connector: database is locked] idp/dex/logrus_handler.go:83: Failed to get connector',
        ),
      )
      // RESERVED (another writer's open transaction): the row is read, the auth_request insert waits out.
      const reserved = await holdLock(db.path, 'immediate')
      try {
        res = await get(loginUrl(nb.dex, 'healthy'))
      } finally {
        await reserved.release()
      }
      assert.equal(res.status, 500)
      assert.equal(errorPage(res.body).message, 'Failed to connect to the database.')
      assert.ok(
        hasLine(
          await nb.logs(),
          'ERRO [err: insert auth request: database is locked] idp/dex/logrus_handler.go:83: failed to create authorization request',
        ),
      )
      assert.equal(authRows(db.path).length, rowsBefore)
      assert.equal((await get(loginUrl(nb.dex, 'healthy'))).status, 302)
    },
  )
})

test('NetBird v0.66.1+ with the IdP store in PostgreSQL: the same answers, auth_request in PostgreSQL', async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: false })
  const { dsn, database } = await createDexDatabase(cluster, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      connector('healthy', { issuer: peer.origin }),
      connector('broken', { issuer: `${peer.origin}/` }), // the provider answers without the slash
    ],
  })
  const nb = await standIn(t, { store: { dsn }, version: '0.66.1' })
  const rows = async (): Promise<Row[]> => {
    const c = await cluster.connect(database)
    try {
      return (
        await c.query(
          "select id, client_id, connector_id, state, logged_in, force_approval_prompt, convert_from(scopes, 'UTF8') as scopes, expiry, length(hmac_key) as hmac_len from auth_request",
        )
      ).rows as Row[]
    } finally {
      await c.end()
    }
  }

  const before = Date.now()
  const ok = await get(loginUrl(nb.dex, 'healthy'))
  const after = Date.now()
  assert.equal(ok.status, 302)
  const stored = await rows()
  assert.equal(stored.length, 1)
  const row = stored[0]!
  assert.equal(
    ok.location,
    expectedLocation(await authorizationEndpoint(peer.origin), 'healthy-client', String(row.id)),
  )
  assert.deepEqual(
    {
      client_id: row.client_id,
      connector_id: row.connector_id,
      state: row.state,
      logged_in: row.logged_in,
      force_approval_prompt: row.force_approval_prompt,
      scopes: row.scopes,
      hmac_len: row.hmac_len,
    },
    {
      client_id: 'netbird-cli',
      connector_id: 'healthy',
      state: probeState,
      logged_in: false,
      force_approval_prompt: false,
      scopes: '["openid","profile","email"]',
      hmac_len: 51,
    },
  )
  const expiry = (row.expiry as Date).getTime()
  const day = 24 * 3600 * 1000
  assert.ok(expiry >= before + day - 1000 && expiry <= after + day + 1000, String(row.expiry))

  const broken = await get(loginUrl(nb.dex, 'broken'))
  assert.equal(broken.status, 400)
  assert.equal(errorPage(broken.body).message, 'Connector failed to initialize')
  assert.equal((await rows()).length, 1)
  assert.ok(
    hasLine(
      await nb.logs(),
      `ERRO [err: failed to open connector: failed to open connector: failed to create connector broken: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "${peer.origin}/" got "${peer.origin}"] idp/dex/logrus_handler.go:83: Failed to get connector`,
      true,
    ),
  )
})

test("NetBird v0.77.1 (the Dex fork it pins): PKCE towards the provider, the fork's texts and columns", async (t) => {
  const peer = await startIssuerPeer(t, { trailingSlash: false })
  const db = tempDb(
    t,
    [
      { id: 'local', type: 'local', name: 'Email', config: null },
      connector('healthy', { issuer: peer.origin }),
    ],
    'grant-types',
  )
  const nb = await standIn(t, { store: { dataDir: db.dir }, version: '0.77.1' })

  const res = await get(loginUrl(nb.dex, 'healthy'))
  assert.equal(res.status, 302)
  const rows = authRows(db.path)
  assert.equal(rows.length, 1)
  const row = rows[0]!
  // The verifier Dex keeps in connector_data; the challenge in the Location is its S256.
  const data = JSON.parse(String(row.connector_data)) as {
    codeChallenge: string
    codeChallengeMethod: string
  }
  assert.equal(data.codeChallengeMethod, 'S256')
  assert.match(data.codeChallenge, /^[A-Za-z0-9_-]{43}$/)
  const challenge = createHash('sha256').update(data.codeChallenge).digest('base64url')
  assert.equal(
    res.location,
    `${await authorizationEndpoint(peer.origin)}?client_id=healthy-client&code_challenge=${challenge}&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fnetbird.example.com%2Foauth2%2Fcallback&response_type=code&scope=openid+openid+profile+email&state=${String(row.id)}`,
  )
  assert.deepEqual(
    {
      prompt: row.prompt,
      max_age: row.max_age,
      auth_time: row.auth_time,
      mfa_validated: row.mfa_validated,
      webauthn_session_data: row.webauthn_session_data,
    },
    {
      prompt: '',
      max_age: -1,
      auth_time: '0001-01-01 00:00:00+00:00',
      mfa_validated: 0,
      webauthn_session_data: null,
    },
  )

  const unknown = await get(loginUrl(nb.dex, 'healthy', { client_id: 'nobody' }))
  assert.equal(unknown.status, 404)
  assert.equal(errorPage(unknown.body).message, 'Invalid client_id.')
  const logs = await nb.logs()
  assert.ok(
    hasLine(
      logs,
      'ERRO [client_id: nobody] idp/dex/logrus_handler.go:83: invalid client_id provided',
      true,
    ),
    logs,
  )
  assert.ok(
    hasLine(
      logs,
      'ERRO [err: Invalid client_id.] idp/dex/logrus_handler.go:83: failed to parse authorization request',
      true,
    ),
    logs,
  )
  // goJsonMarshal keeps the fixture's byte form; the stand-in's grant_types check reads it.
  sqlite(db.path, (d) =>
    d
      .prepare('update connector set grant_types = ?, resource_version = ? where id = ?')
      .run(
        Buffer.from(goJsonMarshal(['urn:ietf:params:oauth:grant-type:device_code'])),
        'rv-2',
        'healthy',
      ),
  )
  const refused = await get(loginUrl(nb.dex, 'healthy'))
  assert.equal(refused.status, 400)
  assert.equal(
    errorPage(refused.body).message,
    'Requested connector does not support this grant type.',
  )
})
