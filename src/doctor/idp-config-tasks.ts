// The embedded IdP's own configuration, as doctor checks it (docs/rules.md, "doctor checks"): the
// settings in each NetBird file that configures it (the auth store engine and its DSN or file, the
// session cookie key, local login off without another connector), which config file NetBird reads
// (config.yaml.enterprise beside config.yaml), and which store NetBird uses — an idp.db left behind
// after a move to PostgreSQL is stale. Gathers the facts; the pure checks are
// core/checks/idp-config-checks.ts.
import { existsSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { CheckResult } from '../core/checks/check.js'
import {
  cookieKeyEnv,
  evaluateConfigFileInUse,
  evaluateCookieKey,
  evaluateIdpStorage,
  evaluateLocalAuth,
  evaluateStoreInUse,
  type ConfigFileFacts,
  type StoreInUseFacts,
} from '../core/checks/idp-config-checks.js'
import type { ConnectorRow } from '../core/connectors.js'
import {
  managementSqliteFile,
  readCombinedConfig,
  type CombinedConfig,
  type ManagementJson,
} from '../netbird/config-files.js'
import type { IdpStore } from '../store/port.js'
import { SqliteStore } from '../store/sqlite/store.js'
import type { TaskSpec } from './task.js'

/** Every idp-config check that applies to what NetBird's files say. */
export async function addIdpConfigTasks(
  tasks: TaskSpec[],
  i: {
    readonly store?: IdpStore
    readonly dbPath?: string
    readonly management: ManagementJson | undefined
    readonly combined: CombinedConfig | undefined
    readonly rows: ConnectorRow[] | undefined
    readonly env: Readonly<Record<string, string | undefined>>
  },
): Promise<void> {
  addSettingTasks(tasks, i.management, i.combined, i.rows, i.env)
  const single = (id: TaskSpec['id'], result: CheckResult | undefined): void => {
    if (result !== undefined) {
      tasks.push({ id, area: 'idp-config', target: result.target, run: () => [result] })
    }
  }
  if (i.combined !== undefined) {
    single('config-file-in-use', evaluateConfigFileInUse(configFileFacts(i.combined)))
  }
  const storeInUse = await storeInUseFacts(i, i.management, i.combined, i.rows)
  if (storeInUse !== undefined) single('store-in-use', evaluateStoreInUse(storeInUse))
}

/**
 * config.yaml.enterprise beside the config.yaml doctor was given (migrate-to-enterprise.sh writes it
 * next to the compose file, where the quickstart keeps config.yaml), and the engine each one sets.
 */
function configFileFacts(combined: CombinedConfig): ConfigFileFacts {
  const engine = combined.idpStorage.engine
  if (basename(combined.path).endsWith('.enterprise'))
    return { path: combined.path, engine, enterprise: undefined }
  const candidate = join(dirname(combined.path), 'config.yaml.enterprise')
  if (!existsSync(candidate)) return { path: combined.path, engine, enterprise: undefined }
  let other: string
  try {
    other = readCombinedConfig(candidate).idpStorage.engine
  } catch {
    other = engine // unreadable: named all the same, without a comparison
  }
  return { path: combined.path, engine, enterprise: { path: candidate, engine: other } }
}

/**
 * What the store-in-use check compares: the store NetBird's config makes it use (config.yaml first,
 * as store/open.ts reads them), the one doctor read, and an idp.db found here while NetBird uses
 * PostgreSQL (the path NetBird's config gives it, or the watchdog's idp.dbPath), read for its
 * connector ids. Undefined when NetBird's config names no engine it accepts.
 */
async function storeInUseFacts(
  inputs: { readonly store?: IdpStore; readonly dbPath?: string },
  management: ManagementJson | undefined,
  combined: CombinedConfig | undefined,
  rows: ConnectorRow[] | undefined,
): Promise<StoreInUseFacts | undefined> {
  const e = management?.embedded
  const named =
    combined !== undefined
      ? {
          path: combined.path,
          layout: 'combined' as const,
          engine: combined.idpStorage.engine,
          engineField: combined.idpStorage.field ?? 'server.authStore.engine (default)',
          sqlitePath: combined.sqliteFile,
        }
      : management !== undefined && e?.enabled === true
        ? {
            path: management.path,
            layout: 'management' as const,
            engine: e.storageType !== undefined && e.storageType !== '' ? e.storageType : 'sqlite3',
            engineField:
              e.storageType !== undefined && e.storageType !== ''
                ? 'EmbeddedIdP.Storage.Type'
                : 'EmbeddedIdP.Storage.Type (default)',
            sqlitePath: managementSqliteFile(management),
          }
        : undefined
  if (named === undefined || (named.engine !== 'sqlite3' && named.engine !== 'postgres')) {
    return undefined
  }
  const store = inputs.store
  const facts: StoreInUseFacts = {
    path: named.path,
    layout: named.layout,
    netbirdEngine: named.engine,
    engineField: named.engineField,
    netbirdSqlitePath: named.sqlitePath,
    checked: store !== undefined ? { engine: store.engine, label: store.label } : undefined,
    ...(rows !== undefined ? { usedConnectorIds: rows.map((r) => r.id) } : {}),
  }
  if (named.engine !== 'postgres' || store?.engine === 'sqlite') return facts
  const candidates = [...new Set([named.sqlitePath, inputs.dbPath])]
  const stale = candidates.find((p): p is string => p !== undefined && existsSync(p))
  if (stale === undefined) return facts
  // Read-only, like every doctor read; an unreadable leftover is still named, without its connectors.
  const old = new SqliteStore(stale)
  try {
    const ids = (await old.readConnectors()).map((r) => r.id)
    return { ...facts, staleSqlite: { path: stale, connectorIds: ids } }
  } catch {
    return { ...facts, staleSqlite: { path: stale } }
  } finally {
    await old.close()
  }
}

/**
 * The embedded IdP's own settings, from each NetBird file that configures it: the auth store engine
 * and its DSN or file, the session cookie key, and local login switched off without another connector.
 */
function addSettingTasks(
  tasks: TaskSpec[],
  management: ManagementJson | undefined,
  combined: CombinedConfig | undefined,
  rows: ConnectorRow[] | undefined,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const connectors = rows?.map((r) => ({ id: r.id, type: r.type }))
  const envKey = env[cookieKeyEnv]
  const add = (id: TaskSpec['id'], target: string, run: () => CheckResult[]): void => {
    tasks.push({ id, area: 'idp-config', target, run })
  }
  if (combined !== undefined) {
    const path = combined.path
    const src = { path, layout: 'combined' as const }
    const field = combined.idpStorage.field ?? 'server.authStore.engine'
    add('idp-storage-config', `${path} ${field}`, () => [
      evaluateIdpStorage({
        ...src,
        engine: combined.idpStorage.field !== undefined ? combined.idpStorage.engine : undefined,
        engineField: field,
        hasDsn: combined.authStoreDsn !== undefined,
        dsnField: 'server.authStore.dsn',
        file: combined.idpDbPath ?? '',
      }),
    ])
    const cookie = evaluateCookieKey({
      ...src,
      key: combined.sessionCookieKey?.reveal(),
      keyField: 'server.auth.sessionCookieEncryptionKey',
      envKey,
    })
    if (cookie !== undefined) add('session-cookie-key', cookie.target, () => [cookie])
    const local = evaluateLocalAuth({
      ...src,
      field: 'server.auth.localAuthDisabled',
      disabled: combined.localAuthDisabled,
      connectors,
      staticConnectorIds: [],
    })
    if (local !== undefined) add('local-auth-connectors', local.target, () => [local])
  }
  const e = management?.embedded
  if (management !== undefined && e?.enabled === true) {
    const path = management.path
    const src = { path, layout: 'management' as const }
    add('idp-storage-config', `${path} EmbeddedIdP.Storage.Type`, () => [
      evaluateIdpStorage({
        ...src,
        engine: e.storageType,
        engineField: 'EmbeddedIdP.Storage.Type',
        hasDsn: e.storageDsn !== undefined,
        dsnField: 'EmbeddedIdP.Storage.Config.DSN',
        file: managementSqliteFile(management),
      }),
    ])
    const cookie = evaluateCookieKey({
      ...src,
      key: e.sessionCookieKey?.reveal(),
      keyField: 'EmbeddedIdP.SessionCookieEncryptionKey',
      envKey,
    })
    if (cookie !== undefined) add('session-cookie-key', cookie.target, () => [cookie])
    const local = evaluateLocalAuth({
      ...src,
      field: 'EmbeddedIdP.LocalAuthDisabled',
      disabled: e.localAuthDisabled,
      connectors,
      staticConnectorIds: e.staticConnectors.map((c) => c.id),
    })
    if (local !== undefined) add('local-auth-connectors', local.target, () => [local])
  }
}
