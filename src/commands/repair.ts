// `netbird-watchdog repair`: fix connector issuers in idp.db, safely (src/sqlite/repair.ts), with the
// right issuer either given (--issuer) or taken from each provider's discovery document (--discover),
// compared as raw strings the way NetBird's go-oidc does (src/core/issuer.ts).
import type { Command } from 'commander'
import Docker from 'dockerode'
import { describeIssuerDifference, issuersMatch } from '../core/issuer.js'
import { redactValues } from '../core/redact.js'
import { WatchdogError, errorMessage, isWatchdogError } from '../errors.js'
import { fetchDiscovery } from '../oidc/discovery.js'
import {
  connectorIssuer,
  readConnectors,
  rollBackHotJournal,
  type ConnectorRow,
} from '../sqlite/idp-db.js'
import { repairIssuers, type IssuerChange, type RepairResult } from '../sqlite/repair.js'
import { readVersion } from '../version.js'
import { exitCodes, writeLine, type CliIO } from './io.js'

interface RepairFlags {
  db?: string
  connector: string[]
  issuer?: string
  discover?: boolean
  dryRun?: boolean
  backupDir?: string
  managementJson?: string
  fixManagementJson?: boolean
  restart?: string
  allowInsecure?: boolean
  timeoutMs: string
  busyTimeoutMs: string
  json?: boolean
}

interface Unresolved {
  connectorId: string
  issuer: string
  reason: string
}

/** A connector `--discover` did not look at because its stored config is unusable. */
interface Skipped {
  connectorId: string
  reason: string
}

export function registerRepair(program: Command, io: CliIO): void {
  program
    .command('repair')
    .description("Fix SSO connector issuers in NetBird's idp.db, with a verified backup first.")
    .option(
      '--db <path>',
      'idp.db (e.g. /var/lib/docker/volumes/<project>_netbird_data/_data/idp.db)',
    )
    .option(
      '--connector <id>',
      'connector to repair (repeatable); default with --discover: every OIDC connector',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--issuer <url>', 'set this exact issuer (needs --connector)')
    .option('--discover', "take the issuer from each provider's discovery document")
    .option('--dry-run', 'print the plan; change nothing (the file stays byte-identical)')
    .option(
      '--backup-dir <dir>',
      'where backups go (default: netbird-watchdog-backups/ next to idp.db)',
    )
    .option(
      '--management-json <path>',
      'management.json to check for EmbeddedIdP.StaticConnectors (NetBird v0.67.2+)',
    )
    .option(
      '--fix-management-json',
      'when a repaired connector is static, fix management.json too (backup first, written in place)',
    )
    .option('--restart <container>', 'restart this container through the Docker engine afterwards')
    .option('--allow-insecure', 'allow plain-http issuers with --discover (labs and tests only)')
    .option('--timeout-ms <ms>', 'discovery request timeout', '5000')
    .option('--busy-timeout-ms <ms>', 'how long to wait for a lock held by Dex', '5000')
    .option('--json', 'print one JSON object and nothing else on stdout')
    .addHelpText(
      'after',
      `
Examples:
  netbird-watchdog repair --db ./idp.db --discover --dry-run
  netbird-watchdog repair --db ./idp.db --discover --restart netbird-server
  netbird-watchdog repair --db ./idp.db --connector d1c9q2ll0fgs73cunqsg --issuer https://oauth.id.jumpcloud.com/

Only the "issuer" value inside each chosen connector's stored JSON changes. A verified backup is taken
first, the change is one transaction, and it is checked after commit (restored from the backup if not ok).
A connector whose stored config is not valid JSON is never changed: naming it fails (exit 2); --discover
without --connector skips it, says so, and repairs the others (exit 1).
Exit status: 0 repaired or nothing to do, 1 repair failed (rolled back), an issuer could not be checked
or a connector was skipped, 2 usage or input error.`,
    )
    .action(async (flags: RepairFlags) => {
      await runRepair(flags, io)
    })
}

function positiveInt(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    throw new WatchdogError(
      'USAGE',
      `${name} must be a positive integer, got ${JSON.stringify(value)}`,
    )
  }
  return n
}

async function runRepair(flags: RepairFlags, io: CliIO): Promise<void> {
  if (flags.db === undefined) throw new WatchdogError('USAGE', 'repair needs --db PATH')
  if ((flags.issuer !== undefined) === (flags.discover === true)) {
    throw new WatchdogError('USAGE', 'repair needs exactly one of --issuer URL or --discover')
  }
  if (flags.issuer !== undefined && flags.connector.length === 0) {
    throw new WatchdogError('USAGE', '--issuer needs --connector ID (which connector to change)')
  }
  if (flags.fixManagementJson === true && flags.managementJson === undefined) {
    throw new WatchdogError('USAGE', '--fix-management-json needs --management-json PATH')
  }
  const timeoutMs = positiveInt('--timeout-ms', flags.timeoutMs)
  const busyTimeoutMs = positiveInt('--busy-timeout-ms', flags.busyTimeoutMs)
  let rows: ConnectorRow[]
  try {
    rows = readConnectors(flags.db, { busyTimeoutMs })
  } catch (e) {
    // A writer died mid-transaction. A real repair opens read-write anyway, which rolls it back first;
    // a dry run must not write, so it reports the condition instead.
    if (!isWatchdogError(e, 'DB_HOT_JOURNAL') || flags.dryRun === true) throw e
    rollBackHotJournal(flags.db, { busyTimeoutMs })
    rows = readConnectors(flags.db, { busyTimeoutMs })
  }
  // Defence in depth: whatever we print passes through a filter of every secret idp.db holds.
  const secrets = collectSecrets(rows)
  const out = (text: string): void => writeLine(io.stdout, redactValues(text, secrets))
  const err = (text: string): void => writeLine(io.stderr, redactValues(text, secrets))

  for (const id of flags.connector) {
    if (!rows.some((r) => r.id === id)) {
      throw new WatchdogError(
        'CONNECTOR_NOT_FOUND',
        `no connector ${JSON.stringify(id)} in ${flags.db} (have: ${rows.map((r) => r.id).join(', ')})`,
      )
    }
    const configError = rows.find((r) => r.id === id)?.configError
    if (configError !== undefined) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${configError}; not changing it (restore a backup with \`netbird-watchdog backups restore\` or re-create the connector in the dashboard)`,
      )
    }
  }
  // Without --connector, --discover looks at every connector: the unusable ones are skipped, not fatal.
  const skipped: Skipped[] =
    flags.issuer === undefined && flags.connector.length === 0
      ? rows.flatMap((r) =>
          r.configError !== undefined ? [{ connectorId: r.id, reason: r.configError }] : [],
        )
      : []

  let changes: IssuerChange[]
  const unresolved: Unresolved[] = []
  if (flags.issuer !== undefined) {
    const to = flags.issuer
    changes = flags.connector.map((connectorId) => ({ connectorId, to }))
  } else {
    changes = await discoverChanges(rows, flags, { timeoutMs }, unresolved)
  }

  let result: RepairResult
  try {
    result = await repairIssuers({
      dbPath: flags.db,
      changes,
      dryRun: flags.dryRun === true,
      ...(flags.backupDir !== undefined ? { backupDir: flags.backupDir } : {}),
      ...(flags.managementJson !== undefined ? { managementJsonPath: flags.managementJson } : {}),
      fixStaticConnectors: flags.fixManagementJson === true,
      version: readVersion(),
      busyTimeoutMs,
    })
  } catch (e) {
    if (e instanceof WatchdogError) {
      throw new WatchdogError(e.code, redactValues(e.message, secrets), { cause: e })
    }
    throw e
  }

  let restartError: string | undefined
  if (flags.restart !== undefined && !result.dryRun && changedAnything(result)) {
    try {
      await restartContainer(flags.restart)
      result.restarted = flags.restart
    } catch (e) {
      restartError = errorMessage(e)
    }
  }

  if (flags.json === true) {
    const obj: Record<string, unknown> = {
      db: result.db,
      dryRun: result.dryRun,
      backup: result.backup,
      changes: result.changes,
      restarted: result.restarted,
    }
    if (result.managementJson !== undefined) obj.managementJson = result.managementJson
    if (unresolved.length > 0) obj.unresolved = unresolved
    if (skipped.length > 0) obj.skipped = skipped
    if (restartError !== undefined) obj.restartError = restartError
    out(JSON.stringify(obj))
  } else {
    out(formatResult(result, flags))
    for (const u of unresolved)
      err(`could not check connector ${u.connectorId} (${u.issuer}): ${u.reason}`)
    for (const k of skipped) err(`skipped connector ${k.connectorId}: ${k.reason}; not changed`)
    if (restartError !== undefined)
      err(`restart of ${String(flags.restart)} failed: ${restartError}`)
  }
  io.setExitCode(
    unresolved.length > 0 || skipped.length > 0 || restartError !== undefined
      ? exitCodes.problems
      : exitCodes.ok,
  )
}

function collectSecrets(rows: readonly ConnectorRow[]): string[] {
  const secrets: string[] = []
  for (const r of rows) {
    const s = r.config?.clientSecret
    if (typeof s === 'string') secrets.push(s)
    // The raw (escaped) form too, in case anything ever echoes stored text.
    if (r.rawConfig !== null) {
      const m = /"clientSecret"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(r.rawConfig)
      if (m?.[1] !== undefined) secrets.push(m[1].slice(1, -1))
    }
  }
  return secrets
}

/**
 * For each OIDC connector (or the chosen ones): fetch discovery from the stored issuer; when the returned
 * issuer differs, check that the returned value is itself stable (its own discovery returns it exactly),
 * which is what go-oidc will demand after the fix.
 */
async function discoverChanges(
  rows: readonly ConnectorRow[],
  flags: RepairFlags,
  opts: { timeoutMs: number },
  unresolved: Unresolved[],
): Promise<IssuerChange[]> {
  const chosen =
    flags.connector.length > 0
      ? rows.filter((r) => flags.connector.includes(r.id))
      : rows.filter((r) => connectorIssuer(r) !== undefined)
  const allowInsecure = flags.allowInsecure === true
  const changes: IssuerChange[] = []
  for (const row of chosen) {
    const stored = connectorIssuer(row)
    if (stored === undefined) {
      throw new WatchdogError(
        'REPAIR_REFUSED',
        `connector ${JSON.stringify(row.id)} (type ${row.type}) has no issuer to discover`,
      )
    }
    if (!allowInsecure && !stored.startsWith('https://')) {
      unresolved.push({
        connectorId: row.id,
        issuer: stored,
        reason: 'not an https issuer (use --allow-insecure for plain http in labs and tests)',
      })
      continue
    }
    const first = await fetchDiscovery(stored, { timeoutMs: opts.timeoutMs, allowInsecure })
    if (!first.ok) {
      unresolved.push({
        connectorId: row.id,
        issuer: stored,
        reason: `${first.reason}: ${first.message}`,
      })
      continue
    }
    if (issuersMatch(stored, first.issuer)) {
      // idp.db is right; a no-op change still lets repairIssuers check a static entry in management.json.
      if (flags.managementJson !== undefined) changes.push({ connectorId: row.id, to: stored })
      continue
    }
    const to = first.issuer
    const second = await fetchDiscovery(to, { timeoutMs: opts.timeoutMs, allowInsecure })
    if (!second.ok || !issuersMatch(to, second.issuer)) {
      unresolved.push({
        connectorId: row.id,
        issuer: stored,
        reason: `the provider returns ${JSON.stringify(to)} (${describeIssuerDifference(stored, to)}), but discovery from that issuer ${second.ok ? `returns ${JSON.stringify(second.issuer)}` : `fails (${second.reason})`}; not changing it`,
      })
      continue
    }
    changes.push({ connectorId: row.id, to })
  }
  return changes
}

async function restartContainer(name: string): Promise<void> {
  // dockerode's modem honours DOCKER_HOST / the default socket.
  const docker = new Docker()
  try {
    await docker.ping()
  } catch (e) {
    throw new WatchdogError(
      'DOCKER_UNAVAILABLE',
      `Docker engine not reachable: ${errorMessage(e)}`,
      {
        cause: e,
      },
    )
  }
  try {
    await docker.getContainer(name).restart({ t: 10 })
  } catch (e) {
    throw new WatchdogError('DOCKER_ACTION_FAILED', `docker restart ${name}: ${errorMessage(e)}`, {
      cause: e,
    })
  }
}

/** Anything NetBird has to be restarted for: an idp.db change or a management.json change. */
function changedAnything(r: RepairResult): boolean {
  return r.changes.length > 0 || (r.managementJson?.changes.length ?? 0) > 0
}

function formatResult(r: RepairResult, flags: RepairFlags): string {
  const lines: string[] = []
  if (r.changes.length === 0) {
    lines.push(`${r.db}: nothing to repair`)
  } else {
    lines.push(r.dryRun ? `${r.db}: would change (dry run, nothing written):` : `${r.db}: changed:`)
    for (const c of r.changes) {
      lines.push(
        `  connector ${c.connectorId}: ${c.field} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`,
      )
    }
  }
  if (r.managementJson !== undefined) {
    for (const c of r.managementJson.changes) {
      lines.push(
        `  ${r.managementJson.path}: static connector ${c.connectorId}: ${c.field} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`,
      )
    }
    if (r.managementJson.backup !== null)
      lines.push(`  management.json backup: ${r.managementJson.backup}`)
  }
  if (r.backup !== null) lines.push(`  verified backup: ${r.backup}`)
  if (r.restarted !== null) lines.push(`  restarted container ${r.restarted}`)
  else if (flags.restart !== undefined && r.dryRun && changedAnything(r)) {
    lines.push(`  would restart container ${flags.restart}`)
  } else if (!r.dryRun && changedAnything(r) && flags.restart === undefined) {
    lines.push('  restart NetBird (management or netbird-server container) to load the fix')
  }
  return lines.join('\n')
}
