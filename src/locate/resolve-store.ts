// Which IdP store to work on, decided in one place for every command and the daemon — from the
// flags, the watchdog's own configuration and NetBird's files (a use of the adapters, so above them:
// netbird/ reads the files, store/open.ts opens what is found).
//
// The order, first match wins:
//  1. `--db`: a file path, or a PostgreSQL URI / key=value DSN (core/dsn.ts `isDsn`);
//  2. the watchdog's own DSN (daemon and doctor): NETBIRD_WATCHDOG_IDP_DSN_FILE, NETBIRD_WATCHDOG_IDP_DSN,
//     then `idp.dsn` in its config file;
//  3. NetBird's own configuration naming a PostgreSQL store: config.yaml `server.authStore.engine:
//     postgres` + `dsn` (combined server, combined/cmd/config.go buildEmbeddedIdPConfig), or
//     management.json `EmbeddedIdP.Storage.Type: "postgres"` + `Storage.Config.DSN`;
//  4. `idp.dbPath` (the daemon always; doctor when it exists here, or when nothing else was given);
//  5. the SQLite file NetBird's configuration names (`server.authStore.file`, `Storage.Config.File`, or
//     idp.db in the data directory). That is a path inside NetBird's container, so it is used only
//     when it exists here.
// A DSN is parsed at once, so a malformed one fails before anything runs, and no message quotes it.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { WatchdogError } from '../errors.js'
import {
  managementSqliteFile,
  readCombinedConfig,
  readManagementJson,
} from '../netbird/config-files.js'
import type { StoreLocation } from '../store/open.js'
import { isDsn, looksLikeDsn, notADsn, parseDsn, type Secret } from '../core/dsn.js'

/** Everything that can name the store; `resolveStore` picks one (see the header for the order). */
export interface StoreSources {
  /** `--db`: a path or a DSN. */
  readonly db?: string
  /** The watchdog's own DSN, and where it came from (`NETBIRD_WATCHDOG_IDP_DSN_FILE`, `idp.dsn`…). */
  readonly dsn?: { readonly value: Secret; readonly source: string }
  /** NetBird's combined-server config.yaml. */
  readonly configYaml?: string
  /** NetBird's management.json. */
  readonly managementJson?: string
  /** Environment for management.json's `{{ .NAME }}` substitution (NetBird's ReadJsonWithEnvSub). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** `idp.dbPath`, and whether to use it only when the file exists here. */
  readonly dbPath?: { readonly path: string; readonly onlyIfExists: boolean }
  /**
   * Given: a NetBird file that cannot be read or says something unusable (invalid YAML or JSON,
   * PostgreSQL without a DSN, a malformed DSN) is reported here and left out of the choice, instead of
   * throwing (the daemon). The watchdog's own `--db` and DSN are never let off.
   */
  readonly onUnusableNetbirdFile?: (err: WatchdogError) => void
}

/**
 * The store the sources name (undefined when none does). A malformed DSN, or a NetBird config naming
 * PostgreSQL without a DSN, throws: USAGE when it came from `--db`, CONFIG_INVALID otherwise.
 */
export function resolveStore(sources: StoreSources): StoreLocation | undefined {
  if (sources.db !== undefined) {
    if (isDsn(sources.db)) return postgresAt(sources.db, '--db', 'USAGE')
    if (looksLikeDsn(sources.db)) {
      // Taken for a file path, it would be quoted in "database not found" — password and all.
      throw new WatchdogError('USAGE', `--db is not a valid DSN: ${notADsn}`)
    }
    return { engine: 'sqlite', path: sources.db, source: '--db' }
  }
  if (sources.dsn !== undefined) {
    return postgresAt(sources.dsn.value.reveal(), sources.dsn.source, 'CONFIG_INVALID')
  }
  const named = namedByNetbird(sources)
  if (named.postgres !== undefined) return named.postgres
  const dbPath = sources.dbPath
  if (dbPath !== undefined && (!dbPath.onlyIfExists || existsSync(dbPath.path))) {
    return { engine: 'sqlite', path: dbPath.path, source: 'idp.dbPath' }
  }
  return named.sqlite.find((s) => existsSync(s.path))
}

/** What NetBird's own files say: a PostgreSQL store, and SQLite files (paths in its container). */
function namedByNetbird(sources: StoreSources): {
  postgres?: StoreLocation
  sqlite: SqliteLocation[]
} {
  const sqlite: SqliteLocation[] = []
  const lenient = <T>(read: () => T): T | undefined => {
    const report = sources.onUnusableNetbirdFile
    if (report === undefined) return read()
    try {
      return read()
    } catch (err) {
      if (!(err instanceof WatchdogError)) throw err
      report(err)
      return undefined
    }
  }
  const { configYaml, managementJson } = sources
  const fromYaml =
    configYaml !== undefined ? lenient(() => fromCombinedConfig(configYaml, sqlite)) : undefined
  if (fromYaml !== undefined) return { postgres: fromYaml, sqlite }
  const fromJson =
    managementJson !== undefined
      ? lenient(() => fromManagementJson(managementJson, sources.env ?? {}, sqlite))
      : undefined
  if (fromJson !== undefined) return { postgres: fromJson, sqlite }
  return { sqlite }
}

type SqliteLocation = StoreLocation & { engine: 'sqlite' }
type PostgresLocation = StoreLocation & { engine: 'postgres' }

/** The PostgreSQL store config.yaml names (undefined: none; an idp.db it names goes to `sqlite`). */
function fromCombinedConfig(path: string, sqlite: SqliteLocation[]): PostgresLocation | undefined {
  const c = readCombinedConfig(path)
  if (c.authStoreEngine === 'postgres') {
    const source = `server.authStore.dsn in ${c.path}`
    if (c.authStoreDsn === undefined) {
      throw new WatchdogError(
        'CONFIG_INVALID',
        `${c.path}: server.authStore.engine is postgres but server.authStore.dsn is not set (NetBird refuses to start like this too: "authStore.dsn is required when authStore.engine is postgres")`,
      )
    }
    return {
      ...postgresAt(c.authStoreDsn.reveal(), source, 'CONFIG_INVALID'),
      netbirdFile: { flag: '--config-yaml', path: resolve(path) },
    }
  }
  if (c.idpDbPath !== undefined) {
    sqlite.push({ engine: 'sqlite', path: c.idpDbPath, source: `server.authStore in ${c.path}` })
  }
  return undefined
}

/** The PostgreSQL store management.json names (undefined: none; an idp.db it names goes to `sqlite`). */
function fromManagementJson(
  path: string,
  env: Readonly<Record<string, string | undefined>>,
  sqlite: SqliteLocation[],
): PostgresLocation | undefined {
  const m = readManagementJson(path, env)
  const e = m.embedded
  if (e !== undefined && e.storageType?.toLowerCase() === 'postgres') {
    const source = `EmbeddedIdP.Storage.Config.DSN in ${m.path}`
    if (e.storageDsn === undefined) {
      throw new WatchdogError(
        'CONFIG_INVALID',
        `${m.path}: EmbeddedIdP.Storage.Type is postgres but EmbeddedIdP.Storage.Config.DSN is not set (Dex refuses this too: "postgres storage requires 'dsn' config")`,
      )
    }
    const dsn = e.storageDsn.reveal()
    if (/\{\{-?\s*\.[A-Za-z_]/.test(dsn)) {
      throw new WatchdogError(
        'CONFIG_INVALID',
        `${source} uses a {{ .NAME }} variable that is not set in this environment (${m.unresolvedVars.join(', ')}): set it here as NetBird's container has it, or give the DSN directly`,
      )
    }
    return {
      ...postgresAt(dsn, source, 'CONFIG_INVALID'),
      netbirdFile: { flag: '--management-json', path: resolve(path) },
    }
  }
  if (e?.enabled === true) {
    sqlite.push({
      engine: 'sqlite',
      path: managementSqliteFile(m),
      source: `EmbeddedIdP.Storage in ${m.path}`,
    })
  }
  return undefined
}

function postgresAt(
  dsn: string,
  source: string,
  code: 'USAGE' | 'CONFIG_INVALID',
): PostgresLocation {
  return { engine: 'postgres', settings: parseDsn(dsn, { code, source }), source }
}
