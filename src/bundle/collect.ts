// What the support bundle gathers through the Docker engine and the backup directory: the NetBird
// container and its neighbours with their image tags, the findings of its recent log (each with its
// line, for the reader), and the watchdog's heal history as its backup manifests record it. Every
// piece is plain data; redaction happens once, when the archive is assembled (commands/bundle.ts).
import type { Readable } from 'node:stream'
import { detectLine, maxLineLength, type Finding } from '../core/detect.js'
import { composeServiceLabel } from '../core/targets.js'
import type { ContainerDetails, DockerPort } from '../docker/engine.js'
import { FrameDemuxer } from '../docker/log-stream.js'
import { engineOf, listBackups } from '../store/backup-files.js'

export interface ContainerVersion {
  readonly name: string
  readonly image: string
  readonly status: string
  readonly startedAt?: string
  readonly restartCount?: number
}

const composeProjectLabel = 'com.docker.compose.project'

/**
 * The target and the containers of its compose project (dashboard, signal, relay, proxy…), each with
 * the image it runs: the NetBird versions an issue needs.
 */
export async function containerVersions(
  docker: DockerPort,
  target: ContainerDetails,
  signal?: AbortSignal,
): Promise<ContainerVersion[]> {
  const of = (d: ContainerDetails): ContainerVersion => ({
    name: d.name,
    image: d.image,
    status: d.state.status,
    startedAt: d.state.startedAt,
    restartCount: d.restartCount,
  })
  const out = [of(target)]
  const project = target.labels[composeProjectLabel]
  if (project === undefined) return out
  for (const c of await docker.list(signal)) {
    if (c.id === target.id || c.labels[composeProjectLabel] !== project) continue
    const d = await docker.inspect(c.id, signal)
    if (d !== undefined) out.push(of(d))
  }
  return out.sort((a, b) =>
    a.name === target.name ? -1 : b.name === target.name ? 1 : a.name.localeCompare(b.name),
  )
}

/** The compose service of a container, when compose made it. */
export function composeService(d: ContainerDetails): string | undefined {
  return d.labels[composeServiceLabel]
}

export interface LoggedFinding extends Finding {
  /** The engine's time of the line (RFC3339Nano), from `docker logs --timestamps`. */
  readonly time?: string
  readonly stream: 'stdout' | 'stderr'
  /** The line as logged (cut at 4 KiB); not yet redacted. */
  readonly text: string
}

export interface LogScan {
  readonly lines: number
  /** Findings per rule, all of them. */
  readonly byRule: Readonly<Record<string, number>>
  /** The findings with their lines: the first 500 of the log (all of them are counted in `byRule`). */
  readonly findings: readonly LoggedFinding[]
  /** True when there were more findings than were kept. */
  readonly cut: boolean
  /** From NetBird's `management server version X` line, when the log has one. */
  readonly netbirdVersion?: string
}

const keepFindings = 500
const keepLineBytes = 4096
const versionLine = /management server version (v?\d+\.\d+\.\d+\S*)/
const engineTimestamp = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) /

/**
 * Classify every line the container logged since `sinceNs` (stdout and stderr, with the engine's
 * timestamps), in constant memory but for the findings kept.
 */
export async function scanContainerLog(
  docker: DockerPort,
  target: ContainerDetails,
  sinceNs: bigint,
  signal?: AbortSignal,
): Promise<LogScan> {
  const stream: Readable = await docker.logs(target.id, {
    sinceNs,
    follow: false,
    ...(signal !== undefined ? { signal } : {}),
  })
  let lines = 0
  const byRule: Record<string, number> = {}
  const findings: LoggedFinding[] = []
  let cut = false
  let netbirdVersion: string | undefined
  const onLine = (raw: string, which: 'stdout' | 'stderr'): void => {
    lines++
    const version = versionLine.exec(raw)?.[1]
    if (version !== undefined) netbirdVersion = version
    const f = detectLine(raw, lines)
    if (f === undefined) return
    byRule[f.rule] = (byRule[f.rule] ?? 0) + 1
    if (findings.length >= keepFindings) {
      cut = true
      return
    }
    const time = engineTimestamp.exec(raw)?.[1]
    const text = Buffer.byteLength(raw) > keepLineBytes ? `${raw.slice(0, keepLineBytes)}…` : raw
    findings.push({ ...f, ...(time !== undefined ? { time } : {}), stream: which, text })
  }
  const splitters = {
    stdout: lineSplitter((l) => onLine(l, 'stdout')),
    stderr: lineSplitter((l) => onLine(l, 'stderr')),
  }
  const demux = new FrameDemuxer((which, payload) =>
    (which === 2 ? splitters.stderr : splitters.stdout).push(payload),
  )
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (target.tty) splitters.stdout.push(chunk)
      else demux.push(chunk)
    }
  } finally {
    stream.destroy()
  }
  splitters.stdout.end()
  splitters.stderr.end()
  findings.sort((a, b) => (a.time ?? '').localeCompare(b.time ?? '') || a.line - b.line)
  return {
    lines,
    byRule,
    findings,
    cut,
    ...(netbirdVersion !== undefined ? { netbirdVersion } : {}),
  }
}

/** Splits bytes into lines; a line longer than the detector looks at is cut, its rest skipped. */
function lineSplitter(onLine: (line: string) => void): { push(b: Buffer): void; end(): void } {
  let carry: Buffer[] = []
  let carried = 0
  let skipping = false
  const flush = (): void => {
    onLine(Buffer.concat(carry).toString('utf8').replace(/\r$/, ''))
    carry = []
    carried = 0
  }
  return {
    push(b: Buffer): void {
      let pos = 0
      while (pos < b.length) {
        const nl = b.indexOf(0x0a, pos)
        const end = nl === -1 ? b.length : nl
        if (!skipping) {
          const room = maxLineLength - carried
          const piece = b.subarray(pos, Math.min(end, pos + room))
          carry.push(piece)
          carried += piece.length
          if (end - pos > room) skipping = true
        }
        if (nl === -1) return
        flush()
        skipping = false
        pos = nl + 1
      }
    },
    end(): void {
      if (carried > 0) flush()
    },
  }
}

export interface HealEvent {
  readonly at: string
  /** Why the watchdog took the backup: pre-repair, pre-rollback, pre-restore. */
  readonly reason: string
  readonly backup: string
  readonly engine: string
  /** The store backed up: its path, or `host:port/dbname` (never a DSN). */
  readonly store: string
  readonly connectors: readonly string[]
}

export interface HealHistory {
  readonly dir: string
  /** Backups taken before the watchdog changed a store, newest first (at most 100). */
  readonly events: readonly HealEvent[]
  /** Every backup in the directory by reason (manual, scheduled, pre-repair…). */
  readonly backupsByReason: Readonly<Record<string, number>>
}

const healReasons = new Set(['pre-repair', 'pre-rollback', 'pre-restore'])

/**
 * The watchdog's heal history as its backup manifests record it: the daemon and the CLI take a
 * verified backup before every repair (pre-repair), rollback (pre-rollback) and restore
 * (pre-restore), and the manifest says when, of which store, and which connectors it held.
 */
export function healHistory(dir: string, sinceMs: number): HealHistory {
  const all = listBackups(dir)
  const backupsByReason: Record<string, number> = {}
  for (const b of all) {
    backupsByReason[b.manifest.reason] = (backupsByReason[b.manifest.reason] ?? 0) + 1
  }
  const events = all
    .filter(
      (b) => healReasons.has(b.manifest.reason) && Date.parse(b.manifest.createdAt) >= sinceMs,
    )
    .slice(0, 100)
    .map((b) => ({
      at: b.manifest.createdAt,
      reason: b.manifest.reason,
      backup: b.id,
      engine: engineOf(b.manifest),
      store: b.manifest.source,
      connectors: b.manifest.connectors,
    }))
  return { dir, events, backupsByReason }
}
