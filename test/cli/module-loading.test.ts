// What the daemon loads: node-postgres and openid-client are imported on first use, so a daemon on a
// SQLite store whose checks have not run carries neither (their resident cost is in BENCHMARKS.md),
// while the commands that need them still load them. Every module the process loads is recorded
// through Node's module hooks; needs dist/ (npm test builds it first) and no Docker engine.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { pathToFileURL } from 'node:url'
import { cliPath, spawnCli, runCli, type CliRun } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'
import { jumpcloudId, oidcConnectors, tempIdpDb } from '../helpers/idp-fixture.js'
import { freePort } from '../helpers/net.js'
import { closedPort } from '../helpers/oidc-peers.js'
import { defer } from '../helpers/cleanup.js'

/**
 * Preloaded with --import: appends the URL of every module loaded to $NBW_TEST_MODULE_LOG. Node 22.15+
 * has in-thread hooks (module.registerHooks); Node 20 only the off-thread module.register, which
 * Node 26 deprecates.
 */
const recorder = `
import * as mod from 'node:module'
import { appendFileSync } from 'node:fs'
const record = (url) => appendFileSync(process.env.NBW_TEST_MODULE_LOG, url + '\\n')
// Node's own modules (node:http's undici among them) are not seen by the hooks: listed at exit.
process.on('exit', () =>
  appendFileSync(process.env.NBW_TEST_MODULE_LOG + '.builtin', process.moduleLoadList.join('\\n')),
)
if (typeof mod.registerHooks === 'function') {
  mod.registerHooks({ load(url, context, next) { record(url); return next(url, context) } })
} else {
  const hooks = 'import { appendFileSync } from "node:fs";' +
    'export async function load(url, context, next) {' +
    ' appendFileSync(process.env.NBW_TEST_MODULE_LOG, url + "\\\\n"); return next(url, context) }'
  mod.register('data:text/javascript,' + encodeURIComponent(hooks))
}
`

/** file: URL of dist/, with its trailing slash. */
const distUrl = `${pathToFileURL(dirname(cliPath)).href}/`

interface Recorded {
  /** Package names (as in node_modules/<name>/) of every module loaded, in load order, deduplicated. */
  packages: string[]
  /** Our own modules loaded (paths under dist/). */
  own: string[]
  /** Node's own modules and bindings loaded (process.moduleLoadList at exit). */
  builtin: string[]
}

async function recording(
  t: TestContext,
): Promise<{ env: Record<string, string>; read(): Recorded; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-modules-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const hook = join(dir, 'record-modules.mjs')
  const log = join(dir, 'modules.log')
  writeFileSync(hook, recorder)
  writeFileSync(log, '')
  return {
    dir,
    env: { NODE_OPTIONS: `--import="${hook}"`, NBW_TEST_MODULE_LOG: log },
    read(): Recorded {
      const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean)
      const packages = new Set<string>()
      const own = new Set<string>()
      for (const url of urls) {
        const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
        if (pkg) packages.add(pkg[1]!)
        if (url.startsWith(distUrl)) own.add(url.slice(distUrl.length))
      }
      let builtin: string[] = []
      try {
        builtin = readFileSync(`${log}.builtin`, 'utf8').split('\n')
      } catch {
        // the process did not reach its exit handler
      }
      return { packages: [...packages], own: [...own], builtin }
    },
  }
}

test('the daemon on a SQLite store loads neither node-postgres nor openid-client', async (t) => {
  const rec = await recording(t)
  const { db } = await tempIdpDb(t, {
    connectors: oidcConnectors([{ id: jumpcloudId, issuer: await closedPort() }]),
  })
  const port = await freePort()
  const config = join(rec.dir, 'watchdog.yml')
  writeFileSync(
    config,
    JSON.stringify({
      mode: 'observe',
      targets: { names: ['netbird-management'], autoDetect: false },
      // No engine here: the daemon starts anyway and retries (the modules it loads are the point).
      docker: { socketPath: join(rec.dir, 'no-engine.sock') },
      idp: { dbPath: db },
      // No scheduled job may start within the test (a doctor run at a 10-minute mark would load
      // openid-client, as it should).
      schedules: { doctor: '', backup: '', integrity: '' },
      metrics: { address: `127.0.0.1:${port}` },
    }),
  )
  const daemon = spawnCli(['run', '--config', config], { env: rec.env, timeoutMs: 60_000 })
  // Up, its store checked, /metrics served once: what it does at start is done.
  await waitFor(
    'the daemon to start',
    async () =>
      daemon.stderr().includes('the IdP store answers and checks out') &&
      (await fetch(`http://127.0.0.1:${port}/metrics`).then(
        async (r) => (await r.arrayBuffer(), r.ok),
      )),
    30_000,
    100,
  )
  daemon.child.kill('SIGTERM')
  const done = await daemon.done
  assert.equal(done.code, 0, done.stderr)

  const { packages, own, builtin } = rec.read()
  // The recorder sees what the daemon uses: its engine and store adapters, and their libraries.
  for (const p of ['dockerode', 'better-sqlite3', 'prom-client', 'pino']) {
    assert.ok(packages.includes(p), `${p} not seen among ${packages.join(', ')}`)
  }
  assert.ok(own.includes('daemon.js') && own.includes('store/sqlite/store.js'), own.join(', '))
  for (const p of ['pg', 'openid-client', 'oauth4webapi', 'jose']) {
    assert.ok(!packages.includes(p), `the idle daemon loaded ${p}`)
  }
  // Node's bundled undici (fetch) neither: an ES import of node:http would load it (src/node-http.ts).
  assert.ok(builtin.includes('NativeModule _http_server'), builtin.join(', '))
  assert.ok(!builtin.some((m) => m.includes('undici')), 'the idle daemon loaded undici')
})

test('the commands that need them still load them: doctor on a PostgreSQL DSN, OIDC discovery', async (t) => {
  const expectLoaded = (run: CliRun, rec: Recorded, pkg: string): void => {
    assert.ok(rec.packages.includes(pkg), `${pkg} not loaded: ${run.stderr}`)
  }
  // A DSN nobody answers on (127.0.0.1, a closed port): pg is loaded to connect, the check fails.
  const pgRec = await recording(t)
  const port = new URL(await closedPort()).port
  const down = await runCli(['doctor', '--db', `postgres://watchdog@127.0.0.1:${port}/nbw_none`], {
    env: pgRec.env,
  })
  assert.equal(down.code, 1, down.stderr)
  assert.match(down.stderr, /cannot be reached/)
  expectLoaded(down, pgRec.read(), 'pg')

  // A connector whose issuer is a closed local port: discovery runs through openid-client and fails.
  const oidcRec = await recording(t)
  const { db } = await tempIdpDb(t, {
    connectors: oidcConnectors([{ id: jumpcloudId, issuer: await closedPort() }]),
  })
  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure', '--json'], {
    env: oidcRec.env,
  })
  assert.equal(doctor.code, 1, doctor.stderr)
  assert.match(doctor.stdout, /tcp|refused|unreachable/i)
  const oidcLoaded = oidcRec.read()
  expectLoaded(doctor, oidcLoaded, 'openid-client')
  assert.ok(!oidcLoaded.packages.includes('pg'), 'doctor on idp.db loaded pg')
})
