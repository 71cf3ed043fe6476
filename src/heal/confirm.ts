// Confirming a repair: poll the target through the Docker port until core/recovery.ts gives a verdict —
// a fresh run stayed up for the confirm window (and the store then passes its check), the repair made
// things worse (evidence), or the confirmation was cut short (interrupted: the healer keeps it pending
// and resumes it when the engine and the container are back).
import { judgeRecovery, type EvidenceKind, type TargetView } from '../core/recovery.js'
import type { ContainerDetails, DockerPort } from '../docker/engine.js'
import { delay } from '../delay.js'
import { errorMessage, isDamagedStore } from '../errors.js'
import type { IdpStore } from '../store/port.js'
import type { Evidence } from './target.js'

export type ConfirmVerdict =
  | { readonly kind: 'recovered' }
  | { readonly kind: 'worse'; readonly evidence: string; readonly evidenceKind: EvidenceKind }
  | { readonly kind: 'interrupted'; readonly why: string; readonly shutdown?: boolean }

export interface ConfirmOptions {
  readonly docker: DockerPort
  /** By name: a container recreated by compose keeps its name, not its id. */
  readonly container: string
  readonly store: IdpStore
  readonly committedAt: number
  readonly confirmMs: number
  /** How long a (re)started container may take to come up before the confirmation gives up. */
  readonly startTimeoutMs: number
  readonly pollMs: number
  /** Read on every poll: the healer's listeners keep appending to it. */
  readonly evidence: () => Evidence
  readonly now: () => number
  /** Aborted on shutdown: the confirmation ends `interrupted` at once. */
  readonly signal: AbortSignal
}

export async function confirmRecovery(o: ConfirmOptions): Promise<ConfirmVerdict> {
  const deadline = o.now() + o.confirmMs + o.startTimeoutMs
  /** Why the store's check gave no answer the last time it was asked (locked, unreachable…), and since when. */
  let unchecked: { why: string; since: number } | undefined
  for (;;) {
    const view = await viewTarget(o.docker, o.container, o.signal)
    const evidence = o.evidence()
    const verdict = judgeRecovery({
      committedAt: o.committedAt,
      now: o.now(),
      confirmMs: o.confirmMs,
      view,
      failures: evidence.failures,
      kills: evidence.kills,
    })
    switch (verdict.kind) {
      case 'worse':
      case 'interrupted':
        return verdict
      case 'stayed-up': {
        const health = await checkStore(o.store)
        if (health.kind === 'ok') return { kind: 'recovered' }
        if (health.kind === 'failed') {
          return {
            kind: 'worse',
            evidence: `the IdP store fails its check: ${health.problem}`,
            evidenceKind: 'store',
          }
        }
        // No answer (locked by another process, busy, a PostgreSQL server restarting) says nothing
        // about the repair: asked again on the next poll for another confirm window, then the repair
        // stays, unconfirmed.
        unchecked = { why: health.why, since: unchecked?.since ?? o.now() }
        if (o.now() - unchecked.since >= o.confirmMs) {
          return {
            kind: 'interrupted',
            why: `the container stayed up, but the IdP store gave no answer to its check for ${Math.round(o.confirmMs / 1000)}s (${health.why})`,
          }
        }
        break
      }
      case 'waiting':
        break
    }
    if (o.signal.aborted) {
      return {
        kind: 'interrupted',
        why: 'shutting down during the confirm window with no failure seen',
        shutdown: true,
      }
    }
    if (o.now() >= deadline) {
      return {
        kind: 'interrupted',
        why:
          unchecked !== undefined
            ? `the container stayed up, but the IdP store gave no answer to its check in time (${unchecked.why})`
            : 'the container did not come back up and stay up in time',
      }
    }
    await delay(o.pollMs, o.signal)
  }
}

/**
 * The store's check after a repair: `ok`; `failed` (it answered with a problem, or it is damaged: the
 * only evidence a store gives against a repair); or `unanswered` (locked, busy, unreachable, timing
 * out — never evidence).
 */
export async function checkStore(
  store: IdpStore,
): Promise<
  | { readonly kind: 'ok' }
  | { readonly kind: 'failed'; readonly problem: string }
  | { readonly kind: 'unanswered'; readonly why: string }
> {
  try {
    const health = await store.check()
    return health === 'ok' ? { kind: 'ok' } : { kind: 'failed', problem: health }
  } catch (err) {
    if (isDamagedStore(err)) return { kind: 'failed', problem: errorMessage(err) }
    return { kind: 'unanswered', why: errorMessage(err) }
  }
}

/** One inspect, as core/recovery.ts sees it. Any engine failure is "unreachable": never evidence. */
export async function viewTarget(
  docker: DockerPort,
  container: string,
  signal?: AbortSignal,
): Promise<TargetView & { details?: ContainerDetails }> {
  let d: ContainerDetails | undefined
  try {
    d = await docker.inspect(container, signal)
  } catch {
    return { kind: 'engine-unreachable' }
  }
  if (d === undefined) return { kind: 'missing' }
  return {
    kind: 'container',
    status: d.state.status,
    startedAt: engineTime(d.state.startedAt),
    finishedAt: engineTime(d.state.finishedAt),
    exitCode: d.state.exitCode,
    oomKilled: d.state.oomKilled,
    details: d,
  }
}

/** Docker's "never" timestamp (0001-01-01T00:00:00Z) and unparsable values become NaN. */
function engineTime(text: string): number {
  const ms = Date.parse(text)
  return Number.isFinite(ms) && ms > 0 ? ms : Number.NaN
}
