// `netbird-watchdog doctor`: check NetBird's identity-provider setup against the live providers and print
// what is wrong and how to fix it (human report grouped by area, or --json). The IdP store — idp.db or
// PostgreSQL — is the one store/open.ts picks from the flags and the watchdog's config; it is also
// compared with the last kept backup of its backup directory when there is one.
import { existsSync } from 'node:fs'
import { Option, type Command } from 'commander'
import { checkIds, type CheckArea, type CheckStatus } from '../core/checks/check.js'
import { loadConfig } from '../config/load.js'
import type { Config, Secrets } from '../config/schema.js'
import { runDoctor, type DoctorReport } from '../doctor/run-doctor.js'
import { WatchdogError, isStoreUnreachable, isWatchdogError } from '../errors.js'
import {
  backupDirFor,
  defaultPostgresBackupDir,
  locationLabel,
  openStore,
  storeArgsOf,
  type StoreLocation,
} from '../store/open.js'
import { resolveStore } from '../locate/resolve-store.js'
import { Secret } from '../core/dsn.js'
import { intFlag, waitMs } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

/** What doctor reads: the IdP store (where, and which setting named it) and NetBird's files. */
export interface DoctorSources {
  store?: StoreLocation
  managementJson?: string
  configYaml?: string
  setupEnv?: string
  /** The backup directory the store is compared with (store-matches-backup). */
  backupDir?: string
}

interface DoctorFlags {
  config?: string
  db?: string
  managementJson?: string
  configYaml?: string
  setupEnv?: string
  backupDir?: string
  json?: boolean
  timeoutMs?: string
  /** The pre-0.1 spelling of --timeout-ms, still accepted (hidden from --help). */
  timeout?: string
  allowInsecure?: boolean
}

export function registerDoctor(program: Command, io: CliIO): void {
  program
    .command('doctor')
    .description(
      "Check the identity-provider setup (the IdP store's connectors, management.json, config.yaml, setup.env) against the live providers, with the fix for each problem.",
    )
    .option(
      '--config <file>',
      'watchdog config file (idp.dbPath, idp.dsn, idp.managementJson, idp.configYaml, oidc.*)',
    )
    .option(
      '--db <path|dsn>',
      "the embedded IdP's store: idp.db, or a PostgreSQL DSN (postgres://user@host:5432/dbname or key=value)",
    )
    .option('--management-json <path>', "NetBird's management.json")
    .option('--config-yaml <path>', "the combined netbird-server's config.yaml (v0.65+)")
    .option('--setup-env <path>', 'setup.env of a standalone (JumpCloud as primary IdP) setup')
    .option(
      '--backup-dir <dir>',
      "compare the store with the last kept backup here (default: backups.dir, else the store's default backup directory, when it exists)",
    )
    .option('--json', 'print one JSON object and nothing else on stdout')
    .option('--timeout-ms <ms>', 'deadline for each network check (default: oidc.timeoutMs, 5000)')
    .addOption(new Option('--timeout <ms>').hideHelp())
    .option('--allow-insecure', 'allow plain-http issuers and API URLs (labs and tests only)')
    .addHelpText(
      'after',
      `
Examples:
  netbird-watchdog doctor --db /var/lib/netbird/idp.db --management-json /etc/netbird/management.json
  netbird-watchdog doctor --db /var/lib/netbird/idp.db --config-yaml /etc/netbird/config.yaml --json
  netbird-watchdog doctor --management-json ./management.json --setup-env ./setup.env
  PGPASSWORD=… netbird-watchdog doctor --db 'postgres://netbird@db:5432/netbird?sslmode=disable'

The store: --db, else the watchdog's NETBIRD_WATCHDOG_IDP_DSN[_FILE] or idp.dsn, else a PostgreSQL
store config.yaml (server.authStore) or management.json (EmbeddedIdP.Storage) names, else idp.dbPath
when it exists here (or nothing else was given), else the idp.db those files name when it exists here.
Checks: ${checkIds.join(', ')}
Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage, config or input error,
130/143 stopped by SIGINT/SIGTERM.`,
    )
    .action(async (flags: DoctorFlags) => {
      const { config, secrets } = loadConfig(flags.config, io.env)
      const timeoutFlag = flags.timeoutMs ?? flags.timeout
      const timeoutMs =
        timeoutFlag !== undefined
          ? intFlag('--timeout-ms', timeoutFlag, waitMs)
          : config.oidc.timeoutMs
      const inputs = resolveInputs(flags, config, secrets, io.env)
      throwIfStopped(io)
      const { store: location, backupDir, ...files } = inputs
      const dbPath = config.idp.dbPath
      const store =
        location !== undefined
          ? openStore(location, { busyTimeoutMs: config.idp.busyTimeoutMs })
          : undefined
      let report: DoctorReport
      try {
        report = await runDoctor(
          {
            ...files,
            dbPath,
            ...(store !== undefined && location !== undefined
              ? { store, storeArgs: storeArgsOf(location) }
              : {}),
            ...(backupDir !== undefined ? { backupDir } : {}),
          },
          {
            timeoutMs,
            allowInsecure: flags.allowInsecure === true || config.oidc.allowInsecure,
            env: io.env,
            signal: io.signal,
          },
        )
      } catch (err) {
        throw withDsnHint(err, location)
      } finally {
        await store?.close()
      }
      if (flags.json === true) writeLine(io.stdout, JSON.stringify(toJson(report)))
      else io.stdout.write(formatReport(report, inputs))
      io.setExitCode(report.ok ? exitCodes.ok : exitCodes.problems)
    })
}

/**
 * Which files to read, and the store (store/open.ts): --db; the watchdog's DSN; a PostgreSQL store
 * NetBird's files name; idp.dbPath when it exists (or when nothing else was given, so that a missing
 * default is reported); the idp.db NetBird's files name when it exists here.
 */
export function resolveInputs(
  flags: DoctorFlags,
  config: Config,
  secrets: Secrets,
  env: CliIO['env'],
): DoctorSources {
  const idp = config.idp
  const managementJson = flags.managementJson ?? idp.managementJson
  const configYaml = flags.configYaml ?? idp.configYaml
  const setupEnv = flags.setupEnv
  const inputs: DoctorSources = {}
  if (managementJson !== undefined) inputs.managementJson = managementJson
  if (configYaml !== undefined) inputs.configYaml = configYaml
  if (setupEnv !== undefined) inputs.setupEnv = setupEnv
  const nothingElse =
    managementJson === undefined && configYaml === undefined && setupEnv === undefined
  const dsn =
    secrets.idpDsn ??
    (idp.dsn !== undefined ? { value: new Secret(idp.dsn), source: 'idp.dsn' } : undefined)
  const store = resolveStore({
    ...(flags.db !== undefined ? { db: flags.db } : {}),
    ...(dsn !== undefined ? { dsn } : {}),
    ...(configYaml !== undefined ? { configYaml } : {}),
    ...(managementJson !== undefined ? { managementJson } : {}),
    env,
    dbPath: { path: idp.dbPath, onlyIfExists: !nothingElse },
  })
  if (store !== undefined) {
    inputs.store = store
    // Doctor only reads: a default directory that does not exist is no check, an explicit one is.
    const dir =
      flags.backupDir ??
      config.backups.dir ??
      backupDirFor(store, undefined, { postgresDefault: defaultPostgresBackupDir })
    if (flags.backupDir !== undefined || existsSync(dir)) inputs.backupDir = dir
  }
  return inputs
}

/**
 * A DSN taken from a NetBird config names the server as NetBird's container sees it (a compose
 * service name, say): when it cannot be reached from here, say where it came from and what to do.
 */
function withDsnHint(err: unknown, location: StoreLocation | undefined): unknown {
  if (
    location?.engine !== 'postgres' ||
    location.source === '--db' ||
    !isWatchdogError(err) ||
    !isStoreUnreachable(err)
  ) {
    return err
  }
  return new WatchdogError(
    err.code,
    `${err.message} (the DSN comes from ${location.source}; where its host cannot be reached from here, give --db with one that can)`,
    { cause: err },
  )
}

/** The `--json` shape is a public contract: exactly these keys; `remediation` only when there is one. */
export function toJson(report: DoctorReport): {
  ok: boolean
  checks: {
    id: string
    status: CheckStatus
    target: string
    message: string
    remediation?: string
  }[]
} {
  return {
    ok: report.ok,
    checks: report.checks.map((c) => ({
      id: c.id,
      status: c.status,
      target: c.target,
      message: c.message,
      ...(c.remediation !== undefined ? { remediation: c.remediation } : {}),
    })),
  }
}

const marks: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' }
const areaTitles: Record<CheckArea, string> = {
  'idp-config': 'Embedded IdP configuration',
  'embedded-idp': 'Embedded IdP connectors',
  standalone: 'Standalone IdP setup',
}

export function formatReport(report: DoctorReport, inputs: DoctorSources): string {
  const lines: string[] = []
  const store = inputs.store
  const sources = [
    store === undefined
      ? undefined
      : store.engine === 'sqlite'
        ? `idp.db ${store.path}`
        : `IdP store ${locationLabel(store)} (${store.source})`,
    inputs.managementJson !== undefined ? `management.json ${inputs.managementJson}` : undefined,
    inputs.configYaml !== undefined ? `config.yaml ${inputs.configYaml}` : undefined,
    inputs.setupEnv !== undefined ? `setup.env ${inputs.setupEnv}` : undefined,
    inputs.backupDir !== undefined ? `backups ${inputs.backupDir}` : undefined,
  ].filter((s): s is string => s !== undefined)
  lines.push(`netbird-watchdog doctor: ${sources.join(', ') || 'no inputs'}`)
  for (const area of ['idp-config', 'embedded-idp', 'standalone'] as const) {
    const checks = report.checks.filter((c) => c.area === area)
    if (checks.length === 0) continue
    lines.push('', areaTitles[area])
    let lastTarget = ''
    for (const c of checks) {
      if (c.target !== lastTarget) {
        lines.push(`  ${c.target}`)
        lastTarget = c.target
      }
      lines.push(`    ${marks[c.status]} ${c.id}: ${c.message}`)
      if (c.remediation !== undefined && (c.status === 'fail' || c.status === 'warn')) {
        lines.push(`        fix: ${c.remediation}`)
      }
    }
  }
  const count = (s: CheckStatus): number => report.checks.filter((c) => c.status === s).length
  lines.push(
    '',
    `${report.ok ? 'OK' : 'PROBLEMS FOUND'}: ${count('pass')} passed, ${count('warn')} warning(s), ${count('fail')} failed, ${count('skip')} skipped (${report.ms} ms)`,
  )
  if (report.checks.length === 0) {
    lines.push('No check applied: give --db, --management-json, --config-yaml or --setup-env.')
  }
  return lines.join('\n') + '\n'
}
