// The SSO login probe as a job of the daemon: every `sso.probeSeconds`, for each target whose Dex URL is
// known, one round of login probes (oidc/sso-probe.ts) over the IdP store's OIDC connectors. It keeps
// the latest round (read by the metrics at scrape time, heal/sso-metrics.ts), logs when a connector
// starts or stops failing, and hands a failure that warrants it (core/sso-probe.ts repairTriggers) to
// the healer, like a log finding, as an `sso-failure` event — once per episode, again every
// `detection.stableSeconds` while it lasts. The healer also asks it for a round on demand: the baseline before a repair and the proof
// after it.
//
// Where Dex is: `sso.url`, or — unset — derived from NetBird's config file (the issuer's path, the
// combined server's listen port) and the target container (its name on the compose network, or
// 127.0.0.1 for a container on the host network), used only once it answers as that issuer's Dex.
// Otherwise the probe is off for that target, said once in the log and in
// netbird_watchdog_sso_probe_enabled; derivation is tried again every round.
import type { Config } from '../config/schema.js'
import type { ConnectorRow } from '../core/connectors.js'
import {
  deriveSsoUrl,
  discountStoreFailures,
  repairTriggers,
  type ProbeResult,
} from '../core/sso-probe.js'
import type { DockerPort } from '../docker/engine.js'
import type { WatchdogEvents } from '../docker/events.js'
import { errorMessage } from '../errors.js'
import type { Logger } from '../log.js'
import { readCombinedConfig, readManagementJson } from '../netbird/config-files.js'
import { fetchDiscoveryDocument } from '../oidc/discovery.js'
import { probeConnectors, type SsoProbeOptions } from '../oidc/sso-probe.js'
import type { IdpStore } from '../store/port.js'

export type FailedProbe = Extract<ProbeResult, { ok: false }>

/** What the healer needs of the probe. */
export interface SsoProbe {
  /** A Dex URL is known for the target: the probe can prove a live repair. */
  available(container: string): boolean
  /** The last round (undefined: none yet, or the probe is off). */
  latest(container: string): readonly ProbeResult[] | undefined
  /** A round now (after any round under way); undefined when the probe is off for the target. */
  probe(container: string): Promise<readonly ProbeResult[] | undefined>
}

/** What the metrics read at scrape time. */
export interface SsoProbeState {
  readonly container: string
  readonly enabled: boolean
  readonly results: readonly ProbeResult[]
}

type Where = { readonly url: string; readonly source: string } | { readonly why: string }

interface TargetProbe {
  where?: Where
  /** The last `why` logged for an off probe (logged again only when it changes). */
  saidOff?: string
  results: readonly ProbeResult[]
  /** The connector rows of the last successful read: probed again while the store cannot be read. */
  rows?: readonly ConnectorRow[]
  /** Per connector: the reason and time of the last hand-over to the healer. */
  readonly triggered: Map<string, { reason: string; at: number }>
  chain: Promise<unknown>
}

export interface SsoMonitorOptions {
  readonly config: Config
  readonly store: IdpStore
  readonly docker: DockerPort
  readonly events: WatchdogEvents
  readonly logger: Logger
  /** Every round's results, for the failure counter. */
  readonly onRound?: (container: string, results: readonly ProbeResult[]) => void
  readonly now?: () => number
}

export class SsoMonitor implements SsoProbe {
  readonly #o: SsoMonitorOptions
  readonly #log: Logger
  readonly #targets = new Map<string, TargetProbe>()
  readonly #abort = new AbortController()
  readonly #unsubscribe: Array<() => void> = []
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #loop: Promise<void> = Promise.resolve()

  constructor(o: SsoMonitorOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'sso-probe' })
    this.#now = o.now ?? Date.now
  }

  get #on(): boolean {
    return this.#o.config.sso.probeSeconds > 0
  }

  start(): void {
    if (!this.#on) {
      this.#log.info('SSO login probe off (sso.probeSeconds is 0)')
      return
    }
    this.#unsubscribe.push(this.#o.events.on('target', (e) => this.#target(e.container)))
    for (const name of this.#o.config.targets.names) this.#target(name)
    this.#schedule(0)
  }

  async stop(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off()
    this.#abort.abort()
    clearTimeout(this.#timer)
    await this.#loop
    await Promise.allSettled([...this.#targets.values()].map((t) => t.chain))
  }

  available(container: string): boolean {
    const where = this.#targets.get(container)?.where
    return this.#on && where !== undefined && 'url' in where
  }

  latest(container: string): readonly ProbeResult[] | undefined {
    const t = this.#targets.get(container)
    return t !== undefined && t.results.length > 0 ? t.results : undefined
  }

  probe(container: string): Promise<readonly ProbeResult[] | undefined> {
    if (!this.#on || this.#abort.signal.aborted) return Promise.resolve(undefined)
    const t = this.#target(container)
    const run = t.chain.then(() => this.#round(container, t))
    t.chain = run.catch(() => undefined)
    return run
  }

  /** Every known target's state, for the metrics. */
  state(): SsoProbeState[] {
    return [...this.#targets.entries()].map(([container, t]) => ({
      container,
      enabled: this.#on && t.where !== undefined && 'url' in t.where,
      results: t.results,
    }))
  }

  #target(container: string): TargetProbe {
    let t = this.#targets.get(container)
    if (t === undefined) {
      t = { results: [], triggered: new Map(), chain: Promise.resolve() }
      this.#targets.set(container, t)
    }
    return t
  }

  #schedule(ms: number): void {
    if (this.#abort.signal.aborted) return
    this.#timer = setTimeout(() => {
      this.#loop = this.#tick().finally(() =>
        this.#schedule(this.#o.config.sso.probeSeconds * 1000),
      )
    }, ms)
  }

  /** One scheduled round for every target; failures worth it go to the healer. */
  async #tick(): Promise<void> {
    for (const container of [...this.#targets.keys()]) {
      if (this.#abort.signal.aborted) return
      const results = await this.probe(container).catch((err: unknown) => {
        this.#log.error({ container, err }, 'SSO login probe round failed')
        return undefined
      })
      if (results !== undefined) this.#handOver(container, results)
    }
  }

  async #round(container: string, t: TargetProbe): Promise<readonly ProbeResult[] | undefined> {
    const where = await this.#where(container, t)
    if (!('url' in where)) return undefined
    let rows: readonly ConnectorRow[]
    try {
      rows = await this.#o.store.readConnectors()
      t.rows = rows
    } catch (err) {
      // Dex may still serve logins: probe the connectors last read (their answers then say nothing
      // conclusive about a connector Dex refuses, below).
      if (t.rows === undefined) {
        this.#log.warn(
          { container, err: errorMessage(err) },
          'SSO login probe: cannot read the connectors from the IdP store; round skipped',
        )
        return undefined
      }
      rows = t.rows
    }
    const sso = this.#o.config.sso
    const options: SsoProbeOptions = {
      url: where.url,
      clientId: sso.clientId,
      redirectUri: sso.redirectUri,
      timeoutMs: sso.timeoutMs,
      checkProvider: sso.checkProvider,
      allowInsecure: this.#o.config.oidc.allowInsecure,
      signal: this.#abort.signal,
    }
    let results = await probeConnectors(rows, options)
    if (this.#abort.signal.aborted) return undefined
    if (results.some((r) => !r.ok && r.reason === 'connector_failed')) {
      // Dex reads the connector's row before it opens it: if the store cannot be read now (a lock
      // held past Dex's busy timeout, a server down), its refusal says nothing about the connector.
      try {
        await this.#o.store.readConnectors()
      } catch (err) {
        results = discountStoreFailures(results, errorMessage(err))
      }
    }
    this.#o.onRound?.(container, results)
    this.#report(container, t.results, results)
    t.results = results
    return results
  }

  /** Log each connector's change of state; count every failure. */
  #report(container: string, before: readonly ProbeResult[], after: readonly ProbeResult[]): void {
    for (const r of after) {
      const was = before.find((b) => b.connectorId === r.connectorId)
      if (!r.ok) {
        if (was === undefined || was.ok || was.reason !== r.reason) {
          this.#log.warn(
            { container, connectorId: r.connectorId, reason: r.reason },
            `SSO login through connector ${r.connectorId} fails: ${r.detail}`,
          )
        }
      } else if (was !== undefined && !was.ok) {
        this.#log.info(
          { container, connectorId: r.connectorId, was: was.reason },
          `SSO works again through connector ${r.connectorId}: the login probe reaches the provider`,
        )
      }
    }
  }

  /** Failures that start the flow: new ones, or ones that outlasted `detection.stableSeconds`. */
  #handOver(container: string, results: readonly ProbeResult[]): void {
    const t = this.#target(container)
    const now = this.#now()
    const again = this.#o.config.detection.stableSeconds * 1000
    for (const r of results) {
      if (r.ok) {
        t.triggered.delete(r.connectorId)
        continue
      }
      if (!repairTriggers.has(r.reason)) continue
      const last = t.triggered.get(r.connectorId)
      if (last !== undefined && last.reason === r.reason && now - last.at < again) continue
      t.triggered.set(r.connectorId, { reason: r.reason, at: now })
      this.#o.events.emit('sso-failure', { container, failure: r })
    }
  }

  /** Where the target's Dex is; a derived URL is looked for again while it is not found. */
  async #where(container: string, t: TargetProbe): Promise<Where> {
    if (t.where !== undefined && 'url' in t.where) return t.where
    const where = await this.#locate(container)
    t.where = where
    if ('url' in where) {
      t.saidOff = undefined
      this.#log.info({ container, url: where.url, from: where.source }, 'SSO login probe on')
    } else if (t.saidOff !== where.why) {
      t.saidOff = where.why
      this.#log.warn({ container }, `SSO login probe off: ${where.why}`)
    }
    return where
  }

  async #locate(container: string): Promise<Where> {
    const { sso, idp } = this.#o.config
    if (sso.url !== undefined) return { url: sso.url, source: 'sso.url' }
    let issuer: string | undefined
    let listen: string | undefined
    let file: string
    try {
      if (idp.configYaml !== undefined) {
        file = idp.configYaml
        const c = readCombinedConfig(file)
        issuer = c.issuer
        listen = c.listenAddress
      } else if (idp.managementJson !== undefined) {
        file = idp.managementJson
        issuer = readManagementJson(file).embedded?.issuer
      } else {
        return {
          why: 'sso.url is not set, and no NetBird config file (idp.configYaml, idp.managementJson) is mounted to derive it from',
        }
      }
    } catch (err) {
      return {
        why: `sso.url is not set, and NetBird's config cannot be read: ${errorMessage(err)}`,
      }
    }
    if (issuer === undefined) {
      return { why: `sso.url is not set, and ${file} names no embedded IdP issuer` }
    }
    const details = await this.#o.docker.inspect(container).catch(() => undefined)
    if (details === undefined) {
      return { why: `sso.url is not set, and the container ${container} cannot be inspected now` }
    }
    const url = deriveSsoUrl({
      issuer,
      ...(listen !== undefined ? { listenAddress: listen } : {}),
      container: details.name,
      networkMode: details.networkMode,
    })
    if (url === undefined) {
      return { why: `sso.url is not set, and ${file}'s issuer is not a URL` }
    }
    // Used only once it answers as that issuer's Dex.
    const found = await fetchDiscoveryDocument(`${url}/.well-known/openid-configuration`, {
      timeoutMs: this.#o.config.sso.timeoutMs,
      allowInsecure: true,
      signal: this.#abort.signal,
    })
    if (!found.ok) {
      return {
        why: `sso.url is not set, and ${url} (derived from ${file}) does not answer as NetBird's IdP (${found.message}); set sso.url`,
      }
    }
    if (found.issuer !== issuer) {
      return {
        why: `sso.url is not set, and ${url} (derived from ${file}) answers as another issuer; set sso.url`,
      }
    }
    return { url, source: `derived from ${file}` }
  }
}
