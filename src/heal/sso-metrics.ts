// The SSO login probe's metrics, on the Registry the composition root passes in. The gauges mirror the
// probe's latest round and are read from it at scrape time (prom-client `collect()`): nothing copies
// state into them, and a connector that left the store leaves the exposition with it. The failure
// counter counts every failed probe, by reason, every reason present from the first round at 0.
import { Counter, Gauge, type Registry } from 'prom-client'
import { probeFailureReasons, type ProbeResult } from '../core/sso-probe.js'
import type { SsoProbeState } from './sso-monitor.js'

const p = 'netbird_watchdog_'

export interface SsoMetrics {
  /** Count a round's failed probes (a connector's series start at 0 in its first round). */
  round(container: string, results: readonly ProbeResult[]): void
}

export function createSsoMetrics(
  registry: Registry,
  state: () => readonly SsoProbeState[],
): SsoMetrics {
  const registers = [registry]
  new Gauge({
    name: `${p}sso_probe_enabled`,
    help: "Whether the SSO login probe runs against a target (1) or cannot (0: sso.url is unset and NetBird's IdP URL could not be derived); no series while sso.probeSeconds is 0.",
    labelNames: ['container'] as const,
    registers,
    collect() {
      this.reset()
      for (const s of state()) this.set({ container: s.container }, s.enabled ? 1 : 0)
    },
  })
  new Gauge({
    name: `${p}sso_probe_success`,
    help: "Whether the last SSO login probe through a connector passed (1): Dex redirected to the provider's live authorization endpoint and the provider answered; 0 when it failed.",
    labelNames: ['container', 'connector'] as const,
    registers,
    collect() {
      this.reset()
      for (const s of state()) {
        for (const r of s.results) {
          this.set({ container: s.container, connector: r.connectorId }, r.ok ? 1 : 0)
        }
      }
    },
  })
  new Gauge({
    name: `${p}sso_probe_duration_seconds`,
    help: "How long the last SSO login probe through a connector took (Dex, the provider's discovery and login page), in seconds.",
    labelNames: ['container', 'connector'] as const,
    registers,
    collect() {
      this.reset()
      for (const s of state()) {
        for (const r of s.results) {
          this.set({ container: s.container, connector: r.connectorId }, r.ms / 1000)
        }
      }
    },
  })
  const failures = new Counter({
    name: `${p}sso_probe_failures_total`,
    help: 'Failed SSO login probes, by connector and reason (connector_failed, login_error, redirect_mismatch, probe_client_unknown, probe_redirect_unregistered, netbird_unreachable, netbird_error, store_unavailable, provider_unreachable, provider_error).',
    labelNames: ['container', 'connector', 'reason'] as const,
    registers,
  })
  const known = new Set<string>()
  return {
    round(container, results) {
      for (const r of results) {
        const key = `${container}\u0000${r.connectorId}`
        if (!known.has(key)) {
          known.add(key)
          for (const reason of probeFailureReasons) {
            failures.inc({ container, connector: r.connectorId, reason }, 0)
          }
        }
        if (!r.ok) failures.inc({ container, connector: r.connectorId, reason: r.reason })
      }
    },
  }
}
