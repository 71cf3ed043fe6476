// What the healer needs from the rest of the daemon, as narrow structural interfaces: the composition
// root adapts the Docker engine adapter, the watcher's event emitter and the OIDC discovery probe to
// these, and tests can hand in the real ones.
import type { Finding } from '../core/detect.js'
import type { TargetStatus } from '../core/heal-decision.js'

export interface TargetSnapshot {
  readonly id: string
  readonly name: string
  readonly status: TargetStatus
  /** State.StartedAt / FinishedAt of the current (or last) run, ms since the epoch; NaN when unset. */
  readonly startedAt: number
  readonly finishedAt: number
}

export interface HealDocker {
  /** undefined when no such container exists. */
  inspect(idOrName: string): Promise<TargetSnapshot | undefined>
  restart(id: string, opts: { timeoutSeconds: number }): Promise<void>
}

export interface FindingEvent {
  readonly container: string
  readonly containerId: string
  readonly finding: Finding
  /** When the engine received the line (ms since epoch), if the log stream carried timestamps. */
  readonly loggedAtMs?: number
}

export interface ContainerEvent {
  readonly container: string
  readonly containerId: string
}

/** The watcher's events the healer listens to. */
export interface HealEvents {
  onFinding(listener: (e: FindingEvent) => void): () => void
  onDied(listener: (e: ContainerEvent) => void): () => void
  onStarted(listener: (e: ContainerEvent) => void): () => void
}

/** OIDC discovery with go-oidc semantics: the raw `issuer` string of the document, never normalised. */
export type Discover = (
  issuer: string,
) => Promise<
  { ok: true; issuer: string } | { ok: false; reason: string; message: string; status?: number }
>
