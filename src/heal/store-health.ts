// The IdP store as self-healing uses it, watched: every call that reaches the store (whatever it
// answers) reports "up", every call that cannot reach it (errors.ts isStoreUnreachable) reports "down". The
// composition root turns that into netbird_watchdog_idp_store_up; nothing else changes — results and
// errors pass through untouched.
import type { IdpStore } from '../store/port.js'
import { isStoreUnreachable } from '../errors.js'

export function observeStore(store: IdpStore, report: (up: boolean) => void): IdpStore {
  const watch = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call()
      report(true)
      return result
    } catch (err) {
      report(!isStoreUnreachable(err))
      throw err
    }
  }
  return {
    // Read through: a store found again after NetBird's config changed (store/located.ts) has a new
    // engine, label and identity.
    get engine() {
      return store.engine
    },
    get label() {
      return store.label
    },
    get identity() {
      return store.identity
    },
    identify: () => store.identify(),
    readConnectors: () => watch(() => store.readConnectors()),
    check: () => watch(() => store.check()),
    backup: (request) => watch(() => store.backup(request)),
    verifyBackup: (info) => store.verifyBackup(info),
    restore: (info, request) => watch(() => store.restore(info, request)),
    transaction: (fn) => watch(() => store.transaction(fn)),
    close: () => store.close(),
  }
}
