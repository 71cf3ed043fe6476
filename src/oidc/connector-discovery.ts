// Live discovery of every OIDC connector, gathered the one way the issuer policy (core/issuer-policy.ts)
// needs it: at the stored issuer, and — when the provider answers another valid issuer — once more at
// that value. One request per discovery URL however many connectors share it; all concurrently.
// Used by `repair --discover`, the self-healing flow, the drift job and `doctor`.
import type { ConnectorRow } from '../core/connectors.js'
import {
  discoveryTargets,
  judgeIssuer,
  needsSecondLook,
  type DiscoveryAnswer,
  type IssuerVerdict,
  type PolicyOptions,
} from '../core/issuer-policy.js'
import { discoveryUrl } from '../core/issuer.js'

/** One connector's discovery with the full answers (doctor reads the documents), and its verdict. */
export interface ConnectorLook<R extends DiscoveryAnswer> {
  readonly connectorId: string
  readonly stored: string
  readonly first: R
  readonly second?: R
  readonly verdict: IssuerVerdict
}

export interface ConnectorsDiscovered<R extends DiscoveryAnswer> {
  /** Every verdict, skipped connectors first, in row order. */
  readonly verdicts: readonly IssuerVerdict[]
  /** The connectors that were asked, with their answers. */
  readonly looks: readonly ConnectorLook<R>[]
}

export async function discoverConnectors<R extends DiscoveryAnswer>(
  rows: readonly ConnectorRow[],
  discover: (issuer: string) => Promise<R>,
  opts: PolicyOptions,
): Promise<ConnectorsDiscovered<R>> {
  const cache = new Map<string, Promise<R>>()
  const ask = (issuer: string): Promise<R> => {
    const key = discoveryUrl(issuer)
    let p = cache.get(key)
    if (p === undefined) {
      p = discover(issuer)
      cache.set(key, p)
    }
    return p
  }
  const targets = discoveryTargets(rows)
  const looks = await Promise.all(
    targets.flatMap((t) =>
      'kind' in t
        ? []
        : [
            (async (): Promise<ConnectorLook<R>> => {
              const first = await ask(t.stored)
              const second =
                first.ok && needsSecondLook(t.stored, first, opts)
                  ? await ask(first.issuer)
                  : undefined
              const d = { ...t, first, ...(second !== undefined ? { second } : {}) }
              return { ...d, verdict: judgeIssuer(d, opts) }
            })(),
          ],
    ),
  )
  const verdicts = targets.map((t) =>
    'kind' in t ? t : looks.find((l) => l.connectorId === t.connectorId)!.verdict,
  )
  return { verdicts, looks }
}
