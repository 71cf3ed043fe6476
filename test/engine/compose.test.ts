// The compose files we ship: each is valid for Docker Compose, merges into NetBird's own compose
// project for its layout (same data volume, same network, same config file, read-only), keeps the
// sidecar hardened, and the socket-proxy variants allow exactly the Docker API calls the watchdog
// makes — and none of the calls that would make the proxy root-equivalent again.
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parse } from 'yaml'
import { DockerEngine } from '../../src/docker/engine.js'
import { compose } from '../helpers/compose.js'
import {
  busyboxImage,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'
import { startWatchdog } from '../helpers/watchdog.js'
import { defer } from '../helpers/cleanup.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const composeDir = `${repo}config/compose/`
const fixtures = `${repo}test/fixtures/compose/`
const version = (JSON.parse(await readFile(`${repo}package.json`, 'utf8')) as { version: string })
  .version

interface Layout {
  /** NetBird's compose file for the layout (docs/reference/netbird.md, "Containers and volumes"). */
  netbird: string
  /** NetBird's service and container the watchdog targets. */
  service: string
  container: string
  /** NetBird's config file and where NetBird mounts it. */
  configTarget: string
}

const quickstart: Layout = {
  netbird: 'netbird-quickstart-v0.62.yml',
  service: 'management',
  container: 'netbird-management',
  configTarget: '/etc/netbird/management.json',
}
const combined: Layout = {
  netbird: 'netbird-combined-v0.65.yml',
  service: 'netbird-server',
  container: 'netbird-server',
  configTarget: '/etc/netbird/config.yaml',
}

/** Every file we ship, with its layout and how it reaches the Docker API. */
const shipped: Record<string, { layout: Layout; proxy: boolean }> = {
  'quickstart-v0.62.yml': { layout: quickstart, proxy: false },
  'quickstart-v0.62-socket-proxy.yml': { layout: quickstart, proxy: true },
  'combined-v0.65.yml': { layout: combined, proxy: false },
  'combined-v0.65-socket-proxy.yml': { layout: combined, proxy: true },
}

/**
 * The Docker Engine API calls the watchdog makes (dockerode, optionally with a /v1.NN prefix):
 * engine discovery, target discovery and inspection, the event stream, log following, and the
 * restart of a repair. The last test below records the calls of a real running watchdog.
 */
const watchdogCalls: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/_ping'],
  ['GET', '/events'],
  ['GET', '/containers/json'],
  ['GET', '/containers/netbird-management/json'],
  ['GET', `/containers/${'a1'.repeat(32)}/json`],
  ['GET', `/containers/${'a1'.repeat(32)}/logs`],
  ['POST', `/containers/${'a1'.repeat(32)}/restart`],
  ['GET', '/v1.41/containers/json'],
  ['GET', '/v1.41/events'],
  ['POST', '/v1.41/containers/netbird-server/restart'],
]

/** Calls that give a client root on the host, or destroy data: the proxy must refuse every one. */
const forbiddenCalls: ReadonlyArray<readonly [string, string]> = [
  ['POST', '/containers/create'],
  ['POST', '/v1.41/containers/create'],
  ['POST', '/containers/netbird-management/exec'],
  ['POST', '/exec/abc/start'],
  ['POST', '/containers/netbird-management/attach'],
  ['GET', '/containers/netbird-management/attach/ws'],
  ['POST', '/containers/netbird-management/update'],
  ['POST', '/containers/netbird-management/kill'],
  ['POST', '/containers/netbird-management/stop'],
  ['POST', '/containers/netbird-management/start'],
  ['POST', '/containers/netbird-management/pause'],
  ['DELETE', '/containers/netbird-management'],
  ['GET', '/containers/netbird-management/archive'],
  ['PUT', '/containers/netbird-management/archive'],
  ['GET', '/containers/netbird-management/export'],
  ['POST', '/images/create'],
  ['POST', '/build'],
  ['POST', '/volumes/create'],
  ['DELETE', '/volumes/netbird_management'],
  ['POST', '/networks/create'],
  ['GET', '/secrets'],
  ['GET', '/swarm'],
  ['POST', '/plugins/pull'],
  ['GET', '/info'],
]

const env = {
  DOCKER_GID: '999',
  NETBIRD_WATCHDOG_IMAGE: undefined,
  NETBIRD_WATCHDOG_MODE: undefined,
}

type Service = Record<string, unknown>
interface Mount {
  source: string
  target: string
  readOnly: boolean
}

/** Volumes of a service from `config` output: v1 prints "src:dst:mode" strings, v2 long syntax. */
function mounts(service: Service): Mount[] {
  const list = (service.volumes ?? []) as Array<string | Record<string, unknown>>
  return list.map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = 'rw'] = v.split(':')
      return { source, target, readOnly: mode.split(',').includes('ro') }
    }
    return {
      source: String(v.source),
      target: String(v.target),
      readOnly: v.read_only === true,
    }
  })
}

function mountAt(service: Service, target: string): Mount | undefined {
  return mounts(service).find((m) => m.target === target)
}

function environment(service: Service): Record<string, string> {
  const raw = service.environment ?? {}
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      (raw as string[]).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    )
  }
  return raw as Record<string, string>
}

function networks(service: Service): string[] {
  const raw = service.networks ?? []
  return Array.isArray(raw) ? (raw as string[]) : Object.keys(raw)
}

async function merged(file: string, layout: Layout): Promise<Record<string, Service>> {
  const result = await compose(
    ['-p', 'nbwd-config-check', '-f', fixtures + layout.netbird, '-f', composeDir + file, 'config'],
    { env },
  )
  assert.equal(result.code, 0, result.stderr)
  return (parse(result.stdout) as { services: Record<string, Service> }).services
}

/** The proxy's allowlist: method -> anchored regexp, exactly as wollomatic/socket-proxy applies it. */
function allowlist(proxy: Service): Map<string, RegExp> {
  const rules = new Map<string, RegExp>()
  for (const arg of proxy.command as string[]) {
    const m = /^-allow([A-Z]+)=(.*)$/.exec(arg)
    if (m !== null) rules.set(m[1]!, new RegExp(`^(?:${m[2]!})$`))
  }
  return rules
}

test('every compose file shipped is listed here, with its layout', async () => {
  const files = (await readdir(composeDir)).filter((f) => /\.ya?ml$/.test(f)).sort()
  assert.deepEqual(files, Object.keys(shipped).sort())
  const topLevel = (await readdir(`${repo}config`)).filter((f) =>
    /^docker-compose.*\.ya?ml$/.test(f),
  )
  assert.deepEqual(topLevel, [], 'compose files live in config/compose/')
})

for (const [file, { layout, proxy }] of Object.entries(shipped)) {
  test(`${file}: valid on its own, and names the variables it needs`, async () => {
    const ok = await compose(['-f', composeDir + file, 'config', '-q'], { env })
    assert.equal(ok.code, 0, ok.stderr)
    const missing = await compose(['-f', composeDir + file, 'config', '-q'], {
      env: { ...env, DOCKER_GID: undefined },
    })
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /DOCKER_GID.*stat -c %g \/var\/run\/docker\.sock/)
  })

  test(`${file}: joins NetBird's ${layout.container} project (volume, config, network, target)`, async () => {
    const services = await merged(file, layout)
    const netbird = services[layout.service]!
    const watchdog = services['netbird-watchdog']!
    assert.ok(watchdog, 'service netbird-watchdog')

    // The data volume at the path NetBird uses, so idp.db is /var/lib/netbird/idp.db in both.
    const data = mountAt(netbird, '/var/lib/netbird')!
    assert.deepEqual(mountAt(watchdog, '/var/lib/netbird'), { ...data, readOnly: false })
    assert.equal(environment(watchdog).NETBIRD_WATCHDOG_IDP_DB, '/var/lib/netbird/idp.db')

    // NetBird's config file, the same file, read-only.
    const config = mountAt(netbird, layout.configTarget)!
    assert.deepEqual(mountAt(watchdog, layout.configTarget), { ...config, readOnly: true })
    const configEnv =
      layout === quickstart ? 'NETBIRD_WATCHDOG_MANAGEMENT_JSON' : 'NETBIRD_WATCHDOG_CONFIG_YAML'
    assert.equal(environment(watchdog)[configEnv], layout.configTarget)

    assert.equal(environment(watchdog).NETBIRD_WATCHDOG_TARGETS, layout.container)
    assert.equal(netbird.container_name, layout.container)
    assert.ok(networks(watchdog).includes('netbird'), 'on NetBird network (egress, scrapes)')

    // Backups on the watchdog's own volume, never inside NetBird's.
    const backupDir = environment(watchdog).NETBIRD_WATCHDOG_BACKUP_DIR!
    const backupMount = mounts(watchdog).find((m) => backupDir.startsWith(`${m.target}/`))!
    assert.ok(backupMount, `a volume holds ${backupDir}`)
    assert.notEqual(backupMount.source, data.source)
    assert.equal(backupMount.readOnly, false)
  })

  test(`${file}: the sidecar is hardened`, async () => {
    const services = await merged(file, layout)
    const watchdog = services['netbird-watchdog']!
    assert.equal(watchdog.image, `netbird-watchdog:${version}`)
    assert.deepEqual(watchdog.command, ['run'])
    assert.match(String(watchdog.user), /^[1-9]\d*:[1-9]\d*$/, 'numeric non-root user and group')
    assert.equal(watchdog.read_only, true)
    assert.deepEqual(watchdog.cap_drop, ['ALL'])
    assert.equal(watchdog.cap_add, undefined)
    assert.equal(watchdog.privileged, undefined)
    assert.deepEqual(watchdog.security_opt, ['no-new-privileges:true'])
    const tmpfs = ([] as string[]).concat(watchdog.tmpfs as string | string[])
    assert.ok(
      tmpfs.some((t) => t.split(':')[0] === '/tmp'),
      'tmpfs on /tmp',
    )
    assert.equal(environment(watchdog).NETBIRD_WATCHDOG_METRICS_ADDRESS, ':9464')
    assert.equal(watchdog.restart, 'unless-stopped')

    // The one-shot that gives the non-root user access to idp.db: root, but only CHOWN and FOWNER,
    // no network, and the watchdog waits for it.
    const init = services['netbird-watchdog-init']!
    assert.equal(init.user, '0:0')
    assert.deepEqual(init.cap_drop, ['ALL'])
    assert.deepEqual([...(init.cap_add as string[])].sort(), ['CHOWN', 'FOWNER'])
    assert.equal(init.network_mode, 'none')
    assert.equal(init.read_only, true)
    assert.deepEqual(mountAt(init, '/var/lib/netbird'), mountAt(watchdog, '/var/lib/netbird'))
    assert.equal(environment(init).NETBIRD_WATCHDOG_IDP_DB, '/var/lib/netbird/idp.db')
    assert.deepEqual((watchdog.depends_on as Record<string, unknown>)['netbird-watchdog-init'], {
      condition: 'service_completed_successfully',
    })
  })

  test(`${file}: Docker API access ${proxy ? 'only through the socket proxy' : 'through the socket'}`, async () => {
    const services = await merged(file, layout)
    const watchdog = services['netbird-watchdog']!
    const socket = mountAt(watchdog, '/var/run/docker.sock')
    if (!proxy) {
      assert.ok(socket, 'the socket is mounted')
      assert.deepEqual(watchdog.group_add, ['999'])
      assert.equal(environment(watchdog).DOCKER_HOST, undefined)
      return
    }
    assert.equal(socket, undefined, 'the watchdog has no socket')
    assert.equal(watchdog.group_add, undefined)
    const proxyService = services['netbird-watchdog-socket-proxy']!
    assert.equal(environment(watchdog).DOCKER_HOST, 'tcp://netbird-watchdog-socket-proxy:2375')
    assert.ok(mountAt(proxyService, '/var/run/docker.sock'))
    assert.equal(String(proxyService.user), '65534:999')
    assert.equal(proxyService.read_only, true)
    assert.deepEqual(proxyService.cap_drop, ['ALL'])
    assert.ok((proxyService.command as string[]).includes('-allowfrom=netbird-watchdog'))
    assert.equal(watchdog.container_name, 'netbird-watchdog')
    // The proxy sits on one internal network it shares with the watchdog only.
    const [proxyNet, ...more] = networks(proxyService)
    assert.deepEqual(more, [])
    const result = await compose(
      [
        '-p',
        'nbwd-config-check',
        '-f',
        fixtures + layout.netbird,
        '-f',
        composeDir + file,
        'config',
      ],
      { env },
    )
    const top = parse(result.stdout) as { networks: Record<string, { internal?: boolean } | null> }
    assert.equal(top.networks[proxyNet!]?.internal, true)
    const members = Object.entries(services).filter(([, s]) => networks(s).includes(proxyNet!))
    assert.deepEqual(members.map(([name]) => name).sort(), [
      'netbird-watchdog',
      'netbird-watchdog-socket-proxy',
    ])
  })

  if (proxy) {
    test(`${file}: the proxy allows every call the watchdog makes and nothing dangerous`, async () => {
      const services = await merged(file, layout)
      const rules = allowlist(services['netbird-watchdog-socket-proxy']!)
      assert.deepEqual([...rules.keys()].sort(), ['GET', 'POST'])
      for (const [method, path] of watchdogCalls) {
        assert.ok(rules.get(method)?.test(path), `allowed: ${method} ${path}`)
      }
      for (const [method, path] of forbiddenCalls) {
        assert.ok(!(rules.get(method)?.test(path) ?? false), `refused: ${method} ${path}`)
      }
    })
  }
}

/**
 * A recording proxy between the watchdog and the real engine (the boundary a socket proxy sits on):
 * forwards every request to the engine's socket, streaming both ways, and keeps `METHOD /path`.
 */
async function recordingProxy(
  socketPath: string,
): Promise<{ url: string; calls: Set<string>; close(): Promise<void> }> {
  const calls = new Set<string>()
  const server = createServer((req, res) => {
    calls.add(`${req.method} ${new URL(req.url ?? '/', 'http://engine').pathname}`)
    const upstream = request(
      { socketPath, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `tcp://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

test('the socket proxies allow every Docker API call a running watchdog really makes', async (t) => {
  await requireDocker([busyboxImage])
  const proxy = await recordingProxy('/var/run/docker.sock')
  defer(t, () => proxy.close())
  const target = uniqueName('proxy-target')
  defer(t, () => removeContainers([target]))
  // A NetBird stand-in that prints the fatal issuer line and crash-loops under its restart policy:
  // target lookup, inspect, events, log following across restarts.
  await runContainer({
    name: target,
    restart: 'unless-stopped',
    cmd: [
      'sh',
      '-c',
      'echo \'FATL oidc: issuer did not match the issuer returned by provider, expected "https://a" got "https://a/"\'; sleep 1; exit 1',
    ],
  })
  const watchdog = await startWatchdog({ targets: { names: [target] } }, { dockerHost: proxy.url })
  defer(t, () => watchdog.stop())
  await waitFor(
    'two restarts and a finding, seen through the recording proxy',
    async () =>
      ((await watchdog.metric('netbird_watchdog_container_restarts_total', {
        container: target,
      })) ?? 0) >= 2 &&
      ((await watchdog.metric('netbird_watchdog_log_findings_total', {
        container: target,
        rule: 'oidc-issuer-mismatch',
      })) ?? 0) >= 1,
    60_000,
  )
  // The repair's restart goes through the same adapter (src/heal/healer.ts → DockerPort.restart).
  const [host, port] = proxy.url.slice('tcp://'.length).split(':')
  await new DockerEngine({ host: host!, port: Number(port), protocol: 'http' }).restart(target, {
    timeoutSeconds: 1,
  })
  const calls = [...proxy.calls].sort()
  t.diagnostic(`calls: ${calls.join(', ')}`)
  assert.ok(calls.some((c) => c.endsWith('/events')))
  assert.ok(calls.some((c) => c.endsWith('/logs')))
  for (const file of Object.keys(shipped).filter((f) => shipped[f]!.proxy)) {
    const rules = allowlist(
      (await merged(file, shipped[file]!.layout))['netbird-watchdog-socket-proxy']!,
    )
    for (const call of calls) {
      const [method, path] = call.split(' ') as [string, string]
      assert.ok(rules.get(method)?.test(path), `${file} refuses ${call}, which the watchdog makes`)
    }
  }
})
