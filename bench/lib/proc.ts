// Reads a process's resident memory, CPU time and open file descriptors from /proc (Linux), the
// same numbers `ps` and `top` show, without spawning anything per sample.
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

let clockTicks: number | undefined

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every Linux we run on, but ask). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

export interface ProcSample {
  /** Milliseconds since the epoch when the sample was taken. */
  at: number
  rssBytes: number
  /** User + system CPU time consumed so far, in seconds. */
  cpuSeconds: number
  fds: number
}

export function sampleProcess(pid: number): ProcSample {
  const at = Date.now()
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name (which may contain spaces): utime is the 14th
  // field of the whole line, stime the 15th (proc(5)).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  let fds: number
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length
  } catch {
    fds = -1 // not readable (another user's process)
  }
  return {
    at,
    rssBytes: Number(rssKb ?? 0) * 1024,
    cpuSeconds: (utime + stime) / ticksPerSecond(),
    fds,
  }
}

/**
 * CPU time (user + system, seconds) of this process's children that have ended and been waited for
 * (cutime + cstime of /proc/self/stat): the difference around a spawnSync is that child's CPU time,
 * which a busy machine inflates far less than its wall time.
 */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[13]) + Number(rest[14])) / ticksPerSecond()
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** CPU used between two samples as a percentage of one core. */
export function cpuPercent(from: ProcSample, to: ProcSample): number {
  const wall = (to.at - from.at) / 1000
  return wall > 0 ? ((to.cpuSeconds - from.cpuSeconds) / wall) * 100 : 0
}

export const mb = (bytes: number): number => bytes / 1e6

/** Samples a process every `intervalMs` until stopped; keeps every sample. */
export class ProcSampler {
  readonly samples: ProcSample[] = []
  #timer: NodeJS.Timeout | undefined
  constructor(
    readonly pid: number,
    readonly intervalMs = 1000,
  ) {}

  start(): this {
    this.samples.push(sampleProcess(this.pid))
    this.#timer = setInterval(() => {
      if (isAlive(this.pid)) this.samples.push(sampleProcess(this.pid))
    }, this.intervalMs)
    return this
  }

  stop(): ProcSample[] {
    if (this.#timer) clearInterval(this.#timer)
    if (isAlive(this.pid)) this.samples.push(sampleProcess(this.pid))
    return this.samples
  }
}

/** One thread's scheduler account (/proc/PID/task/TID/schedstat and comm). */
export interface ThreadAccount {
  tid: string
  name: string
  /** Time on a CPU so far, nanoseconds. */
  cpuNs: number
  /** Times it was scheduled onto a CPU so far: its wake-ups, near enough, for a sleeping thread. */
  runs: number
}

/** Every thread's account of a process now (threads that end between reads are left out). */
export function threadAccounts(pid: number): ThreadAccount[] {
  const out: ThreadAccount[] = []
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [cpuNs, , runs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
        .trim()
        .split(' ')
        .map(Number)
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
      out.push({ tid, name, cpuNs: cpuNs ?? 0, runs: runs ?? 0 })
    } catch {
      // the thread ended
    }
  }
  return out
}

/** What each thread used between two accounts, by thread name (threads of one name summed). */
export function threadUse(
  from: readonly ThreadAccount[],
  to: readonly ThreadAccount[],
): { name: string; cpuMs: number; runs: number }[] {
  const before = new Map(from.map((t) => [t.tid, t]))
  const byName = new Map<string, { name: string; cpuMs: number; runs: number }>()
  for (const t of to) {
    const b = before.get(t.tid)
    const row = byName.get(t.name) ?? { name: t.name, cpuMs: 0, runs: 0 }
    row.cpuMs += (t.cpuNs - (b?.cpuNs ?? 0)) / 1e6
    row.runs += t.runs - (b?.runs ?? 0)
    byName.set(t.name, row)
  }
  return [...byName.values()].sort((a, b) => b.cpuMs - a.cpuMs)
}
