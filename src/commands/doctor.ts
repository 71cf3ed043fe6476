// `netbird-watchdog doctor`: check NetBird's identity-provider setup against the live providers and print
// what is wrong and how to fix it (human report grouped by area, or --json).
import { existsSync } from 'node:fs'
import { Option, type Command } from 'commander'
import { checkIds, type CheckArea, type CheckStatus } from '../core/checks/check.js'
import { loadConfig } from '../config/load.js'
import { runDoctor, type DoctorReport } from '../doctor/run-doctor.js'
import { readCombinedConfig } from '../netbird/config-files.js'
import { SqliteStore } from '../store/sqlite/store.js'
import { intFlag, waitMs } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

/** The files doctor reads (the IdP store by its path or DSN). */
interface DoctorSources {
  dbPath?: string
  managementJson?: string
  configYaml?: string
  setupEnv?: string
}

interface DoctorFlags {
  config?: string
  db?: string
  managementJson?: string
  configYaml?: string
  setupEnv?: string
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
      'Check the identity-provider setup (idp.db connectors, management.json, config.yaml, setup.env) against the live providers, with the fix for each problem.',
    )
    .option('--config <file>', 'watchdog config file (idp.dbPath, idp.managementJson, oidc.*)')
    .option('--db <path>', 'idp.db of the embedded IdP')
    .option('--management-json <path>', "NetBird's management.json")
    .option('--config-yaml <path>', "the combined netbird-server's config.yaml (v0.65+)")
    .option('--setup-env <path>', 'setup.env of a standalone (JumpCloud as primary IdP) setup')
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

Checks: ${checkIds.join(', ')}
Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 usage, config or input error,
130/143 stopped by SIGINT/SIGTERM.`,
    )
    .action(async (flags: DoctorFlags) => {
      const { config } = loadConfig(flags.config, io.env)
      const timeoutFlag = flags.timeoutMs ?? flags.timeout
      const timeoutMs =
        timeoutFlag !== undefined
          ? intFlag('--timeout-ms', timeoutFlag, waitMs)
          : config.oidc.timeoutMs
      const inputs = resolveInputs(flags, config.idp)
      throwIfStopped(io)
      const { dbPath, ...files } = inputs
      const report = await runDoctor(
        {
          ...files,
          ...(dbPath !== undefined
            ? { store: new SqliteStore(dbPath, { busyTimeoutMs: config.idp.busyTimeoutMs }) }
            : {}),
        },
        {
          timeoutMs,
          allowInsecure: flags.allowInsecure === true || config.oidc.allowInsecure,
          env: io.env,
          signal: io.signal,
        },
      )
      if (flags.json === true) writeLine(io.stdout, JSON.stringify(toJson(report)))
      else io.stdout.write(formatReport(report, inputs))
      io.setExitCode(report.ok ? exitCodes.ok : exitCodes.problems)
    })
}

/**
 * Which files to read. idp.db: --db, else the configured path when it exists (or when nothing else was
 * given, so that a missing default is reported), else the combined config's auth store when it exists here.
 */
function resolveInputs(
  flags: DoctorFlags,
  idp: { dbPath: string; managementJson?: string | undefined; configYaml?: string | undefined },
): DoctorSources {
  const managementJson = flags.managementJson ?? idp.managementJson
  const configYaml = flags.configYaml ?? idp.configYaml
  const setupEnv = flags.setupEnv
  const inputs: DoctorSources = {}
  if (managementJson !== undefined) inputs.managementJson = managementJson
  if (configYaml !== undefined) inputs.configYaml = configYaml
  if (setupEnv !== undefined) inputs.setupEnv = setupEnv
  const nothingElse =
    managementJson === undefined && configYaml === undefined && setupEnv === undefined
  if (flags.db !== undefined) inputs.dbPath = flags.db
  else if (nothingElse || existsSync(idp.dbPath)) inputs.dbPath = idp.dbPath
  else if (configYaml !== undefined) {
    const fromYaml = readCombinedConfig(configYaml).idpDbPath
    if (fromYaml !== undefined && existsSync(fromYaml)) inputs.dbPath = fromYaml
  }
  return inputs
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
  'embedded-idp': 'Embedded IdP connectors',
  standalone: 'Standalone IdP setup',
}

export function formatReport(report: DoctorReport, inputs: DoctorSources): string {
  const lines: string[] = []
  const sources = [
    inputs.dbPath !== undefined ? `idp.db ${inputs.dbPath}` : undefined,
    inputs.managementJson !== undefined ? `management.json ${inputs.managementJson}` : undefined,
    inputs.configYaml !== undefined ? `config.yaml ${inputs.configYaml}` : undefined,
    inputs.setupEnv !== undefined ? `setup.env ${inputs.setupEnv}` : undefined,
  ].filter((s): s is string => s !== undefined)
  lines.push(`netbird-watchdog doctor: ${sources.join(', ') || 'no inputs'}`)
  for (const area of ['embedded-idp', 'standalone'] as const) {
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
