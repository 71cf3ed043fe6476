// `netbird-watchdog bundle` as an operator runs it (node dist/cli.js; `npm run build` first), against
// the real Docker engine (a NetBird-like container and a neighbour of its compose project, logging
// real NetBird lines), config.yaml and management.json as NetBird's scripts write them, an idp.db with
// Dex's schema, and a real pre-repair backup. A canary sits in every kind of secret field; the archive
// (unpacked with the system's tar) must hold none of them. Then the partial and the bad-input cases.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test, type TestContext } from 'node:test'
import { gunzipSync } from 'node:zlib'
import {
  dsnPassword,
  looksLikeSecret,
  redactText,
  redactTree,
  secretValuesOf,
  type RedactionNote,
} from '../../src/core/bundle-redact.js'
import { tarArchive } from '../../src/bundle/tar.js'
import { runCli, type CliRun } from '../helpers/cli.js'
import {
  busyboxImage,
  docker,
  inspectState,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { canarySecret, createIdpDb, goJsonMarshal } from '../helpers/idp-fixture.js'
import { defer } from '../helpers/cleanup.js'

const exec = promisify(execFile)
const fixtures = new URL('../fixtures/netbird/', import.meta.url)
const fixture = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8')

/** One canary per kind of secret field; none may reach the archive. */
const canary = {
  clientSecret: canarySecret, // connector config in idp.db
  cookieKey: Buffer.from('cookie-canary-32-bytes-long-7f3c').toString('base64'),
  datastoreKeyYaml: Buffer.from('datastore-canary-yaml-32-bytes!!').toString('base64'),
  datastoreKeyJson: Buffer.from('datastore-canary-json-32-bytes!!').toString('base64'),
  authSecret: 'relay-canary-AuthSecret-1f2e3d',
  dsnPasswordYaml: 'pgCanaryYaml-9d1e7',
  dsnPasswordKv: 'pgCanaryKv-4b8c2',
  dsnPasswordJson: 'pgCanaryJson-3a6f0',
  apiToken: 'jc-api-token-canary-5e6f7a8b9c',
  relaySecret: 'relay-secret-canary-0c1d2e',
  ownerHash: '$2a$10$canaryOwnerHashN0tARealBcryptHashValue12345',
  /** Under a key nobody would call secret: caught by its shape only. */
  innocentYaml: 'sHaPe9Canary7xQ2LmN4pR8tV1wY3zB6',
  innocentJson: 'Zq8Wx3Canary5Rt7Yu1Io9Pa2Sd4Fg6Hj',
  /** Only in a log line, as a bearer token. */
  logToken: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnktbG9nLXRva2VuIn0.c2lnbmF0dXJlLWNhbmFyeQ',
}

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bundle-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function configYaml(): string {
  return fixture('config-v0.77-combined.yaml')
    .replace('__COOKIE_KEY__', canary.cookieKey)
    .replace('__DATASTORE_KEY__', canary.datastoreKeyYaml)
    .replace('relay-auth-secret-not-a-canary', canary.authSecret)
    .replace(
      '  store:\n    engine: "sqlite"\n',
      [
        `  note: "${canary.innocentYaml}"`,
        '  store:',
        '    engine: "postgres"',
        `    dsn: "postgres://netbird:${canary.dsnPasswordYaml}@postgres:5432/netbird?sslmode=disable"`,
        '',
      ].join('\n'),
    )
    .concat(
      [
        '  activityStore:',
        '    engine: "postgres"',
        `    dsn: "host=postgres port=5432 user=netbird password=${canary.dsnPasswordKv} dbname=netbird"`,
        '',
      ].join('\n'),
    )
}

function managementJson(): string {
  const m = JSON.parse(fixture('management-v0.64-quickstart.json')) as Record<string, unknown>
  m.DataStoreEncryptionKey = canary.datastoreKeyJson
  ;(m.Relay as Record<string, unknown>).Secret = canary.relaySecret
  m.IdpManagerConfig = {
    ManagerType: 'jumpcloud',
    ClientConfig: { Issuer: '', TokenEndpoint: 'https://console.jumpcloud.com/token' },
    ExtraConfig: { ApiToken: canary.apiToken },
  }
  m.ReverseProxy = { TrustedPeers: ['0.0.0.0/0'], Comment: canary.innocentJson }
  const e = m.EmbeddedIdP as Record<string, unknown>
  e.Owner = { Email: 'admin@example.com', Hash: canary.ownerHash }
  ;(e.Storage as { Config: Record<string, string> }).Config.DSN =
    `postgres://netbird:${canary.dsnPasswordJson}@postgres:5432/netbird`
  return JSON.stringify(m, null, 4)
}

/** NetBird lines as it logs them (rules.ts examples), some carrying a secret. */
const logLines = [
  '2026-08-20T10:00:00.100Z INFO management/internals/server/server.go:183: management server version 0.77.1',
  `2026-08-20T10:00:00.200Z FATL management/internals/server/boot.go:89: failed to create store: failed to connect to postgres://netbird:${canary.dsnPasswordYaml}@postgres:5432/netbird: dial tcp: lookup postgres: no such host`,
  `2026-08-20T10:00:00.300Z ERRO [err: oidc: failed to get token: oauth2: "invalid_client" client_secret=${canary.clientSecret}] idp/dex/logrus_handler.go:83: failed to authenticate`,
  '2026-08-20T10:00:00.400Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: invalid IdP storage config: unsupported IdP storage type: sqlite',
  `2026-08-20T10:00:00.500Z ERRO [context: HTTP] management/server/http/middleware/auth_middleware.go:90: Error when validating JWT: Bearer ${canary.logToken} token is expired`,
]

interface Setup {
  dir: string
  target: string
  neighbour: string
  targetImage: string
  args: string[]
}

async function setup(t: TestContext): Promise<Setup> {
  await requireDocker()
  const dir = tmp(t)
  const yaml = join(dir, 'config.yaml')
  writeFileSync(yaml, configYaml())
  const mj = join(dir, 'management.json')
  writeFileSync(mj, managementJson())
  const db = join(dir, 'idp.db')
  createIdpDb(db, {
    schema: 'grant-types',
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id: 'google-d1c9q5tl0fgs73cunqtg',
        type: 'google',
        name: 'Google',
        config: goJsonMarshal({
          clientID: 'netbird.apps.googleusercontent.com',
          clientSecret: canary.clientSecret,
          redirectURI: 'https://netbird.example.com/oauth2/callback',
        }),
      },
    ],
  })
  const backups = join(dir, 'backups')
  const backup = await runCli([
    'backups',
    'create',
    '--db',
    db,
    '--backup-dir',
    backups,
    '--reason',
    'pre-repair',
  ])
  assert.equal(backup.code, 0, backup.stderr)

  // Images named as NetBird's (local tags of the test image; no registry here), removed afterwards.
  const targetImage = `ghcr.io/netbirdio/netbird-server-cloud:nbw-test-${process.pid}`
  const neighbourImage = `netbirdio/dashboard:nbw-test-${process.pid}`
  for (const image of [targetImage, neighbourImage]) {
    await docker(['tag', busyboxImage, image])
    defer(t, () => docker(['rmi', image]).then(() => undefined))
  }
  const project = `nbw-bundle-${process.pid}`
  const target = uniqueName('netbird-server')
  const neighbour = uniqueName('netbird-dashboard')
  defer(t, () => removeContainers([target, neighbour]))
  const labels = (service: string) => ({
    'com.docker.compose.project': project,
    'com.docker.compose.service': service,
  })
  await runContainer({
    name: target,
    image: targetImage,
    labels: labels('netbird-server'),
    volumes: [`${yaml}:/etc/netbird/config.yaml:ro`],
    // sh prints the lines; the server's own arguments follow (sh's $0, $1…), so the engine reports
    // `--config /etc/netbird/config.yaml` in Args, as it does for the real server.
    cmd: [
      'sh',
      '-c',
      `printf '%s\\n' ${logLines.map((l) => `'${l.replace(/'/g, `'\\''`)}'`).join(' ')} >&2`,
      'netbird-server',
      '--config',
      '/etc/netbird/config.yaml',
    ],
  })
  await runContainer({
    name: neighbour,
    image: neighbourImage,
    labels: labels('dashboard'),
    cmd: ['true'],
  })
  await waitFor('the container to log and exit', async () =>
    (await inspectState(target)).Status === 'exited' ? true : undefined,
  )
  return {
    dir,
    target,
    neighbour,
    targetImage,
    args: [
      'bundle',
      '--container',
      target,
      '--config-yaml',
      yaml,
      '--management-json',
      mj,
      '--db',
      db,
      '--backup-dir',
      backups,
      '--since',
      '1h',
    ],
  }
}

/** Every file of the archive, unpacked by the system's tar. */
async function unpack(t: TestContext, archive: string): Promise<Map<string, string>> {
  const out = tmp(t)
  await exec('tar', ['-xzf', archive, '-C', out])
  const files = new Map<string, string>()
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, name.name)
      if (name.isDirectory()) walk(path, `${rel}${name.name}/`)
      else files.set(`${rel}${name.name}`, readFileSync(path, 'utf8'))
    }
  }
  walk(out, '')
  return files
}

function assertNoCanary(what: string, text: string): void {
  for (const [kind, value] of Object.entries(canary)) {
    assert.ok(!text.includes(value), `${what}: the ${kind} canary leaked`)
  }
}

function assertRunClean(run: CliRun): void {
  assertNoCanary('stdout', run.stdout)
  assertNoCanary('stderr', run.stderr)
}

test('bundle: every part, zero canaries, the README says what was removed', async (t) => {
  const s = await setup(t)
  const output = join(s.dir, 'bundle.tar.gz')
  const run = await runCli([...s.args, '--output', output], { timeoutMs: 120_000 })
  assert.equal(run.code, 0, run.stdout + run.stderr)
  assert.match(
    run.stdout,
    new RegExp(`^wrote ${output} \\(\\d+ bytes, \\d+ files, \\d+ redaction\\(s\\)\\)`),
  )
  assert.equal(run.stderr, '')
  assertRunClean(run)
  assert.equal(statSync(output).mode & 0o777, 0o600)

  // Zero canaries anywhere in the archive, whatever the file.
  assertNoCanary('archive', gunzipSync(readFileSync(output)).toString('utf8'))
  const files = await unpack(t, output)
  const names = [...files.keys()].map((n) => n.replace(/^[^/]+\//, '')).sort()
  assert.deepEqual(names, [
    'README.md',
    'config/config.yaml',
    'config/management.json',
    'connectors.json',
    'doctor.json',
    'heal-history.json',
    'scan.json',
    'scan.txt',
    'versions.json',
  ])
  const file = (name: string): string => [...files].find(([n]) => n.endsWith(`/${name}`))![1]

  const readme = file('README.md')
  assert.match(readme, /## What was removed/)
  for (const where of [
    'config/config.yaml: server.auth.sessionCookieEncryptionKey (secret key)',
    'config/config.yaml: server.authSecret (secret key)',
    'config/config.yaml: server.store.encryptionKey (secret key)',
    'config/config.yaml: server.store.dsn (dsn password)',
    'config/config.yaml: server.activityStore.dsn (dsn password)',
    'config/config.yaml: server.note (secret shape)',
    'config/management.json: DataStoreEncryptionKey (secret key)',
    'config/management.json: IdpManagerConfig.ExtraConfig.ApiToken (secret key)',
    'config/management.json: EmbeddedIdP.Storage.Config.DSN (dsn password)',
    'config/management.json: EmbeddedIdP.Owner.Hash (secret key)',
    'config/management.json: Relay.Secret (secret key)',
    'config/management.json: ReverseProxy.Comment (secret shape)',
    'connectors.json: [1].config.clientSecret (secret key)',
  ]) {
    assert.ok(readme.includes(where), `README names ${where}`)
  }
  assert.match(readme, /scan\.json: text \(known secret value\)/)
  assert.match(readme, /Nothing: every part was gathered\./)

  // What the redacted files still say.
  const yaml = file('config/config.yaml')
  assert.match(
    yaml,
    /dsn: "postgres:\/\/netbird:\[REDACTED\]@postgres:5432\/netbird\?sslmode=disable"/,
  )
  assert.match(yaml, /password=\[REDACTED\] dbname=netbird/)
  assert.match(yaml, /# Generated by getting-started\.sh/, 'comments and layout kept')
  assert.match(yaml, /issuer: "https:\/\/netbird\.example\.com\/oauth2"/)
  const mj = JSON.parse(file('config/management.json')) as {
    IdpManagerConfig: { ExtraConfig: { ApiToken: string }; ClientConfig: { TokenEndpoint: string } }
    EmbeddedIdP: { Storage: { Config: { DSN: string } } }
  }
  assert.equal(mj.IdpManagerConfig.ExtraConfig.ApiToken, '[REDACTED]')
  assert.equal(
    mj.IdpManagerConfig.ClientConfig.TokenEndpoint,
    'https://console.jumpcloud.com/token',
    'an endpoint is not a secret',
  )
  assert.equal(
    mj.EmbeddedIdP.Storage.Config.DSN,
    'postgres://netbird:[REDACTED]@postgres:5432/netbird',
  )

  const connectors = JSON.parse(file('connectors.json')) as {
    id: string
    config?: Record<string, unknown>
  }[]
  assert.deepEqual(connectors.map((c) => c.id).sort(), ['google-d1c9q5tl0fgs73cunqtg', 'local'])
  const google = connectors.find((c) => c.id.startsWith('google'))!
  assert.equal(google.config?.clientSecret, '[REDACTED]')
  assert.equal(google.config?.clientID, 'netbird.apps.googleusercontent.com')

  const scan = JSON.parse(file('scan.json')) as {
    lines: number
    findings: { rule: string; stream: string; text: string; time?: string }[]
  }
  assert.equal(scan.lines, logLines.length)
  assert.deepEqual(
    scan.findings.map((f) => f.rule),
    ['store-failed', 'login-failed', 'idp-storage-config-invalid'],
  )
  assert.ok(scan.findings.every((f) => f.stream === 'stderr' && f.time !== undefined))
  assert.match(scan.findings[0]!.text, /postgres:\/\/netbird:\[REDACTED\]@postgres:5432\/netbird/)
  assert.match(scan.findings[1]!.text, /client_secret=\[REDACTED\]/)
  assert.match(file('scan.txt'), /fix: Spell the auth store engine exactly `sqlite3` or `postgres`/)

  const versions = JSON.parse(file('versions.json')) as {
    watchdog: { version: string }
    netbird: {
      version: string
      layout: string
      edition: string
      containers: { name: string; image: string }[]
    }
  }
  assert.match(versions.watchdog.version, /^\d+\.\d+\.\d+/)
  assert.equal(versions.netbird.version, '0.77.1')
  assert.equal(versions.netbird.edition, 'enterprise')
  assert.deepEqual(
    versions.netbird.containers.map((c) => [c.name, c.image]),
    [
      [s.target, s.targetImage],
      [s.neighbour, `netbirdio/dashboard:nbw-test-${process.pid}`],
    ],
  )

  const doctor = JSON.parse(file('doctor.json')) as { checks: { id: string; status: string }[] }
  assert.ok(doctor.checks.some((c) => c.id === 'idp-storage-config' && c.status === 'pass'))
  assert.ok(doctor.checks.some((c) => c.id === 'session-cookie-key' && c.status === 'pass'))

  const history = JSON.parse(file('heal-history.json')) as {
    events: { reason: string; connectors: string[] }[]
    backupsByReason: Record<string, number>
  }
  assert.deepEqual(history.backupsByReason, { 'pre-repair': 1 })
  assert.equal(history.events[0]?.reason, 'pre-repair')
  assert.deepEqual(history.events[0]?.connectors.sort(), ['google-d1c9q5tl0fgs73cunqtg', 'local'])
})

test('bundle: the config file the container reads is found through the engine when none is given', async (t) => {
  const s = await setup(t)
  const output = join(s.dir, 'found.tar.gz')
  const args = s.args.filter(
    (a, i, all) =>
      !['--config-yaml', '--management-json'].includes(a) &&
      !['--config-yaml', '--management-json'].includes(all[i - 1] ?? ''),
  )
  const run = await runCli([...args, '--output', output], { timeoutMs: 120_000 })
  assert.equal(run.code, 0, run.stdout + run.stderr)
  const files = await unpack(t, output)
  const readme = [...files].find(([n]) => n.endsWith('/README.md'))![1]
  assert.match(
    readme,
    /found through the container: "\/etc\/netbird\/config\.yaml" of nbw-test-netbird-server-\d+-\d+ \(its --config\)/,
  )
  assert.ok([...files.keys()].some((n) => n.endsWith('/config/config.yaml')))
  assertNoCanary('archive', gunzipSync(readFileSync(output)).toString('utf8'))
})

test('bundle: without the engine it is still written, says what is missing, exits 1', async (t) => {
  const s = await setup(t)
  const output = join(s.dir, 'partial.tar.gz')
  const args = s.args.filter((a, i, all) => a !== '--container' && all[i - 1] !== '--container')
  const run = await runCli([...args, '--output', output], {
    env: { DOCKER_HOST: `unix://${join(s.dir, 'no-engine.sock')}` },
    timeoutMs: 120_000,
  })
  assert.equal(run.code, 1, run.stdout + run.stderr)
  assert.match(run.stderr, /missing from the bundle: the Docker engine: unreachable/)
  assertRunClean(run)
  const files = await unpack(t, output)
  const readme = [...files].find(([n]) => n.endsWith('/README.md'))![1]
  assert.match(readme, /## Missing\n\n- the Docker engine: unreachable/)
  assert.ok(![...files.keys()].some((n) => n.endsWith('/scan.json')), 'no log without the engine')
  assert.ok([...files.keys()].some((n) => n.endsWith('/connectors.json')))
  assertNoCanary('archive', gunzipSync(readFileSync(output)).toString('utf8'))
})

test('bundle: bad input exits 2 and writes nothing; --help answers', async (t) => {
  await requireDocker()
  const dir = tmp(t)
  const output = join(dir, 'x.tar.gz')
  const cases: string[][] = [
    ['--since', 'yesterday'],
    ['--since', '91d'],
    ['--since', '2099-01-01T00:00:00Z'],
    ['--timeout-ms', '0'],
    ['--container', `nbw-test-no-such-container-${process.pid}`],
    ['--output', join(dir, 'missing-dir', 'x.tar.gz')],
    ['--no-such-flag'],
  ]
  for (const extra of cases) {
    const run = await runCli(['bundle', '--output', output, ...extra, '--db', join(dir, 'none.db')])
    assert.equal(run.code, 2, `${extra.join(' ')}: ${run.stdout}${run.stderr}`)
    assert.ok(!existsSync(output), `${extra.join(' ')}: nothing written`)
  }
  mkdirSync(join(dir, 'taken'))
  writeFileSync(join(dir, 'taken', 'b.tar.gz'), 'mine')
  const taken = await runCli(['bundle', '--output', join(dir, 'taken', 'b.tar.gz')])
  assert.equal(taken.code, 2)
  assert.match(taken.stderr, /exists: give --output a new file/)
  assert.equal(readFileSync(join(dir, 'taken', 'b.tar.gz'), 'utf8'), 'mine')
  const help = await runCli(['bundle', '--help'])
  assert.equal(help.code, 0)
  assert.match(help.stdout, /Exit status: 0 written with every part, 1 written without some parts/)
  assert.match(help.stdout, /--since <when>/)
})

test('redaction rules: DSN passwords, shapes, known values; ids, UUIDs and URLs stay', () => {
  assert.equal(dsnPassword('postgres://u:p%40ss@h:5432/db'), 'p@ss')
  assert.equal(dsnPassword("host=h password='it\\'s a pw' dbname=d"), "it's a pw")
  assert.equal(dsnPassword('host=h password=plain dbname=d'), 'plain')
  assert.equal(dsnPassword('postgres://u@h/db'), undefined)
  for (const keep of [
    'd1c9q2ll0fgs73cunqsg',
    'okta-d1c9q4dl0fgs73cunqt0',
    '0f9c3b9e-2f1a-4c51-9d0e-5b7f3e1a2c44',
    'netbird-server-cloud-enterprise-image',
    'management_internals_server_modules_go',
    '/tmp/nbw-bundle-Ab3xYz/netbird-config-with-a-name-longer',
    'tmp/nbw-bundle-Q7wErT/config',
    '/var/lib/docker/volumes/Netbird9Data/_data',
  ]) {
    assert.equal(looksLikeSecret(keep), false, keep)
  }
  for (const secret of [
    canary.cookieKey,
    canary.innocentYaml,
    'a3f5c9e1b7d2046f8e1a9c3b5d7f0e2a4c6b8d0f',
  ]) {
    assert.equal(looksLikeSecret(secret), true, secret)
  }
  const text =
    'connect postgres://netbird:pw123456@db:5432/x failed; password=hunter22 token: abcdefgh Bearer abc.def.ghijkl https://oauth.id.jumpcloud.com/ okta-d1c9q4dl0fgs73cunqt0'
  const r = redactText(text, ['known-value-42'])
  assert.equal(
    r.text,
    'connect postgres://netbird:[REDACTED]@db:5432/x failed; password=[REDACTED] token: [REDACTED] Bearer [REDACTED] https://oauth.id.jumpcloud.com/ okta-d1c9q4dl0fgs73cunqt0',
  )
  assert.equal(
    redactText('has known-value-42 inside', ['known-value-42']).text,
    'has [REDACTED] inside',
  )
  const notes: RedactionNote[] = []
  const tree = {
    clientSecret: 's3cret-value',
    tokenEndpoint: 'https://idp/token',
    token_endpoint_auth_method: 'client_secret_post',
    nested: [{ Password: 'pw-in-array' }],
    dsn: 'postgres://u:pw@h/db',
  }
  assert.deepEqual(
    secretValuesOf(tree).sort(),
    ['pw', 'pw-in-array', 'pw-in-array', 's3cret-value', 's3cret-value'].sort(),
  )
  assert.deepEqual(redactTree(tree, [], 'f', notes), {
    clientSecret: '[REDACTED]',
    tokenEndpoint: 'https://idp/token',
    token_endpoint_auth_method: 'client_secret_post',
    nested: [{ Password: '[REDACTED]' }],
    dsn: 'postgres://u:[REDACTED]@h/db',
  })
  assert.deepEqual(
    notes.map((n) => `${n.where} ${n.reason}`),
    ['clientSecret secret key', 'nested[0].Password secret key', 'dsn dsn password'],
  )
})

test('the tar writer: ustar headers the system tar reads, names checked', async (t) => {
  const dir = tmp(t)
  const archive = join(dir, 'a.tar')
  const body = 'x'.repeat(1000)
  writeFileSync(
    archive,
    tarArchive(
      [
        { name: 'top/a.txt', data: 'hello\n' },
        { name: 'top/sub/b.txt', data: body },
        { name: 'top/empty', data: '' },
      ],
      new Date('2026-08-20T10:00:00Z'),
    ),
  )
  const { stdout } = await exec('tar', ['-tvf', archive])
  assert.match(stdout, /-rw------- 0\/0\s+6 2026-08-20 \d\d:00 top\/a\.txt/)
  assert.match(stdout, /1000 .* top\/sub\/b\.txt/)
  await exec('tar', ['-xf', archive, '-C', dir])
  assert.equal(readFileSync(join(dir, 'top/sub/b.txt'), 'utf8'), body)
  assert.throws(() => tarArchive([{ name: '../evil', data: '' }], new Date()), TypeError)
  assert.throws(() => tarArchive([{ name: 'x'.repeat(101), data: '' }], new Date()), TypeError)
})

test('bundle: a config file with a long or odd name is archived under the name of what it is', async (t) => {
  const dir = tmp(t)
  const long = join(dir, `${'netbird-config-with-a-name-longer-than-forty-characters'}.yaml`)
  writeFileSync(long, configYaml())
  const output = join(dir, 'long.tar.gz')
  const run = await runCli(['bundle', '--config-yaml', long, '--output', output], {
    env: { DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}` },
  })
  assert.equal(run.code, 1, run.stdout + run.stderr) // no engine, no store: partial
  const files = await unpack(t, output)
  const yaml = [...files].find(([n]) => n.endsWith('/config/config.yaml'))
  assert.ok(yaml, [...files.keys()].join(', '))
  assertNoCanary('config', yaml[1])
  const readme = [...files].find(([n]) => n.endsWith('/README.md'))![1]
  assert.ok(readme.includes(`\`config/config.yaml\`: NetBird's config.yaml as read from ${long}`))
})
