// The container image, built from the repository's Dockerfile on the real local engine by
// scripts/build-image.sh (as .ci/run and operators build it; once per test run, test/helpers/image.ts),
// then run the ways the compose files
// run it: non-root, read-only root filesystem, a tmpfs on /tmp, no capabilities. The daemon inside
// serves /healthz and /metrics while it watches a real target container, Docker's HEALTHCHECK turns
// healthy, and the compose files' init step lets the non-root user write a root-owned idp.db.
// Everything the test creates carries the label netbird-watchdog.test=1 and one naming this run, and
// is removed at the end by the run's label (and the image, when this file built it), so the test can run
// beside other test runs on a shared engine; scripts/test-env.sh removes what killed runs left.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { compose, run } from '../helpers/compose.js'
import { requireDocker } from '../helpers/docker.js'
import { projectImage, type ProjectImage } from '../helpers/image.js'
import { waitFor } from '../helpers/wait.js'
import { freePort } from '../helpers/net.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const version = (JSON.parse(await readFile(`${repo}package.json`, 'utf8')) as { version: string })
  .version
const runId = randomBytes(4).toString('hex')
/** The project image's tag (test/helpers/image.ts), set before the first test. */
let image = ''
let builtImage: ProjectImage | undefined
const runLabel = `netbird-watchdog.test.run=${runId}`
const labelArgs = ['--label', 'netbird-watchdog.test=1', '--label', runLabel]
const composeLabels = { 'netbird-watchdog.test': '1', 'netbird-watchdog.test.run': runId }
// The Node major the image ships: the Dockerfile's NODE_MAJOR, which is .node-version's major.
const shippedMajor = (await readFile(`${repo}.node-version`, 'utf8')).trim().split('.')[0]!
const socketPath = '/var/run/docker.sock'
// NetBird's fatal line for the trailing-slash case (docs/reference/netbird.md, "Log lines").
const fatalLine =
  '2026-02-20T09:30:01Z FATL management/cmd/management.go:235: failed to create embedded IDP service: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://oauth.id.jumpcloud.com" got "https://oauth.id.jumpcloud.com/"'

async function docker(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const r = await run('docker', args, { timeoutMs })
  assert.equal(r.code, 0, `docker ${args.join(' ')}\n${r.stderr}`)
  return r.stdout.trim()
}

async function cleanup(): Promise<void> {
  const ids = await docker(['ps', '-aq', '--filter', `label=${runLabel}`])
  if (ids !== '') await docker(['rm', '-f', '-v', ...ids.split('\n')])
  const volumes = await docker(['volume', 'ls', '-q', '--filter', `label=${runLabel}`])
  if (volumes !== '') await docker(['volume', 'rm', '-f', ...volumes.split('\n')])
  await builtImage?.release()
}

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return { status: res.status, body: await res.text() }
}

/** The daemon counted at least one issuer-mismatch line of `container`. */
function findingIn(metrics: string, container: string): boolean {
  const series = `netbird_watchdog_log_findings_total{container="${container}",rule="oidc-issuer-mismatch"}`
  return metrics
    .split('\n')
    .some((l) => l.startsWith(`${series} `) && Number(l.slice(series.length + 1)) >= 1)
}

/** Runs node inside the image (entrypoint replaced), returns stdout. */
function nodeIn(args: readonly string[], script: string): Promise<string> {
  return docker([
    'run',
    '--rm',
    ...labelArgs,
    '--network',
    'none',
    ...args,
    '--entrypoint',
    'node',
    image,
    '-e',
    script,
  ])
}

before(async () => {
  // The engine only: the image (and its base images) comes from test/helpers/image.ts.
  await requireDocker([])
  await cleanup()
  builtImage = await projectImage(['--label', runLabel])
  image = builtImage.tag
})

after(cleanup)

test('image metadata: non-root user, CLI entrypoint, node HEALTHCHECK, OCI labels, small', async (t) => {
  const [inspected] = JSON.parse(await docker(['image', 'inspect', image])) as Array<{
    Size: number
    Config: {
      User: string
      Entrypoint: string[]
      Cmd: string[]
      Healthcheck: { Test: string[] }
      ExposedPorts: Record<string, unknown>
      Volumes: Record<string, unknown>
      Labels: Record<string, string>
    }
  }>
  const c = inspected!.Config
  assert.equal(c.User, '1000:1000')
  assert.deepEqual(c.Entrypoint, ['node', '/app/dist/cli.js'])
  assert.deepEqual(c.Cmd, ['run'])
  assert.deepEqual(c.Healthcheck.Test, ['CMD', 'node', '/app/healthcheck.mjs'])
  assert.deepEqual(Object.keys(c.ExposedPorts), ['9464/tcp'])
  assert.deepEqual(Object.keys(c.Volumes), ['/var/lib/netbird-watchdog'])
  assert.equal(c.Labels['org.opencontainers.image.title'], 'netbird-watchdog')
  assert.equal(c.Labels['org.opencontainers.image.version'], version)
  assert.match(c.Labels['org.opencontainers.image.revision']!, /^[0-9a-f]{40}$/)
  assert.match(c.Labels['org.opencontainers.image.created']!, /^\d{4}-\d\d-\d\dT/)
  assert.equal(c.Labels['org.opencontainers.image.licenses'], 'MIT')
  assert.equal(
    c.Labels['org.opencontainers.image.base.name'],
    `docker.io/library/node:${shippedMajor}-bookworm-slim`,
  )
  // What the project adds on top of the Node base image: dist/, production node_modules, config/.
  const base = Number(
    await docker(['image', 'inspect', '-f', '{{.Size}}', `node:${shippedMajor}-bookworm-slim`]),
  )
  const added = inspected!.Size - base
  t.diagnostic(
    `image ${(inspected!.Size / 1e6).toFixed(1)} MB, ${(added / 1e6).toFixed(1)} MB above the base`,
  )
  assert.ok(added < 60e6, `the app adds ${added} bytes`)
})

test('the image runs the shipped Node.js major (.node-version), and the native module loads under it', async () => {
  const versions = JSON.parse(
    await nodeIn(
      [],
      `const Database = require('better-sqlite3');
       console.log(JSON.stringify({ node: process.versions.node,
         sqlite: new Database(':memory:').prepare('select sqlite_version() as v').get().v }))`,
    ),
  ) as { node: string; sqlite: string }
  assert.equal(versions.node.split('.')[0], shippedMajor, `the image runs node ${versions.node}`)
  assert.match(versions.sqlite, /^3\.\d+\.\d+$/)
})

test('image contents: only dist/, production dependencies, config/, package.json and two helpers', async () => {
  const listing = JSON.parse(
    await nodeIn(
      [],
      `const fs = require('fs');
       const has = (p) => fs.existsSync(p);
       console.log(JSON.stringify({
         app: fs.readdirSync('/app').sort(),
         dev: ['typescript', 'tsx', 'eslint', 'prettier', 'oidc-provider', 'fast-check'].filter((m) => has('/app/node_modules/' + m)),
         prod: ['better-sqlite3', 'dockerode', 'prom-client', 'pino', 'zod'].filter((m) => has('/app/node_modules/' + m)),
         sqliteSources: has('/app/node_modules/better-sqlite3/deps') || has('/app/node_modules/better-sqlite3/src'),
         addon: has('/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
         cli: has('/app/dist/cli.js'),
       }))`,
    ),
  ) as Record<string, unknown>
  assert.deepEqual(listing, {
    app: [
      'config',
      'dist',
      'grant-idp-access.mjs',
      'healthcheck.mjs',
      'node_modules',
      'package.json',
    ],
    dev: [],
    prod: ['better-sqlite3', 'dockerode', 'prom-client', 'pino', 'zod'],
    sqliteSources: false,
    addon: true,
    cli: true,
  })
})

test('runs as 1000:1000 on a read-only root filesystem; writes only its volume and /tmp', async () => {
  await docker(['volume', 'create', ...labelArgs, `nbwd-test-state-${runId}`])
  const out = await nodeIn(
    [
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges:true',
      '-v',
      `nbwd-test-state-${runId}:/var/lib/netbird-watchdog`,
    ],
    `const fs = require('fs'); const Database = require('better-sqlite3');
     const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok' } catch (e) { return e.code } };
     const db = new Database('/tmp/idp.db'); db.exec("create table connector (id text, config blob)");
     db.backup('/var/lib/netbird-watchdog/backups/idp.db.bak').then(() => {
       console.log(JSON.stringify({
         uid: process.getuid(), gid: process.getgid(),
         app: tryWrite('/app/x'), root: tryWrite('/x'), etc: tryWrite('/etc/x'),
         tmp: tryWrite('/tmp/x'), backups: tryWrite('/var/lib/netbird-watchdog/backups/x'),
         backupsMode: (fs.statSync('/var/lib/netbird-watchdog/backups').mode & 0o777).toString(8),
         backup: new Database('/var/lib/netbird-watchdog/backups/idp.db.bak', { readonly: true }).pragma('integrity_check', { simple: true }),
       }))
     })`,
  )
  assert.deepEqual(JSON.parse(out), {
    uid: 1000,
    gid: 1000,
    app: 'EROFS',
    root: 'EROFS',
    etc: 'EROFS',
    tmp: 'ok',
    backups: 'ok',
    // Backups hold client secrets: nobody but the watchdog's user may enter the directory.
    backupsMode: '700',
    backup: 'ok',
  })
})

test('the CLI in the image: --version, and scan finds the issuer mismatch on stdin', async () => {
  assert.equal(
    await docker([
      'run',
      '--rm',
      ...labelArgs,
      '--network',
      'none',
      '--read-only',
      image,
      '--version',
    ]),
    version,
  )
  const dir = await mkdtemp(join(tmpdir(), 'nbwd-image-'))
  try {
    await writeFile(join(dir, 'netbird.log'), `${fatalLine}\n`, { mode: 0o644 })
    await chmod(dir, 0o755) // the image's user (1000) reads it through the bind mount
    const r = await run('docker', [
      'run',
      '--rm',
      ...labelArgs,
      '--network',
      'none',
      '--read-only',
      '-v',
      `${dir}:/logs:ro`,
      image,
      'scan',
      '--json',
      '/logs/netbird.log',
    ])
    assert.equal(r.code, 1, r.stderr)
    const finding = JSON.parse(r.stdout) as { rule: string; returnedIssuer: string }
    assert.equal(finding.rule, 'oidc-issuer-mismatch')
    assert.equal(finding.returnedIssuer, 'https://oauth.id.jumpcloud.com/')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test("the compose files' init step lets the non-root watchdog write NetBird's root-owned idp.db", async () => {
  const volume = `nbwd-test-netbird-${runId}`
  await docker(['volume', 'create', ...labelArgs, volume])
  const mount = ['-v', `${volume}:/var/lib/netbird`]
  // NetBird (root) creates idp.db in WAL mode, as Dex does.
  await nodeIn(
    ['--user', '0:0', ...mount],
    `const db = new (require('better-sqlite3'))('/var/lib/netbird/idp.db'); db.pragma('journal_mode = WAL');
     db.exec("create table connector (id text, config blob); insert into connector values ('jc', 'old')"); db.close()`,
  )
  const write = `try { new (require('better-sqlite3'))('/var/lib/netbird/idp.db').exec("update connector set config = 'new'"); console.log('ok') }
                 catch (e) { console.log(e.code) }`
  assert.equal(await nodeIn(['--read-only', ...mount], write), 'SQLITE_READONLY_DIRECTORY')
  // The init service exactly as the compose files declare it.
  const granted = await docker([
    'run',
    '--rm',
    ...labelArgs,
    '--network',
    'none',
    '--user',
    '0:0',
    '--read-only',
    '--cap-drop',
    'ALL',
    '--cap-add',
    'CHOWN',
    '--cap-add',
    'FOWNER',
    '--security-opt',
    'no-new-privileges:true',
    ...mount,
    '--entrypoint',
    'node',
    image,
    '/app/grant-idp-access.mjs',
  ])
  assert.match(granted, /\/var\/lib\/netbird\/idp\.db: group 0 -> 1000, mode 644 -> 664/)
  assert.equal(await nodeIn(['--read-only', ...mount], write), 'ok')
  const owners = JSON.parse(
    await nodeIn(
      ['--user', '0:0', ...mount],
      `const fs = require('fs'); console.log(JSON.stringify(Object.fromEntries(fs.readdirSync('/var/lib/netbird').sort().map((f) => {
         const s = fs.statSync('/var/lib/netbird/' + f); return [f, s.uid] }))))`,
    ),
  ) as Record<string, number>
  assert.equal(owners['idp.db'], 0, 'NetBird keeps owning idp.db')
})

test('the daemon in the image: healthy, /healthz and /metrics, non-root, read-only, finds the fatal line', async () => {
  const target = `nbwd-test-target-${runId}`
  await docker([
    'run',
    '-d',
    '--name',
    target,
    ...labelArgs,
    '--network',
    'none',
    '--entrypoint',
    'node',
    image,
    '-e',
    `setInterval(() => console.log(${JSON.stringify(fatalLine)}), 1000)`,
  ])
  const port = await freePort()
  const socketGid = (await stat(socketPath)).gid
  const name = `nbwd-test-watchdog-${runId}`
  await docker(['volume', 'create', ...labelArgs, `nbwd-test-backups-${runId}`])
  await docker([
    'run',
    '-d',
    '--name',
    name,
    ...labelArgs,
    '--network',
    'host',
    '--read-only',
    '--tmpfs',
    '/tmp',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges:true',
    '--group-add',
    String(socketGid),
    '--health-interval',
    '1s',
    '--health-start-period',
    '1s',
    '-v',
    `${socketPath}:/var/run/docker.sock`,
    '-v',
    `nbwd-test-backups-${runId}:/var/lib/netbird-watchdog`,
    '-e',
    `NETBIRD_WATCHDOG_METRICS_ADDRESS=127.0.0.1:${port}`,
    '-e',
    `NETBIRD_WATCHDOG_TARGETS=${target}`,
    '-e',
    'NETBIRD_WATCHDOG_MODE=observe',
    '-e',
    'NETBIRD_WATCHDOG_BACKUP_DIR=/var/lib/netbird-watchdog/backups',
    image,
  ])
  const base = `http://127.0.0.1:${port}`
  const health = await waitFor(
    '/healthz',
    async () => {
      const r = await get(`${base}/healthz`)
      return r?.status === 200 ? r : undefined
    },
    60_000,
    250,
  )
  assert.equal(health.status, 200)
  const metrics = await waitFor(
    'the finding on /metrics',
    async () => {
      const r = await get(`${base}/metrics`)
      return r !== undefined && findingIn(r.body, target) ? r.body : undefined
    },
    60_000,
    250,
  )
  assert.match(metrics, new RegExp(`netbird_watchdog_build_info\\{version="${version}"\\} 1`))
  assert.match(metrics, new RegExp(`netbird_watchdog_container_up\\{container="${target}"\\} 1`))
  assert.match(metrics, /netbird_watchdog_docker_up 1/)
  assert.equal(
    await waitFor(
      'Docker health status healthy',
      async () => {
        const s = await docker(['inspect', '-f', '{{.State.Health.Status}}', name])
        return s === 'healthy' ? s : undefined
      },
      60_000,
      250,
    ),
    'healthy',
  )
  // The HEALTHCHECK script itself: 0 against the daemon, 1 (with the reason) against a dead port.
  assert.equal((await run('docker', ['exec', name, 'node', '/app/healthcheck.mjs'])).code, 0)
  const dead = await run('docker', [
    'exec',
    '-e',
    'NETBIRD_WATCHDOG_METRICS_ADDRESS=127.0.0.1:1',
    name,
    'node',
    '/app/healthcheck.mjs',
  ])
  assert.equal(dead.code, 1)
  assert.match(dead.stderr, /healthcheck: connect ECONNREFUSED 127\.0\.0\.1:1/)
  // The daemon's process, seen from the host: uid and gid 1000, and a read-only root filesystem.
  const pid = await docker(['inspect', '-f', '{{.State.Pid}}', name])
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m)
  assert.match(status, /^Gid:\s+1000\s+1000\s+1000\s+1000$/m)
  assert.match(status, /^CapEff:\s+0+$/m)
  assert.equal(await docker(['inspect', '-f', '{{.HostConfig.ReadonlyRootfs}}', name]), 'true')
  // SIGTERM stops it cleanly (exit 0) well within Docker's grace period.
  await docker(['stop', '-t', '30', name])
  assert.equal(await docker(['inspect', '-f', '{{.State.ExitCode}}', name]), '0')
})

test('the shipped quickstart compose file runs the image next to a stand-in for netbird-management', async () => {
  // config/compose/quickstart-v0.62.yml merged with NetBird's own compose, changed only where a
  // test machine must differ: host/none networking (no bridge networks), a loopback metrics port,
  // the test image, labels on everything, and a stand-in for netbird-management under a name of
  // this run's (the engine may be shared: a fixed name could be another run's or an operator's).
  const project = `nbwd-test-${runId}`
  const management = `nbwd-test-management-${runId}`
  const dir = await mkdtemp(join(tmpdir(), 'nbwd-compose-'))
  await chmod(dir, 0o755) // management.json is bind-mounted into the non-root watchdog
  const port = await freePort()
  try {
    const shipped = parse(await readFile(`${repo}config/compose/quickstart-v0.62.yml`, 'utf8')) as {
      services: Record<string, Record<string, unknown>>
    }
    const services = shipped.services
    for (const s of Object.values(services)) {
      s.image = image
      s.labels = composeLabels
    }
    const watchdog = services['netbird-watchdog']!
    delete watchdog.networks
    delete watchdog.container_name
    watchdog.network_mode = 'host'
    const shippedEnv = watchdog.environment as Record<string, string>
    // The shipped file watches NetBird's container name; here it watches the stand-in.
    assert.equal(shippedEnv.NETBIRD_WATCHDOG_TARGETS, 'netbird-management')
    watchdog.environment = {
      ...shippedEnv,
      NETBIRD_WATCHDOG_TARGETS: management,
      NETBIRD_WATCHDOG_METRICS_ADDRESS: `127.0.0.1:${port}`,
      NETBIRD_WATCHDOG_MODE: 'observe',
    }
    services.management = {
      image,
      container_name: management,
      network_mode: 'none',
      labels: composeLabels,
      user: '0:0',
      entrypoint: [
        'node',
        '-e',
        `setInterval(() => console.log(${JSON.stringify(fatalLine)}), 1000)`,
      ],
      volumes: [
        'netbird_management:/var/lib/netbird',
        './management.json:/etc/netbird/management.json',
      ],
    }
    const file = {
      services,
      volumes: {
        netbird_management: { labels: composeLabels },
        netbird_watchdog: { labels: composeLabels },
      },
    }
    // YAML 1.1 quoting: docker-compose v1 reads `restart: no` as a boolean.
    await writeFile(join(dir, 'docker-compose.yml'), stringify(file, { version: '1.1' }))
    await writeFile(
      join(dir, 'management.json'),
      '{"EmbeddedIdP":{"Enabled":true,"Issuer":"https://netbird.example.com/oauth2"}}\n',
    )
    const env = { DOCKER_GID: String((await stat(socketPath)).gid) }
    const up = await compose(['-p', project, 'up', '-d'], { cwd: dir, env, timeoutMs: 300_000 })
    assert.equal(up.code, 0, up.stderr)
    try {
      const metrics = await waitFor(
        'the finding on /metrics',
        async () => {
          const r = await get(`http://127.0.0.1:${port}/metrics`)
          return r !== undefined && findingIn(r.body, management) ? r.body : undefined
        },
        60_000,
        250,
      )
      assert.match(
        metrics,
        new RegExp(`netbird_watchdog_container_up\\{container="${management}"\\} 1`),
      )
      assert.equal((await get(`http://127.0.0.1:${port}/healthz`))?.status, 200)
      const init = await compose(['-p', project, 'ps', '-q', 'netbird-watchdog-init'], {
        cwd: dir,
        env,
      })
      assert.equal(await docker(['inspect', '-f', '{{.State.ExitCode}}', init.stdout.trim()]), '0')
    } finally {
      const down = await compose(['-p', project, 'down', '-v', '-t', '30'], {
        cwd: dir,
        env,
        timeoutMs: 300_000,
      })
      assert.equal(down.code, 0, down.stderr)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
