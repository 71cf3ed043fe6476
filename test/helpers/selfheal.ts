// Helpers for the self-healing tests and the demo: the simulated NetBird container, an OIDC provider
// whose issuer can be switched between `http://127.0.0.1:P` and `http://127.0.0.1:P/` on the same port
// (a real oidc-provider per spelling), polling with deadlines, metric lookups.
import { execFile } from 'node:child_process'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Registry } from 'prom-client'

const exec = promisify(execFile)
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '')
export const nodeImage = 'netbird-watchdog-test/node:20'
export const testLabel = 'netbird-watchdog.test=1'

export async function dockerCli(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout, stderr } = await exec('docker', [...args], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    })
    return stdout + stderr
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`docker ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err })
  }
}

/** Fails with the command that fixes it when the engine or the node test image is missing. */
export async function requireTestImage(): Promise<void> {
  try {
    await dockerCli(['info', '--format', '{{.ServerVersion}}'], 15_000)
  } catch (err) {
    throw new Error('no Docker engine answers: start it with `bash scripts/test-env.sh`', {
      cause: err,
    })
  }
  try {
    await dockerCli(['image', 'inspect', '--format', '{{.Id}}', nodeImage], 15_000)
  } catch (err) {
    throw new Error(`test image ${nodeImage} missing: build it with \`bash scripts/test-env.sh\``, {
      cause: err,
    })
  }
}

export async function removeTestContainers(names: readonly string[]): Promise<void> {
  for (const name of names) {
    await dockerCli(['rm', '-f', '-v', name]).catch(() => '')
  }
}

/** Start the simulated NetBird management container (host network, restart unless-stopped). */
export async function runFakeNetbird(opts: {
  name: string
  dataDir: string
  variant: 'fatal' | 'erro'
}): Promise<string> {
  await removeTestContainers([opts.name])
  const id = await dockerCli([
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
    '-v',
    `${opts.dataDir}:/var/lib/netbird`,
    '-v',
    `${repoRoot}:${repoRoot}:ro`,
    nodeImage,
    'node',
    `${repoRoot}/test/fixtures/fake-netbird/main.mjs`,
    '--variant',
    opts.variant,
  ])
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

/** A real oidc-provider on 127.0.0.1; which spelling of its issuer it returns can change at runtime. */
export async function startIssuerPeer(
  t: { after(fn: () => unknown): void } | undefined,
  opts: { trailingSlash: boolean },
): Promise<IssuerPeer> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // oidc-provider ships no types; a computed specifier keeps tsc from looking for them.
  const specifier: string = 'oidc-provider'
  const { default: Provider } = (await import(specifier)) as { default: ProviderClass }
  const quiet = console.warn
  console.warn = () => undefined // oidc-provider's development-only warnings
  const providers = {
    slash: new Provider(`${origin}/`, {}).callback(),
    bare: new Provider(origin, {}).callback(),
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
  t?.after(() => peer.close())
  return peer
}

export async function until(
  pred: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await pred()) return
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
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

/** A value from Prometheus exposition text (as scraped from /metrics). */
export function scrapedValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const got = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    )
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3])
  }
  return undefined
}
