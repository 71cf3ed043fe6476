// Helpers for the self-healing tests and the demo: the simulated NetBird container, an OIDC provider
// whose issuer can be switched between `http://127.0.0.1:P` and `http://127.0.0.1:P/` on the same port
// (a real oidc-provider per spelling), and metric lookups on an in-process registry. Docker plumbing
// comes from ./docker.js.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { configSchema } from '../../src/config/schema.js'
import { DockerEngine, type DockerPort } from '../../src/docker/engine.js'
import { WatchdogEvents } from '../../src/docker/events.js'
import { startSelfHealing, type SelfHealing } from '../../src/heal/self-heal.js'
import { createLogger, type Logger } from '../../src/log.js'
import { SqliteStore } from '../../src/store/sqlite/store.js'
import { docker, engineSocket, nodeImage, removeContainers, testLabel } from './docker.js'
import { defer, type CleanupScope } from './cleanup.js'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '')

/** Removes the given containers (missing ones are fine). */
export const removeTestContainers = removeContainers

/** The stand-in's default public Dex issuer (`--issuer`), as NetBird's quickstart domain spells it. */
export const fakeNetbirdIssuer = 'https://netbird.selfhosted/oauth2'

/**
 * Where a test reaches the stand-in's Dex with `listen: {port}`: `http://127.0.0.1:PORT<issuer path>`
 * (Dex serves under the issuer's path whatever Host a request carries).
 */
export function fakeNetbirdDexUrl(port: number, issuer: string = fakeNetbirdIssuer): string {
  return `http://127.0.0.1:${port}${new URL(issuer).pathname.replace(/\/$/, '')}`
}

/**
 * Start the simulated NetBird management container (host network, restart unless-stopped), its IdP
 * store either idp.db in `dataDir` (mounted as its data volume) or the PostgreSQL database `dsn` names.
 * With `listen`, it also serves Dex's login endpoint on 127.0.0.1:`port`
 * (test/fixtures/fake-netbird/login.mjs; docs/reference/netbird.md, "Dex at login").
 */
export async function runFakeNetbird(opts: {
  name: string
  store: { dataDir: string } | { dsn: string }
  variant: 'fatal' | 'erro'
  /** Another engine (a private one), by address. */
  host?: string
  /** Serve Dex's `<issuer path>/auth/<connector>` and discovery on 127.0.0.1:`port`. */
  listen?: { port: number }
  /** NetBird's public Dex issuer (`--issuer`; default {@link fakeNetbirdIssuer}). */
  issuer?: string
  /** The NetBird version to behave as (`--version`; default 0.64.4 for `fatal`, 0.65.2 for `erro`). */
  version?: string
  /** More arguments for main.mjs, e.g. `['--cli-redirect-uris', 'http://localhost:53000/']`. */
  args?: readonly string[]
}): Promise<string> {
  await removeContainers([opts.name], opts.host)
  const id = await docker(
    [
      'run',
      '-d',
      '--name',
      opts.name,
      '--label',
      testLabel,
      '--network',
      'host',
      '--restart',
      'unless-stopped',
      ...('dataDir' in opts.store ? ['-v', `${opts.store.dataDir}:/var/lib/netbird`] : []),
      '-v',
      `${repoRoot}:${repoRoot}:ro`,
      nodeImage,
      'node',
      `${repoRoot}/test/fixtures/fake-netbird/main.mjs`,
      '--variant',
      opts.variant,
      ...('dsn' in opts.store ? ['--dsn', opts.store.dsn] : []),
      ...(opts.listen !== undefined ? ['--listen', `127.0.0.1:${opts.listen.port}`] : []),
      ...(opts.issuer !== undefined ? ['--issuer', opts.issuer] : []),
      ...(opts.version !== undefined ? ['--version', opts.version] : []),
      ...(opts.args ?? []),
    ],
    opts.host !== undefined ? { host: opts.host } : {},
  )
  return id.trim()
}

type ProviderClass = new (
  issuer: string,
  config: object,
) => { callback(): (req: IncomingMessage, res: ServerResponse) => unknown }

export interface IssuerPeer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly origin: string
  /** Switch the issuer the provider returns between origin and origin + '/'. */
  setTrailingSlash(on: boolean): void
  close(): Promise<void>
}

/**
 * A real oidc-provider on 127.0.0.1; which spelling of its issuer it returns can change at runtime.
 * `movedAuthorization`: the trailing-slash spelling also serves its authorization endpoint at
 * `/authorize` instead of oidc-provider's `/auth` (a provider that moved both, as a migration does), so
 * a Dex holding the connector as it opened it before sends the browser to the old endpoint.
 */
export async function startIssuerPeer(
  t: CleanupScope | undefined,
  opts: { trailingSlash: boolean; movedAuthorization?: boolean },
): Promise<IssuerPeer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // oidc-provider ships no types; a computed specifier keeps tsc from looking for them.
  const specifier: string = 'oidc-provider'
  const quiet = console.warn
  // oidc-provider's import-time "Unsupported runtime" (it serves discovery fine on Node 20) and
  // its development-only warnings.
  console.warn = () => undefined
  const { default: Provider } = (await import(specifier)) as { default: ProviderClass }
  // A login probe reaches the authorization endpoint with a client oidc-provider does not know: its
  // plain error page, without the notice its default renderer prints on every use.
  const renderError = (ctx: { type: string; body: string }, out: { error?: string }): void => {
    ctx.type = 'html'
    ctx.body = `<p>${String(out.error)}</p>`
  }
  const providers = {
    slash: new Provider(`${origin}/`, {
      renderError,
      ...(opts.movedAuthorization === true ? { routes: { authorization: '/authorize' } } : {}),
    }).callback(),
    bare: new Provider(origin, { renderError }).callback(),
  }
  console.warn = quiet
  let current = opts.trailingSlash ? providers.slash : providers.bare
  server.on('request', (req, res) => void current(req, res))
  let closed = false
  const peer: IssuerPeer = {
    origin,
    setTrailingSlash(on) {
      current = on ? providers.slash : providers.bare
    },
    close() {
      if (closed) return Promise.resolve()
      closed = true
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  if (t !== undefined) defer(t, () => peer.close())
  return peer
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  return metric?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  )?.value
}

/**
 * Self-healing as the daemon wires it (src/heal/self-heal.ts), in-process, for a test: the real Docker
 * engine (or `docker`), the SQLite store at `dbPath`, backups in `<dir>/backups`, the scheduled jobs
 * off unless `config` says otherwise; stopped after the test.
 */
export function startTestSelfHealing(
  t: CleanupScope,
  opts: {
    dbPath: string
    dir: string
    /** Config keys on top of: no schedules, plain-http issuers allowed, a 3 s discovery timeout. */
    config: Record<string, unknown>
    logger?: Logger
    docker?: DockerPort
    /** The bus the watcher would feed (default: a fresh one nobody emits on). */
    events?: WatchdogEvents
    registry?: Registry
    /** The healer's clock (default Date.now): a test moves it past a cooldown. */
    now?: () => number
  },
): SelfHealing {
  const config = configSchema().parse({
    oidc: { allowInsecure: true, timeoutMs: 3000 },
    schedules: { doctor: '', backup: '', integrity: '' },
    ...opts.config,
    idp: { dbPath: opts.dbPath, ...(opts.config.idp as object | undefined) },
  })
  const heal = startSelfHealing({
    logger: opts.logger ?? createLogger({ level: 'silent' }),
    registry: opts.registry ?? new Registry(),
    config,
    secrets: {},
    docker: opts.docker ?? new DockerEngine({ socketPath: engineSocket() }),
    events: opts.events ?? new WatchdogEvents(),
    store: new SqliteStore(opts.dbPath),
    backupDir: join(opts.dir, 'backups'),
    version: 'test',
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  })
  defer(t, () => heal.stop())
  return heal
}
