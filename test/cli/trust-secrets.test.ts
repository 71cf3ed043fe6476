// No secret in any message, round two: a canary secret hidden where the first round did not look —
// the user info of a webhook URL, a command-line value commander quotes back (with a quote inside it),
// a mistyped DSN that would be taken for a file path, a JumpCloud API token holding whitespace. Each
// case asserts the exit status, a message proving the input reached the code path meant, and that the
// canary is in no output stream (stdout, stderr, log records, what a real receiver got).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { redactValues } from '../../src/core/redact.js'
import { createNotifier } from '../../src/heal/webhook.js'
import { createLogger } from '../../src/log.js'
import { classifyNetworkError } from '../../src/oidc/discovery.js'
import { assertNoCanary, assertNoCanaryIn, envWithoutWatchdog, runCli } from '../helpers/cli.js'
import { createIdpDb } from '../helpers/idp-fixture.js'
import { closedPort, startJumpCloudApi, startJumpCloudLike } from '../helpers/oidc-peers.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

const canary = 'cnry-7f3c9a1e5b-Zq'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-secrets-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sinkLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'))
      cb()
    },
  })
  return { logger: createLogger({ level: 'debug' }, stream), text: () => chunks.join('') }
}

interface Received {
  url: string
  authorization: string | undefined
  body: string
}

async function receiver(
  t: CleanupScope,
  answer = 204,
): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      })
      res.writeHead(answer).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(t, () => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, received }
}

// ---- 1. a webhook URL with user info ----

describe('a webhook URL with user information', () => {
  test('the credentials go as an Authorization header, never in a URL or a log line', async (t) => {
    const hook = await receiver(t, 500)
    const { logger, text } = sinkLogger()
    const notifier = createNotifier({
      url: `http://alerts:${canary}@127.0.0.1:${hook.port}/hook/x?k=1`,
      events: ['repair'],
      timeoutMs: 5000,
      version: '0.0.0',
      logger,
    })
    notifier.notify({ event: 'repair', container: 'nb', text: 'recovered' })
    await notifier.flush()
    assert.equal(hook.received.length, 1, `posted: ${text()}`)
    const got = hook.received[0]!
    assert.equal(got.url, '/hook/x?k=1', 'to the URL without its user information')
    assert.equal(
      got.authorization,
      `Basic ${Buffer.from(`alerts:${canary}`).toString('base64')}`,
      'the user information as HTTP Basic credentials, as curl sends them',
    )
    assertNoCanary(got.body, 'the webhook body')
    assert.match(text(), /"msg":"webhook rejected"/)
    assertNoCanary(text(), 'the log')
  })

  test('percent-encoded user information is decoded once, as curl does', async (t) => {
    const hook = await receiver(t)
    const { logger } = sinkLogger()
    const notifier = createNotifier({
      url: `http://a%40b:p%3Aw%25-${canary}@127.0.0.1:${hook.port}/h`,
      events: ['repair'],
      timeoutMs: 5000,
      version: '0.0.0',
      logger,
    })
    notifier.notify({ event: 'repair', container: 'nb', text: 'recovered' })
    await notifier.flush()
    assert.equal(
      hook.received[0]?.authorization,
      `Basic ${Buffer.from(`a@b:p:w%-${canary}`).toString('base64')}`,
    )
  })

  test('an endpoint that cannot be reached is logged by reason, without the URL, its path or its credentials', async () => {
    const { logger, text } = sinkLogger()
    const port = new URL(await closedPort()).port
    for (const url of [
      `http://alerts:${canary}@127.0.0.1:${port}/hook/${canary}`,
      `http://127.0.0.1:${port}/services/T000/B000/${canary}`,
    ]) {
      const notifier = createNotifier({
        url,
        events: ['repair'],
        timeoutMs: 5000,
        version: '0.0.0',
        logger,
      })
      notifier.notify({ event: 'repair', container: 'nb', text: 'x' })
      await notifier.flush()
    }
    const failed = text()
      .split('\n')
      .filter((l) => l.includes('"msg":"webhook failed"'))
    assert.equal(failed.length, 2, text())
    for (const l of failed) assert.match(l, /connection refused: 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/)
    assertNoCanary(text(), 'the log')
  })

  test('a webhook URL that does not parse is refused at load (exit 2), the value not shown', async () => {
    for (const url of [
      `https://[${canary}/x`,
      `https://alerts:${canary}@/x`,
      `http://h:99999/${canary}`,
    ]) {
      const res = await runCli(['doctor'], {
        env: envWithoutWatchdog({ NETBIRD_WATCHDOG_WEBHOOK_URL: url }),
      })
      assertNoCanaryIn(res, url)
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /NETBIRD_WATCHDOG_WEBHOOK_URL: not a valid http\(s\) URL/)
    }
  })
})

// ---- 2. commander's error text ----

describe('usage errors never quote a value from the command line', () => {
  const cases: ReadonlyArray<[string, string[], RegExp]> = [
    [
      'an unknown --opt=value whose value holds a quote',
      ['repair', `--dsn=postgres://netbird:o'Brien-${canary}@db:5432/netbird`],
      /^error: unknown option '--dsn' \(its value is not shown\)$/m,
    ],
    [
      'an unknown --opt=value at the top level',
      [`--dsn=postgres://netbird:${canary}@db/x`],
      /^error: unknown option '--dsn' \(its value is not shown\)$/m,
    ],
    [
      'an unknown option name holding a quote and the canary',
      ['doctor', `--x'${canary}=y`],
      /^error: unknown option \(not shown: it is not an option name\)$/m,
    ],
    [
      'an unknown long option that is the canary in lower case',
      ['doctor', `--${canary.toLowerCase()}`],
      /^error: unknown option \(not shown: it is not an option name\)$/m,
    ],
    [
      'a short option glued to a value',
      ['doctor', `-p${canary}`],
      /^error: unknown option \(not shown: it is not an option name\)$/m,
    ],
    [
      'an unknown command with a quote inside',
      [`repa'ir-${canary}`],
      /^error: unknown command \(not shown: it is not a command name\)$/m,
    ],
    [
      'a DSN where the command belongs',
      [`postgres://netbird:o'Brien-${canary}@db/x`],
      /^error: unknown command \(not shown: it is not a command name\)$/m,
    ],
    [
      'an unknown subcommand of backups',
      ['backups', `list'${canary}`],
      /^error: unknown command \(not shown: it is not a command name\)$/m,
    ],
    ['a stray argument', ['repair', `o'${canary}`], /^error: too many arguments for 'repair'/m],
  ]
  for (const [what, args, proof] of cases) {
    test(`${what}: exit 2, the value not shown`, async () => {
      const res = await runCli(args)
      assertNoCanaryIn(res, what)
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, proof)
      assert.equal(res.stdout, '')
    })
  }

  test('a plain mistyped name is still named, with the suggestion', async () => {
    const opt = await runCli(['repair', '--dry-runn'])
    assert.equal(opt.code, 2)
    assert.match(opt.stderr, /^error: unknown option '--dry-runn'\n\(Did you mean --dry-run\?\)$/m)
    const cmd = await runCli(['repiar'])
    assert.equal(cmd.code, 2)
    assert.match(cmd.stderr, /^error: unknown command 'repiar'\n\(Did you mean repair\?\)$/m)
  })
})

// ---- 3. a DSN typo read as a file path ----

describe('a mistyped DSN is "not a valid DSN", never a path', () => {
  const typos: ReadonlyArray<[string, string]> = [
    ['postgres:/ (one slash)', `postgres:/netbird:${canary}@db/netbird`],
    ['postgres: (no slashes)', `postgres:netbird:${canary}@db/netbird`],
    ['postgres// (no colon)', `postgres//netbird:${canary}@db/netbird`],
    ['postgresql:/', `postgresql:/netbird:${canary}@db/netbird`],
    ['no scheme at all (user:password@host)', `netbird:${canary}@db:5432/netbird`],
    ['another scheme', `pgsql://netbird:${canary}@db/netbird`],
  ]
  const commands: ReadonlyArray<(db: string, dir: string) => string[]> = [
    (db, dir) => ['repair', '--db', db, '--discover', '--backup-dir', join(dir, 'b')],
    (db) => ['repair', '--db', db, '--discover', '--dry-run'],
    (db) => ['doctor', '--db', db],
    (db) => ['backups', 'list', '--db', db],
    (db) => ['backups', 'create', '--db', db],
    (db, dir) => ['backups', 'restore', 'x', '--db', db, '--backup-dir', join(dir, 'b')],
  ]
  for (const [what, value] of typos) {
    test(`--db ${what}: exit 2 from every command, nothing created`, async (t) => {
      const dir = tempDir(t)
      for (const args of commands) {
        const argv = args(value, dir)
        const res = await runCli(argv, { env: envWithoutWatchdog() })
        assertNoCanaryIn(res, argv.slice(0, 2).join(' '))
        assert.equal(res.code, 2, `${argv[0]}: ${res.stderr}`)
        assert.match(res.stderr, /--db is not a valid DSN/, argv.join(' '))
        assert.doesNotMatch(res.stderr, /not found|no backups in/)
      }
      assert.deepEqual(readdirSync(dir), [])
    })
  }

  test('the bare word "postgres:" is not a valid DSN either', async () => {
    const res = await runCli(['doctor', '--db', 'postgres:'], { env: envWithoutWatchdog() })
    assert.equal(res.code, 2, res.stderr)
    assert.match(res.stderr, /--db is not a valid DSN/)
  })

  test('NETBIRD_WATCHDOG_IDP_DB holding a mistyped DSN (doctor): exit 2, not shown', async () => {
    const res = await runCli(['doctor'], {
      env: envWithoutWatchdog({
        NETBIRD_WATCHDOG_IDP_DB: `postgres:/netbird:${canary}@db/netbird`,
      }),
    })
    assertNoCanaryIn(res, 'doctor')
    assert.equal(res.code, 2, res.stderr)
    assert.match(res.stderr, /not a valid DSN/)
  })

  test('a real file whose name only starts like a word is still a file', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'postgres-idp.db')
    createIdpDb(db)
    const res = await runCli(['doctor', '--db', db], { env: envWithoutWatchdog() })
    assert.ok(res.code === 0 || res.code === 1, res.stderr)
    assert.ok(res.stdout.includes(`idp.db ${db}`), res.stdout)
    assert.equal(existsSync(join(dir, 'netbird-watchdog-backups')), false)
  })
})

// ---- 4. a JumpCloud API token holding whitespace ----

describe('a JumpCloud API token holding whitespace or a control character', () => {
  function fixture(name: string): string {
    return readFileSync(new URL(`../fixtures/netbird/${name}`, import.meta.url), 'utf8')
  }

  for (const [what, token] of [
    ['a line break', `${canary}\nsecond-line`],
    ['a line break at the end', `${canary}\n`],
    ['an inner space', `${canary} tail`],
    ['a tab', `x\t${canary}`],
    ['a NUL', `${canary}\u0000`],
  ] as const) {
    test(`management.json ApiToken with ${what}: refused naming the key, never sent, never shown`, async (t) => {
      const dir = tempDir(t)
      const jc = await startJumpCloudLike(t)
      const api = await startJumpCloudApi(canary)
      defer(t, () => api.close())
      const m = JSON.parse(
        fixture('management-standalone-jumpcloud.json')
          .replaceAll('https://oauth.id.jumpcloud.com', jc.origin)
          .replace('__API_TOKEN__', 'x'),
      ) as { IdpManagerConfig: { ExtraConfig: Record<string, string> } }
      m.IdpManagerConfig.ExtraConfig.ApiToken = token
      m.IdpManagerConfig.ExtraConfig.ApiUrl = api.apiUrl
      const path = join(dir, 'management.json')
      writeFileSync(path, JSON.stringify(m, null, 2))
      for (const json of [false, true]) {
        const res = await runCli([
          'doctor',
          '--management-json',
          path,
          '--allow-insecure',
          ...(json ? ['--json'] : []),
        ])
        assertNoCanaryIn(res, 'doctor')
        assert.equal(res.code, 1, res.stdout + res.stderr)
        assert.match(
          res.stdout,
          json
            ? /"id":"jumpcloud-api-token","status":"fail","target":"[^"]*management\.json IdpManagerConfig\.ExtraConfig\.ApiToken","message":"the API token holds whitespace or a control character/
            : /✗ jumpcloud-api-token: the API token holds whitespace or a control character/,
        )
      }
      assert.equal(api.requests.length, 0, 'the token was not sent')
    })
  }

  test('setup.env NETBIRD_IDP_MGMT_EXTRA_API_TOKEN with an inner space: refused naming the variable', async (t) => {
    const dir = tempDir(t)
    const jc = await startJumpCloudLike(t)
    const api = await startJumpCloudApi(canary)
    defer(t, () => api.close())
    const path = join(dir, 'setup.env')
    writeFileSync(
      path,
      fixture('setup-jumpcloud.env')
        .replaceAll('https://oauth.id.jumpcloud.com', jc.origin)
        .replace('<API_TOKEN>', `${canary} x`) + `NETBIRD_IDP_MGMT_EXTRA_API_URL="${api.apiUrl}"\n`,
    )
    const res = await runCli([
      'doctor',
      '--setup-env',
      path,
      '--allow-insecure',
      '--timeout-ms',
      '2000',
    ])
    assertNoCanaryIn(res, 'doctor')
    assert.equal(res.code, 1, res.stdout + res.stderr)
    assert.match(
      res.stdout,
      /setup\.env NETBIRD_IDP_MGMT_EXTRA_API_TOKEN\n\s+✗ jumpcloud-api-token: the API token holds whitespace or a control character/,
    )
    assert.equal(api.requests.length, 0, 'the token was not sent')
  })
})

test('a secret holding whitespace is found in a library message before and after the message is rewritten', () => {
  const token = `${canary}\nsecond-line`
  // undici's own wording: it quotes the header value it refuses.
  const err = new TypeError(`Headers.append: "${token}" is an invalid header value.`)
  const c = classifyNetworkError(err, new URL('http://127.0.0.1:9/api'), false, 1000, [token])
  assert.match(c.message, /cannot connect to 127\.0\.0\.1:9: Headers\.append: "\[REDACTED\]"/)
  assertNoCanary(c.message, 'the classified message')
  // Text that was rewritten first (whitespace collapsed) is still scrubbed.
  const collapsed = `value "${token.replace(/\s+/g, ' ')}" refused`
  assertNoCanary(redactValues(collapsed, [token]), 'redactValues of collapsed text')
})
