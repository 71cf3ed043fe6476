// Runs every `doctor` check: reads the inputs (idp.db, management.json, config.yaml, setup.env, a
// backup directory to compare the store with), fetches each provider's discovery document once, asks
// the JumpCloud API, and evaluates the pure checks of src/core/checks/ (the embedded IdP's own
// settings: idp-config-checks.ts; standalone setups: standalone-tasks.ts). Independent of the CLI so
// the daemon can run it on a schedule.
// Checks run concurrently, each under a deadline: one hanging provider never holds up the report.
import { connectorIssuer, type ConnectorRow } from '../core/connectors.js'
import { reportOk, type CheckResult } from '../core/checks/check.js'
import {
  connectorTarget,
  evaluateClientAuthMethod,
  evaluateConnectorConfig,
  evaluateDashboardRedirectUris,
  evaluateIssuerMatch,
  evaluateRedirectUri,
  evaluateScopes,
  suggestedStore,
  type SuggestedStore,
} from '../core/checks/connector-checks.js'
import { evaluateDiscoveryReachable } from '../core/checks/discovery.js'
import { cookieKeyEnv } from '../core/checks/idp-config-checks.js'
import { evaluateStaticDrift } from '../core/checks/static-checks.js'
import { evaluateStoreMatchesBackup, type StoreBackupFacts } from '../core/checks/store-checks.js'
import { discoveryUrl } from '../core/issuer.js'
import type { StoreArgs } from '../core/store-identity.js'
import { isSecretKey, redactValues } from '../core/redact.js'
import type { Logger } from '../log.js'
import {
  readCombinedConfig,
  readManagementJson,
  readSetupEnv,
  type CombinedConfig,
  type ManagementJson,
  type SetupEnv,
} from '../netbird/config-files.js'
import { discoverConnectors, type ConnectorsDiscovered } from '../oidc/connector-discovery.js'
import { fetchDiscovery, fetchDiscoveryDocument, type DiscoveryResult } from '../oidc/discovery.js'
import { engineOf } from '../store/backup-files.js'
import type { IdpStore } from '../store/port.js'
import { compareWithLastKept } from '../store/restore-guard.js'
import { addIdpConfigTasks } from './idp-config-tasks.js'
import { addManagementStandaloneTasks, addSetupEnvTasks } from './standalone-tasks.js'
import type { TaskSpec } from './task.js'

export interface DoctorInputs {
  /** The IdP store (embedded IdP connectors); connector checks are skipped without it. */
  store?: IdpStore
  /** management.json: EmbeddedIdP (issuer, static connectors) or a standalone HttpConfig/IdpManagerConfig. */
  managementJson?: string
  /** The combined server's config.yaml (v0.65+): server.auth.issuer. */
  configYaml?: string
  /** setup.env as the JumpCloud guide's standalone setup writes it. */
  setupEnv?: string
  /**
   * The watchdog's idp.dbPath: where an idp.db left from before a move to PostgreSQL may be found here
   * (besides the path NetBird's config names), for the store-in-use check.
   */
  dbPath?: string
  /** A backup directory: the store is compared with its last kept backup (store-matches-backup). */
  backupDir?: string
  /** How the commands that check prints name the store; by default its engine and label. */
  storeArgs?: StoreArgs
}

export interface DoctorOptions {
  /** Deadline for each network check (discovery, JumpCloud API). */
  timeoutMs: number
  /** Permit plain-http issuers and API URLs (labs and tests only). */
  allowInsecure: boolean
  /** Environment for management.json's `{{ .NAME }}` substitution (NetBird's ReadJsonWithEnvSub). */
  env?: Readonly<Record<string, string | undefined>>
  fetch?: typeof fetch
  /** Stops the network checks early (a CLI stopped by a signal). */
  signal?: AbortSignal
  log?: Logger
}

export interface DoctorReport {
  /** False when any check failed. */
  ok: boolean
  checks: CheckResult[]
  ms: number
}

/**
 * Run every applicable check. Throws a WatchdogError only for unusable inputs (a file that cannot be
 * read or parsed, a database that is not idp.db); every provider or network problem is a check result.
 */
export async function runDoctor(inputs: DoctorInputs, opts: DoctorOptions): Promise<DoctorReport> {
  const started = performance.now()
  const env = opts.env ?? {}
  const management =
    inputs.managementJson !== undefined ? readManagementJson(inputs.managementJson, env) : undefined
  const combined =
    inputs.configYaml !== undefined ? readCombinedConfig(inputs.configYaml) : undefined
  const setupEnv = inputs.setupEnv !== undefined ? readSetupEnv(inputs.setupEnv) : undefined
  const rows = inputs.store !== undefined ? await inputs.store.readConnectors() : undefined

  const discoveries = new Map<string, Promise<DiscoveryResult>>()
  const discoveryOpts = {
    timeoutMs: opts.timeoutMs,
    allowInsecure: opts.allowInsecure,
    ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  }
  // One request per URL, however many connectors share an issuer.
  // Discovery runs before the checks that judge it (the issuer policy needs every answer), so it gets
  // the same deadline a check has: a provider that never settles cannot hold up the report.
  const graceMs = 1000
  const deadlineMs = opts.timeoutMs + graceMs
  const discoverIssuer = (issuer: string): Promise<DiscoveryResult> =>
    memo(discoveries, 'issuer:' + discoveryUrl(issuer), () =>
      withDeadline(fetchDiscovery(issuer, discoveryOpts), deadlineMs, () => ({
        ok: false,
        url: discoveryUrl(issuer),
        reason: 'timeout',
        message: `the check did not finish within ${deadlineMs} ms`,
        ms: deadlineMs,
      })),
    )
  const discoverUrl = (url: string): Promise<DiscoveryResult> =>
    memo(discoveries, 'url:' + url, () => fetchDiscoveryDocument(url, discoveryOpts))

  const tasks: TaskSpec[] = []
  const embeddedIssuer = management?.embedded?.issuer ?? combined?.issuer
  const embeddedEnabled = management?.embedded?.enabled === true || combined !== undefined

  if (rows !== undefined && inputs.store !== undefined) {
    // The one issuer policy (core/issuer-policy.ts) judges what discovery answers, as for a repair.
    const found = await discoverConnectors(rows, discoverIssuer, {
      allowInsecure: opts.allowInsecure,
    })
    addConnectorTasks(
      tasks,
      rows,
      suggestedStore(inputs.store),
      embeddedIssuer,
      management,
      found,
      discoverIssuer,
    )
  } else if (embeddedEnabled) {
    const postgres =
      management?.embedded?.storageType?.toLowerCase() === 'postgres' ||
      combined?.authStoreEngine === 'postgres'
    tasks.push({
      id: 'issuer-matches-discovery',
      area: 'embedded-idp',
      target: 'idp.db',
      run: () => [
        {
          id: 'issuer-matches-discovery',
          status: 'skip',
          area: 'embedded-idp',
          target: 'idp.db',
          message: postgres
            ? 'the embedded IdP keeps its connectors in Postgres: give its DSN (--db postgres://…) to check them'
            : 'the embedded IdP is enabled but idp.db was not given (--db): connectors not checked',
        },
      ],
    })
  }
  // The dashboard's callbacks, where the embedded IdP's clients are configured.
  const redirectSources = [
    management?.embedded?.enabled === true
      ? {
          label: management.path,
          field: 'EmbeddedIdP.DashboardRedirectURIs',
          issuer: management.embedded.issuer,
          uris: management.embedded.dashboardRedirectUris,
        }
      : undefined,
    combined !== undefined
      ? {
          label: combined.path,
          field: 'server.auth.dashboardRedirectURIs',
          issuer: combined.issuer,
          uris: combined.dashboardRedirectUris,
        }
      : undefined,
  ]
  for (const src of redirectSources) {
    if (src === undefined) continue
    tasks.push({
      id: 'dashboard-redirect-uris',
      area: 'embedded-idp',
      target: `${src.label} ${src.field}`,
      run: () => [evaluateDashboardRedirectUris(src, src.issuer, src.uris)],
    })
  }
  await addIdpConfigTasks(tasks, { ...inputs, management, combined, rows, env })
  if (inputs.store !== undefined && inputs.backupDir !== undefined) {
    const { store, backupDir } = inputs
    const args = inputs.storeArgs ?? { engine: store.engine, label: store.label }
    tasks.push({
      id: 'store-matches-backup',
      area: 'embedded-idp',
      target: `IdP store ${store.label}`,
      run: async () => [evaluateStoreMatchesBackup(await storeBackupFacts(store, backupDir, args))],
    })
  }
  if (
    management !== undefined &&
    (management.http !== undefined || management.idpManager !== undefined)
  ) {
    addManagementStandaloneTasks(tasks, management, opts, discoverUrl)
  }
  if (setupEnv !== undefined) addSetupEnvTasks(tasks, setupEnv, opts, discoverUrl)

  const settled = await Promise.all(
    tasks.map((t) =>
      withDeadline(Promise.resolve().then(t.run), deadlineMs, () => [
        {
          id: t.id,
          status: 'fail' as const,
          area: t.area,
          target: t.target,
          message: `the check did not finish within ${deadlineMs} ms`,
        },
      ]).catch((err: unknown): CheckResult[] => [
        {
          id: t.id,
          status: 'fail',
          area: t.area,
          target: t.target,
          message: `the check itself failed: ${err instanceof Error ? err.message : String(err)}`,
        },
      ]),
    ),
  )
  const secrets = collectSecrets(rows, management, setupEnv, combined, env)
  const checks = settled.flat().map((c) => redactResult(c, secrets))
  for (const c of checks) {
    opts.log?.debug({ check: c.id, status: c.status, target: c.target }, 'doctor check')
  }
  return { ok: reportOk(checks), checks, ms: Math.round(performance.now() - started) }
}

/** The store against the last kept backup in `backupDir` (the daemon's lost-or-replaced check). */
async function storeBackupFacts(
  store: IdpStore,
  backupDir: string,
  args: StoreArgs,
): Promise<StoreBackupFacts> {
  const compared = await compareWithLastKept(store, backupDir, args)
  if (compared === undefined) return { label: store.label, backupDir }
  const { backup, change, advice } = compared
  return {
    label: store.label,
    backupDir,
    backup: {
      id: backup.id,
      createdAt: backup.manifest.createdAt,
      engine: engineOf(backup.manifest),
    },
    ...(change !== undefined ? { change } : {}),
    ...(advice !== undefined ? { advice } : {}),
  }
}

function addConnectorTasks(
  tasks: TaskSpec[],
  rows: ConnectorRow[],
  store: SuggestedStore,
  embeddedIssuer: string | undefined,
  management: ManagementJson | undefined,
  found: ConnectorsDiscovered<DiscoveryResult>,
  discover: (issuer: string) => Promise<DiscoveryResult>,
): void {
  const statics = management?.embedded?.staticConnectors ?? []
  const staticIds = new Set(statics.map((s) => s.id))
  for (const row of rows) {
    const type = row.type.toLowerCase()
    const c = { id: row.id, name: row.name, store, isStatic: staticIds.has(row.id) }
    const target = connectorTarget(c)
    const configError = row.configError
    if (type === 'local' && configError === undefined) continue
    if (configError !== undefined) {
      // Nothing else about this connector can be checked; the other connectors still are.
      tasks.push({
        id: 'connector-config',
        area: 'embedded-idp',
        target,
        run: () => [evaluateConnectorConfig(c, configError)],
      })
      continue
    }
    const config = row.config ?? {}
    if (type !== 'oidc') {
      // google / microsoft: built-in issuers; only the redirect URI is ours to check.
      tasks.push({
        id: 'redirect-uri',
        area: 'embedded-idp',
        target,
        run: () => [evaluateRedirectUri(c, config.redirectURI, embeddedIssuer)],
      })
      continue
    }
    const look = found.looks.find((l) => l.connectorId === row.id)
    const verdict = found.verdicts.find((v) => v.connectorId === row.id)
    tasks.push({
      id: 'discovery-reachable',
      area: 'embedded-idp',
      target,
      run: () => {
        if (look === undefined) {
          // Not asked (no config, no issuer, an unusable one): the issuer policy's verdict says why.
          const checks = verdict !== undefined ? [evaluateIssuerMatch(c, verdict)] : []
          if (row.config === null) return checks
          return [
            ...checks,
            evaluateRedirectUri(c, config.redirectURI, embeddedIssuer),
            evaluateScopes(c, config.scopes, undefined),
            evaluateClientAuthMethod(c, config, undefined),
          ]
        }
        const d = look.first
        return [
          evaluateDiscoveryReachable('embedded-idp', target, d),
          evaluateIssuerMatch(c, look.verdict),
          evaluateRedirectUri(c, config.redirectURI, embeddedIssuer),
          evaluateScopes(c, config.scopes, d),
          evaluateClientAuthMethod(c, config, d),
        ]
      },
    })
  }
  if (management === undefined) return
  for (const entry of statics) {
    const row = rows.find((r) => r.id === entry.id)
    tasks.push({
      id: 'static-connector-drift',
      area: 'embedded-idp',
      target: `static connector ${entry.id}`,
      run: async () => {
        const rowIssuer = row !== undefined ? connectorIssuer(row) : undefined
        const wantIssuer = entry.config.issuer
        // Only worth a request when the issuers differ: it tells "restart fixes it" from "restart breaks it".
        const d =
          rowIssuer !== undefined && typeof wantIssuer === 'string' && wantIssuer !== rowIssuer
            ? await discover(rowIssuer)
            : undefined
        return [
          evaluateStaticDrift(
            entry,
            row !== undefined ? { type: row.type, name: row.name, config: row.config } : undefined,
            d?.ok === true ? d.issuer : undefined,
            management.path,
          ),
        ]
      },
    })
  }
}

/** Every secret value the inputs hold, so that no result text can carry one (defence in depth). */
function collectSecrets(
  rows: ConnectorRow[] | undefined,
  management: ManagementJson | undefined,
  setupEnv: SetupEnv | undefined,
  combined: CombinedConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const out: string[] = []
  // With an explicit stack: a config nested thousands of levels deep (Dex accepts up to 10000) must
  // not exhaust the call stack.
  const walk = (root: unknown): void => {
    const pending: unknown[] = [root]
    while (pending.length > 0) {
      const value = pending.pop()
      if (Array.isArray(value)) for (const v of value as unknown[]) pending.push(v)
      else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (typeof v === 'string' && isSecretKey(k)) out.push(v)
          else pending.push(v)
        }
      }
    }
  }
  for (const r of rows ?? []) walk(r.config)
  for (const s of management?.embedded?.staticConnectors ?? []) walk(s.config)
  walk(management?.idpManager?.extraConfig)
  for (const [k, v] of Object.entries(setupEnv?.vars ?? {})) {
    if (/SECRET|TOKEN|PASSWORD|_KEY$/i.test(k)) out.push(v)
  }
  for (const secret of [
    combined?.sessionCookieKey,
    combined?.authStoreDsn,
    management?.embedded?.sessionCookieKey,
    management?.embedded?.storageDsn,
  ]) {
    if (secret !== undefined) out.push(secret.reveal().trim())
  }
  const envKey = env[cookieKeyEnv]
  if (envKey !== undefined) out.push(envKey.trim())
  return out
}

function redactResult(c: CheckResult, secrets: readonly string[]): CheckResult {
  const out: CheckResult = {
    ...c,
    target: redactValues(c.target, secrets),
    message: redactValues(c.message, secrets),
  }
  if (c.remediation !== undefined) out.remediation = redactValues(c.remediation, secrets)
  return out
}

function memo<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = cache.get(key)
  if (p === undefined) {
    p = make()
    cache.set(key, p)
  }
  return p
}

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => resolve(onTimeout()), ms)
    p.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
