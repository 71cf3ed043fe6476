// Did a repair hold? (what the engine shows of the target, the failures it logged, since the repair
// was committed) -> recovered, worse (with the evidence), interrupted (why), or keep waiting. Pure: the
// healer (heal/confirm.ts) gathers the facts on a poll and acts on the verdict.
//
// A rollback needs evidence that the repair made things worse, from a run that started after the fix:
// a failure finding it logged, a crash (it exited by itself with an error status), or a store that
// fails its check. A death somebody caused is not evidence — SIGKILL/SIGTERM (exit 137/143/130, or a
// `kill` event during the run: `docker stop`, `docker kill`, an engine shutdown for an upgrade or a
// reboot), an OOM kill, a clean exit — nor is an unreachable engine or a container that was removed.
// Those end the confirmation `interrupted`; the healer resumes it when the engine and the container
// are back (docs/self-healing.md).

/**
 * Findings that say the identity provider still (or newly) fails: any fatal line (the process is
 * exiting), and the rules of the startup path a repair can make worse — an issuer mismatch, a connector
 * that cannot open, the IdP's storage or the embedded IdP itself failing. Not the login-time rules
 * (users failing to log in says nothing about the repair) nor ERRO-level failures of other subsystems
 * (a TLS or geolocation error logged while the server stays up).
 */
export const idpFailureRules: ReadonlySet<string> = new Set([
  'oidc-issuer-mismatch',
  'connector-open-failed',
  'idp-storage-failed',
  'embedded-idp-failed',
])

export function isIdpFailure(finding: { readonly rule: string; readonly fatal: boolean }): boolean {
  return finding.fatal || idpFailureRules.has(finding.rule)
}

/** Exit statuses of a process ended by SIGINT, SIGKILL, SIGTERM (128 + signal number). */
export const signalExitCodes: ReadonlySet<number> = new Set([130, 137, 143])

/** The target as one inspect shows it; times in ms since the epoch (NaN when unset). */
export type TargetView =
  | { readonly kind: 'engine-unreachable' }
  | { readonly kind: 'missing' }
  | {
      readonly kind: 'container'
      readonly status: string
      readonly startedAt: number
      readonly finishedAt: number
      readonly exitCode: number
      readonly oomKilled: boolean
    }

export interface RecoveryFacts {
  /** When the repair was committed: only runs that started at or after it count. */
  readonly committedAt: number
  readonly now: number
  /** How long a fresh run must stay up. */
  readonly confirmMs: number
  readonly view: TargetView
  /** Failure findings received, with the engine time of their line. */
  readonly failures: ReadonlyArray<{ readonly at: number; readonly what: string }>
  /** Engine times of `kill` events of the target (a signal sent by the engine, the operator). */
  readonly kills: readonly number[]
}

/**
 * What a rollback rests on, named in its log line and in rollbacks_total's `evidence` label: the SSO
 * login probe (a connector that passed before the repair fails now), the log (a failure a run after
 * the repair logged), a crash (it exited by itself with an error), the store (it fails its check).
 */
export const evidenceKinds = ['probe', 'log', 'crash', 'store'] as const
export type EvidenceKind = (typeof evidenceKinds)[number]

export type RecoveryVerdict =
  /** Up for confirmMs with no failure: still to be checked against the store before calling it good. */
  | { readonly kind: 'stayed-up' }
  | { readonly kind: 'worse'; readonly evidence: string; readonly evidenceKind: EvidenceKind }
  | { readonly kind: 'interrupted'; readonly why: string }
  | { readonly kind: 'waiting' }

export function judgeRecovery(f: RecoveryFacts): RecoveryVerdict {
  const v = f.view
  if (v.kind === 'engine-unreachable') {
    return { kind: 'interrupted', why: 'the Docker engine went away during the confirm window' }
  }
  if (v.kind === 'missing') return { kind: 'interrupted', why: 'the container was removed' }
  // A run that started before the commit may have read the old rows: only later runs count.
  const fresh = Number.isFinite(v.startedAt) && v.startedAt >= f.committedAt
  if (!fresh) {
    if (v.status === 'running' || v.status === 'restarting') return { kind: 'waiting' }
    return { kind: 'interrupted', why: `the container is ${v.status} and was not started again` }
  }
  const failed = f.failures.find((x) => x.at >= v.startedAt)
  if (failed !== undefined) {
    return { kind: 'worse', evidence: `${failed.what} after the restart`, evidenceKind: 'log' }
  }
  const died =
    v.status !== 'running' && Number.isFinite(v.finishedAt) && v.finishedAt >= v.startedAt
  if (died) {
    const killed = f.kills.some((at) => at >= v.startedAt && at <= v.finishedAt + 1000)
    if (v.oomKilled)
      return { kind: 'interrupted', why: 'the container was killed for running out of memory' }
    if (killed || signalExitCodes.has(v.exitCode)) {
      return {
        kind: 'interrupted',
        why: `the container was stopped by a signal (exit code ${v.exitCode}: docker stop/kill or an engine shutdown)`,
      }
    }
    if (v.exitCode === 0)
      return { kind: 'interrupted', why: 'the container exited cleanly (exit code 0)' }
    return {
      kind: 'worse',
      evidence: `the container crashed again (exit code ${v.exitCode})`,
      evidenceKind: 'crash',
    }
  }
  if (v.status === 'running' && f.now - v.startedAt >= f.confirmMs) return { kind: 'stayed-up' }
  return { kind: 'waiting' }
}
