// The watcher's typed events: what it has seen of the targets and the engine, for the daemon's other
// components (the healer subscribes here) and for tests, which await events instead of sleeping.
import type { Finding } from '../core/detect.js'
import type { ProbeResult } from '../core/sso-probe.js'

// Times (`at`) are the engine's, in ms since the epoch: the one representation of an event's time,
// from the moment its log line or engine event is parsed.
export interface WatchdogEventMap {
  /** A log line of a target matched a rule; `at` when the log stream carried timestamps. */
  finding: { container: string; containerId: string; finding: Finding; at?: number }
  /** A target died (`die` event); exitCode is the engine's `exitCode` attribute. */
  died: { container: string; containerId: string; exitCode: number; at: number }
  /** A target started (every start, including the first one of a new container). */
  started: { container: string; containerId: string; at: number }
  /** A counted restart (a start after an earlier start of the same container). */
  restarted: { container: string; containerId: string; source: 'event' | 'inspect' }
  /** The restart-loop state of a target changed. */
  loop: { container: string; active: boolean }
  /** The engine became reachable (up) or went away. */
  docker: { up: boolean }
  /** A container became a target (found at start, created, renamed, started late). */
  target: { container: string; containerId: string }
  /** A container state event of a target (oom, kill, stop, health_status, destroy…). */
  container: { container: string; containerId: string; action: string; at: number }
  /**
   * The SSO login probe (heal/sso-monitor.ts) failed for a connector in a way that warrants a
   * diagnosis (core/sso-probe.ts repairTriggers): the healer takes it like a log finding.
   */
  'sso-failure': { container: string; failure: Extract<ProbeResult, { ok: false }> }
}

export type WatchdogEventName = keyof WatchdogEventMap

type Listener<K extends WatchdogEventName> = (payload: WatchdogEventMap[K]) => void

/**
 * A tiny typed emitter. `on` returns the unsubscribe function. A listener that throws is reported to
 * `onListenerError` and never breaks the emitter or the other listeners.
 */
export class WatchdogEvents {
  readonly #listeners = new Map<WatchdogEventName, Set<(payload: never) => void>>()
  readonly #onListenerError: (err: unknown, event: WatchdogEventName) => void

  constructor(onListenerError: (err: unknown, event: WatchdogEventName) => void = () => undefined) {
    this.#onListenerError = onListenerError
  }

  on<K extends WatchdogEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event)
    if (!set) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
    }
  }

  /** Resolves with the first payload for which `pred` holds (tests and one-shot waits). */
  once<K extends WatchdogEventName>(
    event: K,
    pred: (payload: WatchdogEventMap[K]) => boolean = () => true,
    signal?: AbortSignal,
  ): Promise<WatchdogEventMap[K]> {
    return new Promise((resolve, reject) => {
      const off = this.on(event, (p) => {
        if (!pred(p)) return
        off()
        resolve(p)
      })
      signal?.addEventListener(
        'abort',
        () => {
          off()
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
        },
        { once: true },
      )
    })
  }

  emit<K extends WatchdogEventName>(event: K, payload: WatchdogEventMap[K]): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      try {
        ;(listener as Listener<K>)(payload)
      } catch (err) {
        this.#onListenerError(err, event)
      }
    }
  }
}
