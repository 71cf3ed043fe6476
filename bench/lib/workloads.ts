// Container workloads for the benches and soak, as busybox shell scripts (tiny image, no build):
// a NetBird-like log flood paced by /proc/uptime, ending in NetBird's exact fatal line and exit 1,
// so that under `--restart unless-stopped` it becomes a restart loop with a steady line rate.
import { rules } from '../../src/core/rules.js'

/** NetBird v0.62–v0.65.1's fatal line for the JumpCloud trailing-slash issuer (rules.ts example). */
export const fatalLine = rules.find((r) => r.id === 'oidc-issuer-mismatch')!.examples[0]!
/** The v0.65.2+ ERRO form of a connector failure (management stays up): a non-fatal finding. */
export const erroLine = rules.find((r) => r.id === 'connector-open-failed')!.examples[1]!

const benignLines = [
  '2026-01-19T08:39:01Z INFO management/server/peer.go:412: peer 5f1b2c3d4e login succeeded',
  '2026-01-19T08:39:01Z DEBG management/server/grpcserver.go:301: sync request from peer 5f1b2c3d4e',
  '2026-01-19T08:39:02Z INFO management/server/account.go:1322: account 0c1d2e3f peers updated in 2.1ms',
  '2026-01-19T08:39:02Z INFO idp/dex/logrus_handler.go:79: keys rotated, next rotation in 6h0m0s',
]

export interface FloodOptions {
  /** Lines per second (paced against /proc/uptime, so the average holds). */
  linesPerSecond: number
  /** Seconds of flooding before the fatal line and exit 1 (0: never exit). */
  upSeconds: number
  /** Every Nth line is the ERRO connector line (a finding without a crash); 0 disables. */
  erroEvery?: number
}

/** Command and env for a busybox container running the flood. */
export function floodWorkload(o: FloodOptions): { cmd: string[]; env: Record<string, string> } {
  const script = `
t0=; sent=0
while :; do
  read up rest < /proc/uptime
  cs=\${up%.*}\${up#*.}
  [ -z "$t0" ] && t0=$cs
  el=$((cs - t0))
  if [ "$UP_CS" -gt 0 ] && [ $el -ge "$UP_CS" ]; then echo "$FATAL"; exit 1; fi
  due=$((el * RATE / 100))
  while [ $sent -lt $due ]; do
    sent=$((sent + 1))
    if [ "$ERRO_EVERY" -gt 0 ] && [ $((sent % ERRO_EVERY)) -eq 0 ]; then
      echo "$ERRO"
    else
      case $((sent % 4)) in
        0) echo "$B0 $sent";; 1) echo "$B1 $sent";; 2) echo "$B2 $sent";; *) echo "$B3 $sent";;
      esac
    fi
  done
  sleep 0.05
done`
  return {
    cmd: ['sh', '-c', script],
    env: {
      RATE: String(o.linesPerSecond),
      UP_CS: String(Math.round(o.upSeconds * 100)),
      ERRO_EVERY: String(o.erroEvery ?? 0),
      FATAL: fatalLine,
      ERRO: erroLine,
      B0: benignLines[0]!,
      B1: benignLines[1]!,
      B2: benignLines[2]!,
      B3: benignLines[3]!,
    },
  }
}

/** Prints NetBird's fatal line at once and exits 1: one crash per start. */
export function crashWorkload(): { cmd: string[]; env: Record<string, string> } {
  return { cmd: ['sh', '-c', 'echo "$FATAL"; exit 1'], env: { FATAL: fatalLine } }
}

/** Idles (a healthy NetBird that logs nothing for a while). */
export function idleWorkload(): { cmd: string[]; env: Record<string, string> } {
  return { cmd: ['sh', '-c', 'echo "$B0"; exec sleep 86400'], env: { B0: benignLines[0]! } }
}
