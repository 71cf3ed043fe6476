// Which NetBird layout a container runs and which config file it reads (src/core/netbird-layout.ts):
// the command lines and mounts of getting-started.sh, getting-started-enterprise.sh and
// migrate-to-enterprise.sh (netbirdio/netbird v0.77.1), pure and then through the real Docker engine
// (a container created as the enterprise migration leaves netbird-server: image netbird-server-cloud,
// --config /etc/netbird/config.yaml.enterprise, both config files bind-mounted).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { flagValue, hostPathOf, netbirdConfigOf } from '../../src/core/netbird-layout.js'
import { matchTarget } from '../../src/core/targets.js'
import { DockerEngine } from '../../src/docker/engine.js'
import {
  busyboxImage,
  docker,
  engineSocket,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
} from '../helpers/docker.js'
import { defer } from '../helpers/cleanup.js'

const selector = {
  names: [],
  composeServices: [],
  label: 'netbird-watchdog.enable=true',
  autoDetect: true,
}

test('cobra/pflag flag values: long, =, shorthand forms, the last one wins, nothing after --', () => {
  assert.equal(flagValue(['--config', '/a'], 'config', 'c'), '/a')
  assert.equal(flagValue(['--config=/b'], 'config', 'c'), '/b')
  assert.equal(flagValue(['-c', '/c'], 'config', 'c'), '/c')
  assert.equal(flagValue(['-c=/d'], 'config', 'c'), '/d')
  assert.equal(flagValue(['-c/e'], 'config', 'c'), '/e')
  assert.equal(flagValue(['--config', '/a', '--config', '/z'], 'config', 'c'), '/z')
  assert.equal(flagValue(['--', '--config', '/a'], 'config', 'c'), undefined)
  assert.equal(flagValue(['-c', '/c'], 'config'), undefined, 'management has no -c shorthand')
  assert.equal(flagValue(['--configx', '/a'], 'config', 'c'), undefined)
})

test('host paths: a file bind, a folder bind (deepest wins), a volume, nothing', () => {
  const mounts = [
    { source: '/srv/netbird/config.yaml', destination: '/etc/netbird/config.yaml' },
    { source: '/srv/etc', destination: '/etc' },
    {
      source: '/var/lib/docker/volumes/netbird_netbird_data/_data',
      destination: '/var/lib/netbird',
    },
  ]
  assert.equal(hostPathOf('/etc/netbird/config.yaml', mounts), '/srv/netbird/config.yaml')
  assert.equal(
    hostPathOf('/etc/netbird/management.json', mounts),
    '/srv/etc/netbird/management.json',
  )
  assert.equal(
    hostPathOf('/var/lib/netbird/idp.db', mounts),
    '/var/lib/docker/volumes/netbird_netbird_data/_data/idp.db',
  )
  assert.equal(hostPathOf('/opt/x', mounts), undefined)
  assert.equal(hostPathOf('/etc/netbird/config.yaml2', mounts.slice(0, 1)), undefined)
})

test('the layouts of the real scripts: quickstart, enterprise bootstrap, enterprise migration, legacy management', () => {
  const combinedMounts = [
    {
      source: '/var/lib/docker/volumes/netbird_netbird_data/_data',
      destination: '/var/lib/netbird',
    },
    { source: '/root/netbird/config.yaml', destination: '/etc/netbird/config.yaml' },
  ]
  // getting-started.sh: image netbirdio/netbird-server, ENTRYPOINT netbird-server, --config config.yaml
  assert.deepEqual(
    netbirdConfigOf({
      image: 'netbirdio/netbird-server:0.77.1',
      entrypoint: '/go/bin/netbird-server',
      args: ['--config', '/etc/netbird/config.yaml'],
      mounts: combinedMounts,
    }),
    {
      layout: 'combined',
      edition: 'community',
      configPath: '/etc/netbird/config.yaml',
      from: 'argument',
      hostPath: '/root/netbird/config.yaml',
    },
  )
  // getting-started-enterprise.sh: the cloud image, the same file
  assert.equal(
    netbirdConfigOf({
      image: 'ghcr.io/netbirdio/netbird-server-cloud:0.77.1',
      entrypoint: '/go/bin/netbird-server',
      args: ['--config', '/etc/netbird/config.yaml'],
      mounts: combinedMounts,
    })?.edition,
    'enterprise',
  )
  // migrate-to-enterprise.sh: the override adds config.yaml.enterprise and points --config at it
  const migrated = netbirdConfigOf({
    image: 'ghcr.io/netbirdio/netbird-server-cloud:latest',
    entrypoint: '/go/bin/netbird-server',
    args: ['--config', '/etc/netbird/config.yaml.enterprise'],
    mounts: [
      ...combinedMounts,
      {
        source: '/root/netbird/config.yaml.enterprise',
        destination: '/etc/netbird/config.yaml.enterprise',
      },
    ],
  })
  assert.equal(migrated?.configPath, '/etc/netbird/config.yaml.enterprise')
  assert.equal(migrated.hostPath, '/root/netbird/config.yaml.enterprise')
  assert.equal(migrated.edition, 'enterprise')
  // legacy docker-compose.yml.tmpl: management with its default config and a --datadir
  assert.deepEqual(
    netbirdConfigOf({
      image: 'netbirdio/management:0.64.6',
      entrypoint: '/go/bin/netbird-mgmt',
      args: ['management', '--port', '443', '--log-file', 'console', '--datadir', '/data'],
      mounts: [{ source: '/srv/management.json', destination: '/etc/netbird/management.json' }],
    }),
    {
      layout: 'management',
      edition: 'community',
      configPath: '/etc/netbird/management.json',
      from: 'default',
      hostPath: '/srv/management.json',
      dataDir: '/data',
    },
  )
  assert.equal(
    netbirdConfigOf({
      image: 'netbirdio/dashboard:latest',
      entrypoint: '/usr/bin/supervisord',
      mounts: [],
    }),
    undefined,
  )
  assert.equal(
    netbirdConfigOf({
      image: 'netbirdio/signal:latest',
      entrypoint: '/go/bin/netbird-signal',
      mounts: [],
    }),
    undefined,
  )
})

test('the migrated enterprise container keeps the name netbird-server, so auto-detection finds it', () => {
  const labels = {
    'com.docker.compose.service': 'netbird-server',
    'com.docker.compose.project': 'netbird',
  }
  assert.equal(matchTarget({ name: '/netbird-server', labels }, selector), 'auto-detect')
  assert.equal(
    matchTarget(
      { name: 'netbird-server', labels: { ...labels, 'netbird-watchdog.enable': 'false' } },
      selector,
    ),
    undefined,
  )
})

test('through the real engine: a container as migrate-to-enterprise.sh leaves it reads config.yaml.enterprise', async (t) => {
  await requireDocker()
  const dir = mkdtempSync(join(tmpdir(), 'nbw-layout-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'config.yaml'), 'server: {}\n')
  writeFileSync(join(dir, 'config.yaml.enterprise'), 'server: {}\n')
  // The cloud image's name on a local image (no registry here); removed with the test.
  const image = `ghcr.io/netbirdio/netbird-server-cloud:nbw-test-${process.pid}`
  await docker(['tag', busyboxImage, image])
  defer(t, () => docker(['rmi', image]).then(() => undefined))
  const name = uniqueName('netbird-server')
  defer(t, () => removeContainers([name]))
  await runContainer({
    name,
    createOnly: true,
    image,
    // The real image's ENTRYPOINT; the container is only created, never started.
    extra: ['--entrypoint', '/go/bin/netbird-server'],
    volumes: [
      `${join(dir, 'config.yaml')}:/etc/netbird/config.yaml`,
      `${join(dir, 'config.yaml.enterprise')}:/etc/netbird/config.yaml.enterprise:ro`,
    ],
    cmd: ['--config', '/etc/netbird/config.yaml.enterprise'],
  })
  const details = await new DockerEngine({ socketPath: engineSocket() }).inspect(name)
  assert.ok(details)
  assert.equal(details.entrypoint, '/go/bin/netbird-server')
  assert.deepEqual(details.args, ['--config', '/etc/netbird/config.yaml.enterprise'])
  assert.deepEqual(netbirdConfigOf(details), {
    layout: 'combined',
    edition: 'enterprise',
    configPath: '/etc/netbird/config.yaml.enterprise',
    from: 'argument',
    hostPath: join(dir, 'config.yaml.enterprise'),
  })
})
