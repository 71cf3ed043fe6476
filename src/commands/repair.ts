// `netbird-watchdog repair`: fix connector issuers in the IdP store, safely (heal/repair.ts: verified
// backup, one transaction, verify), with the new issuer either given (--issuer) or judged from each
// provider's discovery document by the one issuer policy (--discover, core/issuer-policy.ts) — the
// same policy the self-healing daemon and `doctor` apply, so they never disagree.
// Why ~430 lines: a third of it is the `--help` text and the text and `--json` output, which an
// operator reads and which stay next to the flags they describe.
import type { Command } from 'commander'
import {
  connectorIssuer,
  isOidcConnector,
  issuerProblem,
  type ConnectorRow,
} from '../core/connectors.js'
import { changesFor, type IssuerChange } from '../core/edit-plan.js'
import type { IssuerVerdict } from '../core/issuer-policy.js'
import { quoteText } from '../core/issuer.js'
import { redactValues } from '../core/redact.js'
import { DockerEngine, dockerConnection } from '../docker/engine.js'
import { WatchdogError, errorMessage, isWatchdogError } from '../errors.js'
import { repairIssuers, type RepairResult } from '../heal/repair.js'
import { discoverConnectors } from '../oidc/connector-discovery.js'
import { fetchDiscovery } from '../oidc/discovery.js'
import { backupDirFor, openStore } from '../store/open.js'
import { resolveStore } from '../locate/resolve-store.js'
import type { IdpStore } from '../store/port.js'
import { readVersion } from '../version.js'
import { intFlag, waitMs } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

interface RepairFlags {
  db?: string
  configYaml?: string
  connector: string[]
  issuer?: string
  discover?: boolean
  dryRun?: boolean
  backupDir?: string
  managementJson?: string
  fixManagementJson?: boolean
  restart?: string
  stopTimeout: string
  allowInsecure?: boolean
  timeoutMs: string
  busyTimeoutMs: string
  json?: boolean
}

/** A connector `--discover` looked at but did not change, and why. */
interface Unresolved {
  connectorId: string
  issuer: string
  reason: string
  /** Internal: discovery failed (`unreachable`) or the policy refused the answer (`refused`). */
  kind?: 'unreachable' | 'refused'
}

/** A connector `--discover` did not look at (no config, an unusable config), and why. */
interface Skipped {
  connectorId: string
  reason: string
}

export function registerRepair(program: Command, io: CliIO): void {
  program
    .command('repair')
    .description(
      "Fix SSO connector issuers in NetBird's IdP store (idp.db or PostgreSQL), with a verified backup first.",
    )
    .option(
      '--db <path|dsn>',
      "idp.db (e.g. /var/lib/docker/volumes/<project>_netbird_data/_data/idp.db), or the PostgreSQL store's DSN (postgres://user@host:5432/dbname, or host=… dbname=… key=value pairs)",
    )
    .option(
      '--config-yaml <path>',
      "without --db: the store the combined server's config.yaml names (server.authStore)",
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
      'where backups go (default: netbird-watchdog-backups/ next to idp.db; required for PostgreSQL)',
    )
    .option(
      '--management-json <path>',
      'management.json to check for EmbeddedIdP.StaticConnectors (NetBird v0.67.2+); without --db, also the store its EmbeddedIdP.Storage names',
    )
    .option(
      '--fix-management-json',
      'when a repaired connector is static, fix management.json too (backup first, written in place)',
    )
    .option('--restart <container>', 'restart this container through the Docker engine afterwards')
    .option('--stop-timeout <s>', 'seconds the engine waits for --restart before killing it', '10')
    .option('--allow-insecure', 'allow plain-http issuers (labs and tests only)')
    .option('--timeout-ms <ms>', 'discovery request timeout', '5000')
    .option(
      '--busy-timeout-ms <ms>',
      'how long to wait for a lock held by Dex (SQLite busy timeout, PostgreSQL lock_timeout)',
      '5000',
    )
    .option('--json', 'print one JSON object and nothing else on stdout')
    .addHelpText(
      'after',
      `
Examples:
  netbird-watchdog repair --db ./idp.db --discover --dry-run
  netbird-watchdog repair --db ./idp.db --discover --restart netbird-server
  netbird-watchdog repair --db ./idp.db --connector d1c9q2ll0fgs73cunqsg --issuer https://oauth.id.jumpcloud.com/
  PGPASSWORD=… netbird-watchdog repair --db 'postgres://netbird@db:5432/netbird' --backup-dir ./backups --discover
  netbird-watchdog repair --config-yaml /etc/netbird/config.yaml --backup-dir ./backups --discover

The store: --db (a file path, or a PostgreSQL DSN), else what --config-yaml or --management-json name
(server.authStore / EmbeddedIdP.Storage: a PostgreSQL DSN, or idp.db when that path exists here).
A PostgreSQL store's backups need --backup-dir. The DSN's password is never printed; keep it off the
command line with PGPASSWORD or a NetBird config file.

Only the "issuer" value inside each chosen connector's stored JSON changes. A verified backup is taken
first, the change is one transaction, and it is checked after commit.
--discover writes a provider's answer only when it is a valid issuer on the same origin (scheme, host,
port) as the stored one and discovery at the new value returns it again — the rule the self-healing
daemon applies too. Anything else is reported and left alone; set it with --issuer if it is right.
--issuer is validated the same way (https, a host that is a DNS name, an IPv4 address or a bracketed
IPv6 address, no query, fragment or user info, no control, invisible or bidirectional-control
characters, at most 2048 bytes).
A connector whose stored config is not valid JSON is never changed: naming it fails (exit 2); --discover
without --connector skips it, says so, and repairs the others (exit 1).
Exit status: 0 repaired or nothing to do, 1 repair failed (undone), an issuer could not be checked or
was not changed, or a connector was skipped, 2 usage or input error, 130/143 stopped by SIGINT/SIGTERM.`,
    )
    .action(async (flags: RepairFlags) => {
      await runRepair(flags, io)
    })
}

async function runRepair(flags: RepairFlags, io: CliIO): Promise<void> {
  if (
    flags.db === undefined &&
    flags.configYaml === undefined &&
    flags.managementJson === undefined
  ) {
    throw new WatchdogError(
      'USAGE',
      'repair needs --db PATH|DSN (or --config-yaml / --management-json naming the store)',
    )
  }
  if ((flags.issuer !== undefined) === (flags.discover === true)) {
    throw new WatchdogError('USAGE', 'repair needs exactly one of --issuer URL or --discover')
  }
  if (flags.issuer !== undefined && flags.connector.length === 0) {
    throw new WatchdogError('USAGE', '--issuer needs --connector ID (which connector to change)')
  }
  if (flags.fixManagementJson === true && flags.managementJson === undefined) {
    throw new WatchdogError('USAGE', '--fix-management-json needs --management-json PATH')
  }
  const timeoutMs = intFlag('--timeout-ms', flags.timeoutMs, waitMs)
  const busyTimeoutMs = intFlag('--busy-timeout-ms', flags.busyTimeoutMs, waitMs)
  const stopTimeoutSeconds = intFlag('--stop-timeout', flags.stopTimeout, { min: 0, max: 3600 })
  const allowInsecure = flags.allowInsecure === true
  const location = resolveStore({
    ...(flags.db !== undefined ? { db: flags.db } : {}),
    ...(flags.configYaml !== undefined ? { configYaml: flags.configYaml } : {}),
    ...(flags.managementJson !== undefined ? { managementJson: flags.managementJson } : {}),
    env: io.env,
  })
  if (location === undefined) {
    throw new WatchdogError(
      'USAGE',
      "the NetBird config given names no PostgreSQL store and no idp.db that exists here (NetBird's paths are inside its container): give --db PATH|DSN",
    )
  }
  // Checked before anything is read: a real run needs a place for its verified backup; a dry run
  // writes nothing, so a PostgreSQL store needs no backup directory for it.
  const backupDir =
    flags.dryRun === true && location.engine === 'postgres' && flags.backupDir === undefined
      ? undefined
      : backupDirFor(location, flags.backupDir)
  const store: IdpStore = openStore(location, { busyTimeoutMs })
  try {
    await repairWith(store, backupDir, flags, io, { timeoutMs, stopTimeoutSeconds, allowInsecure })
  } finally {
    await store.close()
  }
}

async function repairWith(
  store: IdpStore,
  backupDir: string | undefined,
  flags: RepairFlags,
  io: CliIO,
  opts: { timeoutMs: number; stopTimeoutSeconds: number; allowInsecure: boolean },
): Promise<void> {
  const { timeoutMs, stopTimeoutSeconds, allowInsecure } = opts
  const rows = await readForRepair(store, flags.dryRun === true)
  // Defence in depth: whatever we print passes through a filter of every secret the store holds.
  const secrets = collectSecrets(rows)
  const out = (text: string): void => writeLine(io.stdout, redactValues(text, secrets))
  const err = (text: string): void => writeLine(io.stderr, redactValues(text, secrets))

  for (const id of flags.connector) {
    const row = rows.find((r) => r.id === id)
    if (row === undefined) {
      throw new WatchdogError(
        'CONNECTOR_NOT_FOUND',
        `no connector ${quoteText(id)} in ${store.label} (have: ${rows.map((r) => r.id).join(', ')})`,
      )
    }
    if (row.configError !== undefined) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${row.configError}; not changing it (restore a backup with \`netbird-watchdog backups restore\` or re-create the connector in the dashboard)`,
      )
    }
    // An issuer that is a number, null, missing or named by several keys: bad input, before anything
    // is opened for writing.
    const problem = isOidcConnector(row) ? issuerProblem(row) : undefined
    if (problem !== undefined) {
      throw new WatchdogError(
        'CONNECTOR_CONFIG_INVALID',
        `${problem}; not changing it (set it in the dashboard, Settings → Identity Providers)`,
      )
    }
  }

  let changes: IssuerChange[]
  const unresolved: Unresolved[] = []
  const skipped: Skipped[] = []
  if (flags.issuer !== undefined) {
    const to = flags.issuer
    changes = flags.connector.map((connectorId) => ({ connectorId, to }))
  } else {
    const chosen =
      flags.connector.length > 0 ? rows.filter((r) => flags.connector.includes(r.id)) : rows
    for (const row of chosen) {
      if (
        flags.connector.length > 0 &&
        (!isOidcConnector(row) || connectorIssuer(row) === undefined)
      ) {
        throw new WatchdogError(
          'REPAIR_REFUSED',
          `connector ${quoteText(row.id)} (type ${row.type}) has no issuer to discover`,
        )
      }
    }
    throwIfStopped(io)
    const { verdicts } = await discoverConnectors(
      chosen,
      (issuer) => fetchDiscovery(issuer, { timeoutMs, allowInsecure, signal: io.signal }),
      { allowInsecure },
    )
    changes = planFromVerdicts(verdicts, flags.managementJson !== undefined, unresolved, skipped)
  }

  throwIfStopped(io)
  let result: RepairResult
  try {
    result = await repairIssuers({
      store,
      changes,
      dryRun: flags.dryRun === true,
      // Only a dry run has none, and it never backs up.
      backupDir: backupDir ?? '.',
      allowInsecure,
      ...(flags.managementJson !== undefined ? { managementJsonPath: flags.managementJson } : {}),
      fixStaticConnectors: flags.fixManagementJson === true,
      version: readVersion(),
    })
  } catch (e) {
    if (e instanceof WatchdogError) {
      throw new WatchdogError(e.code, redactValues(e.message, secrets), { cause: e })
    }
    throw e
  }

  let restarted: string | null = null
  let restartError: string | undefined
  if (
    flags.restart !== undefined &&
    !result.dryRun &&
    changedAnything(result) &&
    !io.signal.aborted
  ) {
    try {
      // The same Docker port the daemon uses: DOCKER_HOST, else the local socket.
      const docker = new DockerEngine(
        dockerConnection({ socketPath: '/var/run/docker.sock' }, io.env),
      )
      await docker.restart(flags.restart, { timeoutSeconds: stopTimeoutSeconds })
      restarted = flags.restart
    } catch (e) {
      restartError = errorMessage(e)
    }
  }

  if (flags.json === true) {
    const obj: Record<string, unknown> = {
      db: result.db,
      dryRun: result.dryRun,
      backup: result.backup?.path ?? null,
      changes: result.changes,
      restarted,
    }
    if (result.managementJson !== undefined) obj.managementJson = result.managementJson
    if (unresolved.length > 0) obj.unresolved = unresolved.map(({ kind: _kind, ...u }) => u)
    if (skipped.length > 0) obj.skipped = skipped
    if (result.stale.length > 0) obj.stale = result.stale
    if (restartError !== undefined) obj.restartError = restartError
    out(JSON.stringify(obj))
  } else {
    out(formatResult(result, flags, restarted))
    for (const u of unresolved) {
      const what = u.kind === 'refused' ? 'did not change' : 'could not check'
      err(`${what} connector ${u.connectorId} (${quoteText(u.issuer)}): ${u.reason}`)
    }
    for (const k of skipped) err(`skipped connector ${k.connectorId}: ${k.reason}; not changed`)
    for (const s of result.stale) {
      err(
        `connector ${s.connectorId} changed since it was read (now ${quoteText(s.found ?? '(none)')}); not changed`,
      )
    }
    if (restartError !== undefined)
      err(`restart of ${String(flags.restart)} failed: ${restartError}`)
  }
  io.setExitCode(
    unresolved.length > 0 ||
      skipped.length > 0 ||
      result.stale.length > 0 ||
      restartError !== undefined
      ? exitCodes.problems
      : exitCodes.ok,
  )
}

/**
 * The connector rows a repair starts from. A writer that died mid-transaction leaves a hot journal: a
 * real repair's write transaction rolls it back first (as any writer would), so it is read that way;
 * a dry run must not write, so it reports the condition instead.
 */
async function readForRepair(store: IdpStore, dryRun: boolean): Promise<ConnectorRow[]> {
  try {
    return await store.readConnectors()
  } catch (e) {
    if (!isWatchdogError(e, 'DB_HOT_JOURNAL') || dryRun) throw e
    return await store.transaction((tx) => tx.readConnectors())
  }
}

/** The policy's verdicts -> the changes to make; what is not changed goes to `unresolved`/`skipped`. */
function planFromVerdicts(
  verdicts: readonly IssuerVerdict[],
  checkStatics: boolean,
  unresolved: Unresolved[],
  skipped: Skipped[],
): IssuerChange[] {
  for (const v of verdicts) {
    switch (v.kind) {
      case 'fix':
      case 'match':
        break
      case 'refuse':
        unresolved.push({
          connectorId: v.connectorId,
          issuer: v.stored,
          reason: `${v.detail}; not changing it`,
          kind: 'refused',
        })
        break
      case 'unreachable':
        unresolved.push({
          connectorId: v.connectorId,
          issuer: v.stored,
          reason: `${v.reason}: ${v.message}`,
          kind: 'unreachable',
        })
        break
      case 'skipped':
        skipped.push({ connectorId: v.connectorId, reason: v.detail })
        break
    }
  }
  return changesFor(verdicts, { checkStatics })
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

/** Anything NetBird has to be restarted for: a store change or a management.json change. */
function changedAnything(r: RepairResult): boolean {
  return r.changes.length > 0 || (r.managementJson?.changes.length ?? 0) > 0
}

function formatResult(r: RepairResult, flags: RepairFlags, restarted: string | null): string {
  const lines: string[] = []
  if (r.changes.length === 0) {
    lines.push(`${r.db}: nothing to repair`)
  } else {
    lines.push(r.dryRun ? `${r.db}: would change (dry run, nothing written):` : `${r.db}: changed:`)
    for (const c of r.changes) {
      lines.push(
        `  connector ${c.connectorId}: ${c.field} ${quoteText(c.from)} → ${quoteText(c.to)}`,
      )
    }
  }
  if (r.managementJson !== undefined) {
    for (const c of r.managementJson.changes) {
      lines.push(
        `  ${r.managementJson.path}: static connector ${c.connectorId}: ${c.field} ${quoteText(c.from)} → ${quoteText(c.to)}`,
      )
    }
    if (r.managementJson.backup !== null)
      lines.push(`  management.json backup: ${r.managementJson.backup}`)
  }
  if (r.backup !== null) lines.push(`  verified backup: ${r.backup.path}`)
  if (restarted !== null) lines.push(`  restarted container ${restarted}`)
  else if (flags.restart !== undefined && r.dryRun && changedAnything(r)) {
    lines.push(`  would restart container ${flags.restart}`)
  } else if (!r.dryRun && changedAnything(r) && flags.restart === undefined) {
    lines.push('  restart NetBird (management or netbird-server container) to load the fix')
  }
  return lines.join('\n')
}
