// No secret in any message. One canary secret is fed through every command and every
// kind of malformed input — setup.env lines, YAML (the watchdog's config and NetBird's config.yaml),
// management.json, idp.db connector configs, command-line flags, environment variables — and then
// through the running daemon (logs, /metrics, backup manifests, webhook bodies to a real receiver on
// 127.0.0.1, the daemon repairing a crash-looping simulated NetBird on the real Docker engine). It must
// show up nowhere. Every case also asserts the exit status and a message that proves the input
// reached the code path it is meant to exercise, so a case that fails early for another reason fails.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import {
  assertNoCanary,
  canaryCore,
  assertNoCanaryIn,
  cliPath,
  envWithoutWatchdog,
  runCli,
  type CliRun,
} from '../helpers/cli.js'
import { nodeImage, requireDocker, waitFor } from '../helpers/docker.js'
import {
  canarySecret,
  createIdpDb,
  goJsonMarshal,
  oidcConnectorConfig,
  type FixtureConnector,
} from '../helpers/idp-fixture.js'
import {
  startJumpCloudApi,
  startOidcPeer,
  type JumpCloudApiPeer,
  type Peer,
} from '../helpers/oidc-peers.js'
import { removeTestContainers, runFakeNetbird, startIssuerPeer } from '../helpers/selfheal.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

/** The canary: plain characters, so it survives every syntax it is embedded in unchanged. */
const canary = 'cnry-7f3c9a1e5b-Zq'
/**
 * What must never appear: the canary's core, which `canary`, the fixture's `canarySecret`
 * ('canary-Secr3t&<x>-7f3c9a1e5b', stored Go-escaped) and every token below share.
 */
/** Under 16 characters: too short for NETBIRD_WATCHDOG_RESET_TOKEN. */
const shortCanary = 'cnry7f3c9a1e5b'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-secrets-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/netbird/${name}`, import.meta.url), 'utf8')
}

interface Case {
  readonly name: string
  /** Files written into the case's own directory before it runs. */
  readonly files?: Readonly<Record<string, string>>
  readonly args: (dir: string) => string[]
  readonly env?: (dir: string) => Record<string, string>
  /** The exit status (one of these). */
  readonly code: number | readonly number[]
  /** Matched against stdout + stderr: proves the input reached the code path meant. */
  readonly proof: RegExp
}

function runCases(cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, async (t) => {
      const dir = tempDir(t)
      for (const [name, text] of Object.entries(c.files ?? {})) writeFileSync(join(dir, name), text)
      const res = await runCli(c.args(dir), {
        env: envWithoutWatchdog(c.env?.(dir)),
        timeoutMs: 30_000,
      })
      assertNoCanaryIn(res, c.name)
      const codes: readonly number[] = typeof c.code === 'number' ? [c.code] : c.code
      assert.ok(codes.includes(res.code ?? -1), `exit ${res.code}: ${res.stdout}${res.stderr}`)
      assert.match(res.stdout + res.stderr, c.proof)
    })
  }
}

// ---------------------------------------------------------------------------------------------
// setup.env

describe('setup.env lines (doctor --setup-env)', () => {
  const env = (text: string, proof: RegExp, name: string): Case => ({
    name: `setup.env: ${name}`,
    files: { 'setup.env': text },
    args: (dir) => ['doctor', '--setup-env', join(dir, 'setup.env')],
    code: 2,
    proof,
  })
  runCases([
    env(
      `NETBIRD_DOMAIN=netbird.example.com\nNETBIRD_AUTH_CLIENT_SECRET ${canary}\n`,
      /setup\.env:2: not a NAME=value line/,
      'a secret without "="',
    ),
    env(
      `NETBIRD_AUTH_CLIENT_SECRET="${canary}\n`,
      /setup\.env:1: unterminated double quote/,
      'an unterminated double quote',
    ),
    env(
      `NETBIRD_AUTH_CLIENT_SECRET='${canary}\n`,
      /setup\.env:1: unterminated single quote/,
      'an unterminated single quote',
    ),
    env(`${canary}\n`, /setup\.env:1: not a NAME=value line/, 'a bare value'),
    env(`=${canary}\n`, /setup\.env:1: not a NAME=value line/, 'no name'),
    env(
      `NETBIRD_IDP_MGMT_EXTRA_API_TOKEN = ${canary}\n`,
      /setup\.env:1: not a NAME=value line/,
      'blanks around "="',
    ),
    env(
      `export NETBIRD_AUTH_CLIENT_SECRET:${canary}\n`,
      /setup\.env:1: not a NAME=value line/,
      'a colon for "="',
    ),
    env(
      `# comment\n\u0000\u001b[2J${canary}\u0007 garbage ${canary}\n`,
      /setup\.env:2: not a NAME=value line/,
      'binary garbage',
    ),
  ])
})

// ---------------------------------------------------------------------------------------------
// YAML: the watchdog's own config, and NetBird's config.yaml

/** YAML that breaks in a way whose error text, in the yaml library, can quote the source. */
function yamlCases(
  prefix: string,
  args: (file: string) => string[],
  wrap: (body: string) => string,
): Case[] {
  const c = (name: string, body: string, proof: RegExp, code = 2): Case => ({
    name: `${prefix}: ${name}`,
    files: { 'file.yml': wrap(body) },
    args: (dir) => args(join(dir, 'file.yml')),
    code,
    proof,
  })
  return [
    c(
      'bad indentation',
      `a:\n  b: x\n    ${canary}: y\n`,
      /invalid YAML in .*file\.yml:\n {2}.* at line \d+, column \d+/,
    ),
    c(
      'a tab for indentation',
      `a:\n\t${canary}: y\n`,
      /a tab used for indentation at line \d+, column \d+/,
    ),
    c('an unknown tag handle', `a: !x!${canary} y\n`, /an unknown tag at line \d+, column \d+/),
    c(
      'an unterminated verbatim tag',
      `a: !<tag:${canary} y\n`,
      /invalid YAML in .*file\.yml:\n {2}.* at line \d+, column \d+/,
    ),
    c('an undefined alias', `a: *${canary}\n`, /an alias \(\*name\) that is not defined/),
    c(
      'unexpected text after a flow',
      `a: [x, y] ${canary}\n`,
      /unexpected text at line \d+, column \d+/,
    ),
    c(
      'unexpected text after a mapping',
      `a: {b: c} ${canary}\n`,
      /unexpected text at line \d+, column \d+/,
    ),
    c('a duplicate key', `${canary}: 1\n${canary}: 2\n`, /a duplicate key at line \d+, column \d+/),
    c(
      'a block scalar header',
      `a: |${canary}\n  x\n`,
      /invalid YAML in .*file\.yml:\n {2}.* at line \d+, column \d+/,
    ),
    c(
      'an !!omap with duplicate keys',
      `a: !!omap\n  - ${canary}: 1\n  - ${canary}: 2\n`,
      /invalid YAML in .*file\.yml:\n {2}.* at line \d+, column \d+/,
    ),
    c(
      'a bad escape',
      `a: "\\x${canary}"\n`,
      /a bad escape in a double-quoted string at line \d+, column \d+/,
    ),
    c(
      'an unterminated quote',
      `a: "${canary}\nb: c\n`,
      /a missing closing character \(quote, bracket or brace\) at line \d+, column \d+/,
    ),
    c(
      'an alias bomb with the canary as anchors',
      ['x', 'y', 'z', 'w']
        .map((n, i, all) =>
          i === 0
            ? `${canary}${n}: &${canary}${n} [a, a, a, a, a, a, a, a, a, a]`
            : `${canary}${n}: &${canary}${n} [${Array(10)
                .fill(`*${canary}${all[i - 1]!}`)
                .join(', ')}]`,
        )
        .join('\n') + '\n',
      /more aliases than a configuration needs/,
    ),
    c(
      'an unsupported %YAML version',
      `%YAML 9.${canary}\n---\na: b\n`,
      /invalid YAML in .*file\.yml:\n {2}.* at line \d+, column \d+/,
    ),
  ]
}

describe('YAML: the watchdog config (doctor --config, run --config)', () => {
  // The mapping nests the broken part under a known key, so the file is the watchdog's config.
  runCases(
    yamlCases(
      'config',
      (file) => ['doctor', '--config', file],
      (body) => body,
    ),
  )
  runCases([
    ...yamlCases(
      'run --config',
      (file) => ['run', '--config', file],
      (body) => body,
    ).slice(4, 6),
  ])
  const value = (name: string, yaml: string, proof: RegExp): Case => ({
    name: `config: the canary as ${name}`,
    files: { 'watchdog.yml': yaml },
    args: (dir) => ['doctor', '--config', join(dir, 'watchdog.yml')],
    code: 2,
    proof,
  })
  runCases([
    value('mode', `mode: ${canary}\n`, /mode: Invalid option/),
    value('log.level', `log: {level: ${canary}}\n`, /log\.level: Invalid option/),
    value('a time zone', `schedules: {timezone: ${canary}}\n`, /schedules\.timezone: not a known/),
    value(
      'a cron expression',
      `schedules: {doctor: "${canary}"}\n`,
      /schedules\.doctor: not a valid cron/,
    ),
    value(
      'metrics.address',
      `metrics: {address: "${canary}"}\n`,
      /metrics\.address: must be host:port/,
    ),
    value('a number', `backups: {keep: ${canary}}\n`, /backups\.keep: .*expected number/),
    value(
      'a boolean',
      `oidc: {allowInsecure: ${canary}}\n`,
      /oidc\.allowInsecure: .*expected boolean/,
    ),
    value('a list', `webhook: {events: [${canary}]}\n`, /webhook\.events\.0: Invalid option/),
    value('a tagged mapping', `mode: !<tag:${canary}> {a: 1}\n`, /mode: Invalid option/),
  ])
})

describe("YAML: NetBird's config.yaml (doctor --config-yaml)", () => {
  runCases(
    yamlCases(
      'config.yaml',
      (file) => ['doctor', '--config-yaml', file],
      (body) => `server:\n  auth:\n    issuer: https://netbird.example.com/oauth2\n${body}`,
    ),
  )
  const shape = (name: string, yaml: string, proof: RegExp): Case => ({
    name: `config.yaml: ${name}`,
    files: { 'config.yaml': yaml },
    args: (dir) => ['doctor', '--config-yaml', join(dir, 'config.yaml')],
    code: 2,
    proof,
  })
  runCases([
    shape('the canary as server', `server: ${canary}\n`, /server: .*expected object/),
    shape(
      'the canary in a list as the issuer',
      `server:\n  auth: {issuer: [${canary}]}\n`,
      /server\.auth\.issuer: .*expected string/,
    ),
    shape(
      'the canary as a secret under a broken indent',
      `server:\n  auth:\n    issuer: https://x.example\n   clientSecret: ${canary}\n`,
      /bad indentation/,
    ),
    shape(
      'an unterminated DSN holding the canary',
      `server:\n  authStore:\n    engine: postgres\n    dsn: "postgres://netbird:${canary}@db:5432/idp\n`,
      /a missing closing character \(quote, bracket or brace\) at line \d+/,
    ),
  ])
  runCases([
    {
      name: 'config.yaml: a valid file whose secrets and DSN password are the canary',
      files: {
        'config.yaml': fixture('config-v0.65-combined.yaml')
          .replace('relay-auth-secret-not-a-canary', canary)
          .replace(/encryptionKey: .*/, `encryptionKey: "${canary}"`)
          .concat(
            `  authStore:\n    engine: postgres\n    dsn: "postgres://netbird:${canary}@127.0.0.1:1/idp"\n`,
          ),
      },
      args: (dir) => ['doctor', '--config-yaml', join(dir, 'config.yaml')],
      // doctor opens the PostgreSQL store config.yaml names; nothing answers on port 1.
      code: 1,
      proof: /cannot read the connectors of postgres:\/\/netbird@127\.0\.0\.1:1\/idp/,
    },
  ])
})

// ---------------------------------------------------------------------------------------------
// management.json

describe('management.json (doctor --management-json)', () => {
  const mj = (name: string, text: string, proof: RegExp): Case => ({
    name: `management.json: ${name}`,
    files: { 'management.json': text },
    args: (dir) => ['doctor', '--management-json', join(dir, 'management.json')],
    code: 2,
    proof,
  })
  const invalid = /management\.json is not valid JSON/
  const shape = /management\.json: unexpected shape: /
  runCases([
    mj(
      'an unquoted secret',
      `{"IdpManagerConfig": {"ExtraConfig": {"ApiToken": ${canary}}}}`,
      invalid,
    ),
    mj(
      'a truncated file',
      `{"IdpManagerConfig": {"ExtraConfig": {"ApiToken": "${canary}"}}`,
      invalid,
    ),
    mj(
      'two strings in a row',
      `{"IdpManagerConfig": {"ExtraConfig": {"ApiToken": "${canary}" "x"}}}`,
      invalid,
    ),
    mj('a control character in a string', `{"x": "${canary}\u0007"}`, invalid),
    mj('a trailing comma', `{"DataStoreEncryptionKey": "${canary}",}`, invalid),
    mj('the canary as Enabled', `{"EmbeddedIdP": {"Enabled": "${canary}"}}`, shape),
    mj(
      'the canary as StaticConnectors',
      `{"EmbeddedIdP": {"Enabled": true, "StaticConnectors": "${canary}"}}`,
      shape,
    ),
    mj(
      'a static connector with a numeric id and the canary secret',
      `{"EmbeddedIdP": {"Enabled": true, "StaticConnectors": [{"id": 7, "config": {"clientSecret": "${canary}"}}]}}`,
      shape,
    ),
    mj(
      'the canary as a static connector config',
      `{"EmbeddedIdP": {"Enabled": true, "StaticConnectors": [{"id": "jc", "config": "${canary}"}]}}`,
      shape,
    ),
    mj('the canary as ExtraConfig', `{"IdpManagerConfig": {"ExtraConfig": "${canary}"}}`, shape),
    mj(
      'the canary in a list as AuthIssuer',
      `{"HttpConfig": {"AuthIssuer": ["${canary}"]}}`,
      shape,
    ),
    mj('a top-level array', `["${canary}"]`, shape),
  ])
})

// ---------------------------------------------------------------------------------------------
// Command-line flags and environment variables

describe('command-line flags', () => {
  const db = (dir: string): string => join(dir, 'idp.db')
  const flag = (name: string, args: (dir: string) => string[], proof: RegExp): Case => ({
    name: `flag: ${name}`,
    args,
    code: 2,
    proof,
  })
  const issuer =
    (value: string): ((dir: string) => string[]) =>
    (dir) => {
      createIdpDb(db(dir))
      return ['repair', '--db', db(dir), '--connector', 'd1c9q2ll0fgs73cunqsg', '--issuer', value]
    }
  const notValid = /the new issuer for connector "d1c9q2ll0fgs73cunqsg" is not valid/
  runCases([
    flag(
      'doctor --timeout-ms',
      (d) => ['doctor', '--db', db(d), '--timeout-ms', canary],
      /--timeout-ms must be/,
    ),
    flag(
      'doctor --timeout (old spelling)',
      (d) => ['doctor', '--db', db(d), '--timeout', canary],
      /--timeout-ms must be/,
    ),
    flag(
      'repair --timeout-ms',
      (d) => ['repair', '--db', db(d), '--discover', '--timeout-ms', canary],
      /--timeout-ms must be/,
    ),
    flag(
      'repair --busy-timeout-ms',
      (d) => ['repair', '--db', db(d), '--discover', '--busy-timeout-ms', canary],
      /--busy-timeout-ms must be/,
    ),
    flag(
      'repair --stop-timeout',
      (d) => ['repair', '--db', db(d), '--discover', '--stop-timeout', canary],
      /--stop-timeout must be/,
    ),
    flag(
      'backups prune --keep',
      (d) => ['backups', 'prune', '--db', db(d), '--keep', canary],
      /--keep must be/,
    ),
    flag(
      'backups prune --max-age-days',
      (d) => ['backups', 'prune', '--db', db(d), '--max-age-days', canary],
      /--max-age-days must be/,
    ),
    flag('--issuer without a scheme', issuer(canary), notValid),
    flag(
      '--issuer with the canary in the query',
      issuer(`https://x.example/?token=${canary}`),
      notValid,
    ),
    flag(
      '--issuer with the canary as the password',
      issuer(`https://u:${canary}@x.example/`),
      notValid,
    ),
    flag(
      '--issuer with the canary in the fragment',
      issuer(`https://x.example/#${canary}`),
      notValid,
    ),
    flag(
      '--issuer with the canary after a space',
      issuer(`https://x.example/ ${canary}`),
      notValid,
    ),
    flag(
      '--issuer with the canary after a newline',
      issuer(`https://x.example/\n${canary}`),
      notValid,
    ),
    flag('--issuer opaque', issuer(`https:${canary}`), notValid),
    // What commander does not understand it quotes back: an unknown --opt=value, an unknown command.
    flag(
      'an unknown option with a DSN as its value',
      () => ['doctor', `--dsn=postgres://netbird:${canary}@127.0.0.1:1/idp`],
      /unknown option '--dsn' \(its value is not shown\)/,
    ),
    flag(
      'a DSN where the command belongs',
      () => [`postgres://netbird:${canary}@127.0.0.1:1/idp`],
      /unknown command \(not shown: it is not a command name\)/,
    ),
    flag('a stray argument', () => ['doctor', canary], /too many arguments|unknown command/),
    flag('--issuer of 5 KB', issuer(`https://x.example/${canary.repeat(300)}`), notValid),
  ])
  const dsn = (command: string[], value: string, proof = /postgres/i, code = 1): Case => ({
    name: `flag: ${command.join(' ')} --db with a PostgreSQL DSN whose password is the canary (${value.startsWith('postgres') ? 'URI' : 'key=value'})`,
    // Where backups would go is given, so that no build ever writes next to a "path" made of a DSN.
    args: (dir) => [
      ...command,
      '--db',
      value,
      ...(command[0] === 'doctor' ? [] : ['--backup-dir', join(dir, 'backups')]),
    ],
    // Nothing listens on port 1: the store cannot be reached (1).
    code,
    proof,
  })
  const uri = `postgres://netbird:${canary}@127.0.0.1:1/idp?sslmode=disable`
  const kv = `host=127.0.0.1 port=1 dbname=idp user=netbird password=${canary}`
  runCases([
    dsn(['doctor'], uri),
    dsn(['doctor'], kv),
    dsn(['repair', '--discover'], uri),
    dsn(['backups', 'create'], uri),
    // The backup is looked up first: there is none (2), and the DSN is still not shown.
    dsn(['backups', 'restore', 'some-id'], kv, /no backup "some-id"/, 2),
  ])
})

describe('environment variables', () => {
  const env = (
    name: string,
    vars: (dir: string) => Record<string, string>,
    proof: RegExp,
    command: string,
    files?: Record<string, string>,
  ): Case => ({
    name: `env (${command}): ${name}`,
    // `run` would listen on :9464 and look for an engine: neither, if a case ever got that far.
    args: () => (command === 'run' ? ['run'] : ['doctor']),
    env: (dir) => ({
      ...(command === 'run'
        ? {
            NETBIRD_WATCHDOG_METRICS_ADDRESS: '127.0.0.1:0',
            DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}`,
          }
        : {}),
      ...vars(dir),
    }),
    ...(files !== undefined ? { files } : {}),
    code: 2,
    proof,
  })
  for (const command of ['doctor', 'run']) {
    runCases([
      env(
        'NETBIRD_WATCHDOG_MODE',
        () => ({ NETBIRD_WATCHDOG_MODE: canary }),
        /mode: Invalid option/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_LOG_LEVEL',
        () => ({ NETBIRD_WATCHDOG_LOG_LEVEL: canary }),
        /log\.level: Invalid option/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_METRICS_ADDRESS',
        () => ({ NETBIRD_WATCHDOG_METRICS_ADDRESS: `127.0.0.1:${canary}` }),
        /metrics\.address: must be host:port/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_ALLOW_INSECURE_OIDC',
        () => ({ NETBIRD_WATCHDOG_ALLOW_INSECURE_OIDC: canary }),
        /oidc\.allowInsecure: .*expected boolean/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_RESET_TOKEN too short',
        () => ({ NETBIRD_WATCHDOG_RESET_TOKEN: shortCanary }),
        /NETBIRD_WATCHDOG_RESET_TOKEN: must be at least 16 characters/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_RESET_TOKEN_FILE too short',
        (dir) => ({ NETBIRD_WATCHDOG_RESET_TOKEN_FILE: join(dir, 'token') }),
        /NETBIRD_WATCHDOG_RESET_TOKEN: must be at least 16 characters/,
        command,
        { token: `${shortCanary}\n` },
      ),
      // The secret itself pasted where the path of a file holding it belongs.
      env(
        'NETBIRD_WATCHDOG_RESET_TOKEN_FILE holding the token instead of a path',
        () => ({ NETBIRD_WATCHDOG_RESET_TOKEN_FILE: canary }),
        /NETBIRD_WATCHDOG_RESET_TOKEN_FILE: the file it names cannot be read \(ENOENT\)/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_IDP_DSN_FILE holding the DSN instead of a path',
        () => ({ NETBIRD_WATCHDOG_IDP_DSN_FILE: `postgres://netbird:${canary}@127.0.0.1:1/idp` }),
        /NETBIRD_WATCHDOG_IDP_DSN_FILE: the file it names cannot be read \(ENOENT\)/,
        command,
      ),
      env(
        'NETBIRD_WATCHDOG_WEBHOOK_URL not http(s)',
        () => ({ NETBIRD_WATCHDOG_WEBHOOK_URL: `ftp://hooks.example/${canary}` }),
        /NETBIRD_WATCHDOG_WEBHOOK_URL: must be an http\(s\) URL/,
        command,
      ),
      {
        ...env(
          'NETBIRD_WATCHDOG_IDP_DB as a DSN',
          () => ({ NETBIRD_WATCHDOG_IDP_DB: `postgres://netbird:${canary}@127.0.0.1:1/idp` }),
          /NETBIRD_WATCHDOG_IDP_DSN instead/,
          command,
        ),
        // idp.db is a file path; a DSN there is refused (2), pointing at where a DSN belongs.
        code: 2,
      },
    ])
  }
})

// ---------------------------------------------------------------------------------------------
// Every command on an idp.db (and NetBird files) holding the canary, against real peers

/** Run one command; the canary must not be in its output; the exit status and a proof must match. */
async function step(
  args: string[],
  code: number,
  proof: RegExp,
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<CliRun> {
  const res = await runCli(args, {
    env: envWithoutWatchdog(options.env),
    timeoutMs: 60_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  })
  const what = args.slice(0, 3).join(' ')
  assertNoCanaryIn(res, what)
  assert.equal(res.code, code, `${what}: ${res.stdout}${res.stderr}`)
  assert.match(res.stdout + res.stderr, proof, what)
  if (args.includes('--json')) JSON.parse(res.stdout) // one JSON document, nothing else
  return res
}

/** Every file name in `dir` ending with `.json` (backup manifests), read: none may hold the canary. */
function assertManifestsClean(dir: string): number {
  const manifests = readdirSync(dir).filter((n) => n.endsWith('.json'))
  for (const m of manifests) assertNoCanary(readFileSync(join(dir, m), 'utf8'), `manifest ${m}`)
  return manifests.length
}

describe('every command on an idp.db whose client secrets are the canary', () => {
  let provider: Peer
  let api: JumpCloudApiPeer
  before(async () => {
    // A real OpenID provider whose issuer has the trailing slash the stored one lacks.
    provider = await startOidcPeer({ path: '/' })
    api = await startJumpCloudApi('the-right-api-token-value')
  })
  after(async () => {
    await provider.close()
    await api.close()
  })

  const connectors = (stored: string): FixtureConnector[] => [
    { id: 'local', type: 'local', name: 'Email', config: null },
    {
      id: 'jc',
      type: 'oidc',
      name: 'JumpCloud',
      config: oidcConnectorConfig({
        issuer: stored,
        clientID: 'client',
        clientSecret: canarySecret,
      }),
    },
    {
      id: 'okta',
      type: 'oidc',
      name: 'Okta',
      config: oidcConnectorConfig({
        issuer: `${stored}/`,
        clientID: 'okta-client',
        clientSecret: `okta-${canary}`,
        redirectURI: `https://netbird.example.com/oauth2/callback?state=${canary}`,
      }),
    },
    {
      id: 'google',
      type: 'google',
      name: 'Google',
      config: goJsonMarshal({ clientID: 'g', clientSecret: `GOCSPX-${canary}` }),
    },
  ]

  test('doctor, repair, backups (text and --json), scan: the canary appears in no output and no manifest', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const stored = provider.issuer.replace(/\/$/, '')
    createIdpDb(db, { connectors: connectors(stored) })
    const backups = join(dir, 'netbird-watchdog-backups')
    const insecure = '--allow-insecure'

    await step(['doctor', '--db', db, insecure], 1, /issuer-matches-discovery: .*trailing slash/)
    await step(['doctor', '--db', db, insecure, '--json'], 1, /"status":"fail"/)
    await step(['repair', '--db', db, '--discover', '--dry-run', insecure], 0, /would change/)
    await step(['repair', '--db', db, '--discover', '--dry-run', insecure, '--json'], 0, /"jc"/)
    const created = await step(['backups', 'create', '--db', db, '--json'], 0, /"reason":"manual"/)
    const id = (JSON.parse(created.stdout) as { id: string }).id
    await step(['backups', 'list', '--db', db], 0, /manual/)
    await step(['backups', 'list', '--db', db, '--json'], 0, /"manual"/)
    await step(['backups', 'verify', '--db', db], 0, /^ok {6}idp-/m)
    await step(['backups', 'verify', '--db', db, '--json'], 0, /"ok":true/)
    await step(
      ['repair', '--db', db, '--discover', insecure, '--json'],
      0,
      /"changes":\[\{"connectorId":"jc"/,
    )
    await step(
      ['repair', '--db', db, '--connector', 'jc', '--issuer', stored, insecure],
      0,
      /changed:\n {2}connector jc: issuer/,
    )
    await step(['repair', '--db', db, '--discover', insecure], 0, /changed:/)
    await step(['backups', 'restore', id, '--db', db, '--json'], 0, /"restored":/)
    await step(['backups', 'restore', id, '--db', db], 0, /restored .* from /)
    await step(['backups', 'prune', '--db', db, '--keep', '1', '--dry-run'], 0, /would delete/)
    await step(['backups', 'prune', '--db', db, '--keep', '2', '--json'], 0, /"deleted":\[/)

    // The manifests describe the backups without any value from them, though the copies hold the
    // secrets (they are real copies of the database).
    assert.ok(assertManifestsClean(backups) >= 2)
    const copies = readdirSync(backups).filter((n) => n.endsWith('.db'))
    assert.ok(copies.length >= 2)
    for (const c of copies)
      assert.match(readFileSync(join(backups, c)).toString('latin1'), canaryCore)

    // A NetBird log with the canary in it: scan reports the finding, never the text around it.
    const log = join(dir, 'management.log')
    writeFileSync(
      log,
      [
        `2026-01-19T08:38:54Z DEBG idp/dex/config.go:88: connector jc config: {"clientSecret":"${canary}"}`,
        `{"level":"error","msg":"token exchange failed","client_secret":"${canary}"}`,
        `2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector jc: failed to open connector: failed to create connector jc: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "${stored}" got "${stored}/"`,
      ].join('\n') + '\n',
    )
    await step(['scan', log], 1, /line 3: oidc-issuer-mismatch/)
    await step(['scan', log, '--json'], 1, /"rule":"oidc-issuer-mismatch"/)
    await step(['scan'], 1, /line 3: oidc-issuer-mismatch/, { input: readFileSync(log, 'utf8') })
  })

  test('doctor with NetBird files holding the canary (management.json, setup.env): the API is asked with it, no output shows it', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db, { connectors: connectors(provider.issuer.replace(/\/$/, '')) })
    // The embedded-IdP layout: a static connector and the store key are the canary.
    const quickstart = JSON.parse(fixture('management-v0.64-quickstart.json')) as {
      DataStoreEncryptionKey: string
      Relay: { Secret: string }
      EmbeddedIdP: Record<string, unknown>
    }
    quickstart.DataStoreEncryptionKey = canary
    quickstart.Relay.Secret = canary
    quickstart.EmbeddedIdP.StaticConnectors = [
      {
        type: 'oidc',
        name: 'JumpCloud',
        id: 'jc',
        config: { issuer: 'https://elsewhere.example', clientID: 'c', clientSecret: canary },
      },
    ]
    const embedded = join(dir, 'management.json')
    writeFileSync(embedded, JSON.stringify(quickstart, null, 4))
    await step(
      ['doctor', '--db', db, '--management-json', embedded, '--allow-insecure'],
      1,
      /static-connector-drift/,
    )
    await step(
      ['doctor', '--db', db, '--management-json', embedded, '--allow-insecure', '--json'],
      1,
      /"static-connector-drift"/,
    )

    // The standalone layout: the JumpCloud API token is the canary (the API rejects it).
    const standalone = join(dir, 'standalone.json')
    const m = JSON.parse(
      fixture('management-standalone-jumpcloud.json')
        .replaceAll('https://oauth.id.jumpcloud.com/', provider.issuer)
        .replace('__API_TOKEN__', canary),
    ) as { IdpManagerConfig: { ExtraConfig: Record<string, string> } }
    m.IdpManagerConfig.ExtraConfig.ApiUrl = api.apiUrl
    writeFileSync(standalone, JSON.stringify(m, null, 4))
    const before = api.requests.length
    await step(
      ['doctor', '--management-json', standalone, '--allow-insecure'],
      1,
      /jumpcloud-api-token/,
    )
    await step(
      ['doctor', '--management-json', standalone, '--allow-insecure', '--json'],
      1,
      /"jumpcloud-api-token"/,
    )
    assert.equal(api.requests[before]?.apiKey, canary, 'the API was asked with the canary')

    // setup.env as the JumpCloud guide writes it, with the canary as the client secret and API token.
    const setupEnv = join(dir, 'setup.env')
    writeFileSync(
      setupEnv,
      fixture('setup-jumpcloud.env')
        .replaceAll('https://oauth.id.jumpcloud.com/', provider.issuer)
        .replaceAll('<YOUR_DOMAIN>', 'netbird.example.com')
        .replaceAll('<CLIENT_ID>', '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b')
        .replaceAll('<API_TOKEN>', canary) +
        `NETBIRD_AUTH_CLIENT_SECRET="${canary}"\nNETBIRD_IDP_MGMT_EXTRA_API_URL="${api.apiUrl}"\n`,
    )
    const beforeEnv = api.requests.length
    await step(['doctor', '--setup-env', setupEnv, '--allow-insecure'], 1, /jumpcloud-api-token/)
    await step(
      ['doctor', '--setup-env', setupEnv, '--allow-insecure', '--json'],
      1,
      /"jumpcloud-api-token"/,
    )
    assert.equal(api.requests[beforeEnv]?.apiKey, canary, 'the API was asked with the canary')
  })

  test('repair with a management.json whose static connector secret is the canary (broken, refused, fixed)', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const stored = provider.issuer.replace(/\/$/, '')
    createIdpDb(db, { connectors: connectors(stored) })
    const mj = join(dir, 'management.json')
    const statics = (secret: string): string =>
      `{"EmbeddedIdP": {"Enabled": true, "StaticConnectors": [{"id": "jc", "type": "oidc", "config": {"issuer": "${stored}", "clientSecret": ${secret}}}]}}`
    const fix = ['repair', '--db', db, '--discover', '--allow-insecure', '--management-json', mj]
    writeFileSync(mj, statics(canary)) // the secret unquoted: not JSON
    await step(
      [...fix, '--fix-management-json'],
      2,
      /management\.json is not valid JSON: unexpected character at offset \d+/,
    )
    writeFileSync(mj, statics(`"${canary}"`))
    await step(fix, 1, /static connectors in .*management\.json/)
    await step([...fix, '--fix-management-json', '--json'], 0, /"managementJson":/)
    assert.equal(assertManifestsClean(join(dir, 'netbird-watchdog-backups')), 1)
    assert.match(
      readFileSync(mj, 'utf8'),
      canaryCore,
      'the secret itself is kept in management.json',
    )
  })

  test('a connector config that is not usable JSON, holding the canary: reported and refused, never shown', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const origin = provider.issuer.replace(/\/$/, '')
    createIdpDb(db, {
      connectors: [
        ...connectors(origin),
        {
          id: 'truncated',
          type: 'oidc',
          name: 'Truncated',
          config: `{"clientSecret":"${canary}","issuer":"${origin}"`,
        },
        { id: 'bare', type: 'oidc', name: 'Bare', config: `{"clientSecret":${canary}}` },
        {
          id: 'shape',
          type: 'oidc',
          name: 'Shape',
          config: `{"clientSecret":"${canary}","issuer":5}`,
        },
        { id: 'array', type: 'oidc', name: 'Array', config: `["${canary}"]` },
        {
          id: 'text',
          type: 'oidc',
          name: 'Text',
          config: `{"clientSecret":"${canary}","issuer":"${origin}",}`,
          storage: 'text',
        },
      ],
    })
    await step(
      ['doctor', '--db', db, '--allow-insecure'],
      1,
      /connector "truncated": config is not valid JSON/,
    )
    await step(['doctor', '--db', db, '--allow-insecure', '--json'], 1, /"target":"connector bare/)
    for (const id of ['truncated', 'bare', 'array', 'text']) {
      await step(
        [
          'repair',
          '--db',
          db,
          '--connector',
          id,
          '--issuer',
          'https://x.example/',
          '--allow-insecure',
        ],
        2,
        new RegExp(`connector "${id}": config is not`),
      )
    }
    // An issuer that is no string is bad input (2), said as such.
    await step(
      ['repair', '--db', db, '--connector', 'shape', '--issuer', 'https://x.example/'],
      2,
      /connector "shape": "issuer" in its config is a number, not a string/,
    )
    const discover = await step(
      ['repair', '--db', db, '--discover', '--allow-insecure', '--json'],
      1,
      /"skipped":\[/,
    )
    const skipped = (JSON.parse(discover.stdout) as { skipped: { connectorId: string }[] }).skipped
    assert.deepEqual(skipped.map((s) => s.connectorId).sort(), [
      'array',
      'bare',
      'shape',
      'text',
      'truncated',
    ])
    await step(
      ['repair', '--db', db, '--discover', '--allow-insecure', '--dry-run'],
      1,
      /skipped connector truncated/,
    )
    await step(['backups', 'create', '--db', db, '--json'], 0, /"reason":"manual"/)
    await step(['backups', 'verify', '--db', db], 0, /^ok /m)
    assert.equal(assertManifestsClean(join(dir, 'netbird-watchdog-backups')), 2) // pre-repair (jc was fixed), manual
  })
})

// ---------------------------------------------------------------------------------------------
// The daemon: `netbird-watchdog run` in repair mode heals a crash-looping simulated NetBird

async function freePort(): Promise<number> {
  const srv = createNetServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

describe('the daemon (run, repair mode) on the real Docker engine', () => {
  before(async () => {
    await requireDocker([nodeImage])
  })

  test('its log lines, /metrics, backup manifests and webhook bodies never hold the canary', async (t) => {
    const peer = await startIssuerPeer(t, { trailingSlash: true })
    // The webhook receiver: a real HTTP server on 127.0.0.1; the URL's token is the canary.
    const hooks: { url: string; authorization: string | undefined; body: string }[] = []
    const receiver = createServer((req: IncomingMessage, res) => {
      let body = ''
      req.on('data', (b: Buffer) => (body += b.toString('utf8')))
      req.on('end', () => {
        hooks.push({ url: req.url ?? '', authorization: req.headers.authorization, body })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    defer(t, () => new Promise<void>((resolve) => receiver.close(() => resolve())))
    // User information in the URL too: it is sent as Basic credentials, never as part of a URL.
    const hookUrl = `http://alerts:${canary}@127.0.0.1:${(receiver.address() as AddressInfo).port}/hook/${canary}`
    const resetToken = `reset-${canary}-0123`

    const dir = tempDir(t)
    const dbPath = join(dir, 'idp.db')
    createIdpDb(dbPath, {
      connectors: [
        { id: 'local', type: 'local', name: 'Email', config: null },
        {
          id: 'jc',
          type: 'oidc',
          name: 'JumpCloud',
          config: oidcConnectorConfig({
            issuer: peer.origin, // the provider answers peer.origin + '/': NetBird crash-loops
            clientID: 'client',
            clientSecret: canarySecret,
          }),
        },
        {
          id: 'google',
          type: 'google',
          name: 'Google',
          config: goJsonMarshal({ clientID: 'g', clientSecret: `GOCSPX-${canary}` }),
        },
      ],
    })
    // management.json for the scheduled doctor: its store key and relay secret are the canary.
    const quickstart = JSON.parse(fixture('management-v0.64-quickstart.json')) as {
      DataStoreEncryptionKey: string
      Relay: { Secret: string }
    }
    quickstart.DataStoreEncryptionKey = canary
    quickstart.Relay.Secret = canary
    const managementJson = join(dir, 'management.json')
    writeFileSync(managementJson, JSON.stringify(quickstart, null, 4))
    // NetBird's config.yaml: valid while the repair runs (a broken one makes the store unknown, and
    // nothing is repaired), then broken next to the canary: the scheduled doctor fails on it, and the
    // daemon says the store is unknown — neither quoting it.
    const configYaml = join(dir, 'config.yaml')
    writeFileSync(configYaml, `server:\n  auth:\n    issuer: https://netbird.example.com/oauth2\n`)
    const container = `nbw-secrets-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    defer(t, () => removeTestContainers([container]))
    const port = await freePort()
    const backupDir = join(dir, 'backups')
    const configPath = join(dir, 'watchdog.yml')
    writeFileSync(
      configPath,
      stringify({
        mode: 'repair',
        targets: { names: [container], autoDetect: false },
        idp: { dbPath, managementJson, configYaml },
        oidc: { allowInsecure: true, timeoutMs: 3000 },
        repair: { confirmSeconds: 3, restartBackoffSeconds: 0, stopTimeoutSeconds: 2 },
        backups: { dir: backupDir, keep: 3 },
        // Every job often, so each one's logging is seen too.
        schedules: { doctor: '*/2 * * * * *', backup: '*/3 * * * * *', integrity: '*/2 * * * * *' },
        metrics: { address: `127.0.0.1:${port}` },
        log: { level: 'debug' },
      }),
    )
    let stderr = ''
    const child = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
      env: envWithoutWatchdog({
        NETBIRD_WATCHDOG_WEBHOOK_URL: hookUrl,
        NETBIRD_WATCHDOG_RESET_TOKEN: resetToken,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')))
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    defer(t, () => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    const url = `http://127.0.0.1:${port}`
    await waitFor('the watchdog /metrics', async () => (await fetch(`${url}/metrics`)).ok, 30_000)
    await runFakeNetbird({ name: container, store: { dataDir: dir }, variant: 'fatal' })

    await waitFor(
      'the repair webhook',
      () => hooks.some((h) => h.body.includes('"repair"')),
      120_000,
    )
    await waitFor('a scheduled backup', () => /scheduled backup taken and verified/.test(stderr))
    writeFileSync(
      configYaml,
      `server:\n  auth:\n    issuer: !x!${canary} https://netbird.example.com/oauth2\n`,
    )
    await waitFor('the store unknown', () =>
      stderr.includes('a NetBird config file cannot tell where the IdP store is'),
    )
    const doctorFailed = (): string | undefined =>
      stderr
        .split('\n')
        .find((l) => l.includes('"msg":"check failed"') && l.includes('"check":"doctor"'))
    await waitFor('a scheduled backup and a scheduled doctor run', () =>
      /scheduled backup taken and verified/.test(stderr) ? doctorFailed() : undefined,
    )
    // The reset endpoint: a wrong token (holding the canary) and the right one.
    const wrong = await fetch(`${url}/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer wrong-${canary}-0123` },
    })
    assert.equal(wrong.status, 401)
    const right = await fetch(`${url}/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${resetToken}` },
    })
    assert.equal(right.status, 200)
    assertNoCanary(await right.text(), '/reset body')
    const metrics = await (await fetch(`${url}/metrics`)).text()
    assert.match(metrics, /netbird_watchdog_repairs_total\{[^}]*result="success"[^}]*\} 1/)
    assertNoCanary(metrics, '/metrics')
    for (const path of ['/healthz', '/readyz', '/']) {
      assertNoCanary(await (await fetch(`${url}${path}`)).text(), path)
    }

    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.ok(stderr.split('\n').filter((l) => l.startsWith('{')).length > 20, 'the daemon logged')
    assertNoCanary(stderr, 'the daemon log')
    assert.match(
      doctorFailed() ?? '',
      /invalid YAML in .*config\.yaml:\\n {2}an unknown tag at line 3/,
    )
    assertNoCanary(stdout, 'the daemon stdout')
    assert.ok(hooks.length >= 2, `webhooks: ${hooks.map((h) => h.body).join('\n')}`)
    for (const h of hooks) {
      assert.equal(h.url, `/hook/${canary}`, 'posted to the URL with the canary token')
      assert.equal(h.authorization, `Basic ${Buffer.from(`alerts:${canary}`).toString('base64')}`)
      assertNoCanary(h.body, 'a webhook body')
    }
    assert.ok(assertManifestsClean(backupDir) >= 2, 'pre-repair and scheduled backups')
  })
})
