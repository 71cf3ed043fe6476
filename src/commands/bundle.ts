// `netbird-watchdog bundle`: one .tar.gz an operator can attach to a NetBird issue — versions (image
// tags through the Docker engine), the scan of the NetBird container's recent log, `doctor --json`,
// the connector list and NetBird's config files with every secret removed, the watchdog's heal
// history (its pre-repair / pre-rollback / pre-restore backup manifests), and a README saying what
// was removed and what is missing. Each part that cannot be gathered is named, and the bundle is
// still written (exit 1); bad input writes nothing (exit 2).
// Why ~670 lines: one command that gathers from five sources (engine, log, store, files, backups),
// each failing on its own, and the README that accounts for all of them.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { stringify as stringifyYaml } from 'yaml'
import {
  redactConfigText,
  redactedMark,
  redactText,
  redactTree,
  secretValuesOf,
  type RedactionNote,
} from '../core/bundle-redact.js'
import { quoteText } from '../core/issuer.js'
import { netbirdConfigOf } from '../core/netbird-layout.js'
import { getRule } from '../core/rules.js'
import { matchTarget } from '../core/targets.js'
import {
  containerVersions,
  healHistory,
  scanContainerLog,
  type ContainerVersion,
  type HealHistory,
  type LogScan,
} from '../bundle/collect.js'
import { tarGz, type TarEntry } from '../bundle/tar.js'
import { loadConfig } from '../config/load.js'
import type { Config, Secrets } from '../config/schema.js'
import { parseYaml } from '../config/yaml.js'
import { runDoctor } from '../doctor/run-doctor.js'
import {
  DockerEngine,
  dockerConnection,
  type ContainerDetails,
  type DockerPort,
} from '../docker/engine.js'
import { WatchdogError, errorMessage, isWatchdogError } from '../errors.js'
import { defaultBackupDir } from '../store/backup-files.js'
import { stampOf, writePrivateFileAtomically } from '../files.js'
import {
  backupDirFor,
  defaultPostgresBackupDir,
  openStore,
  type StoreLocation,
} from '../store/open.js'
import { resolveStore } from '../locate/resolve-store.js'
import { Secret } from '../core/dsn.js'
import { readVersion } from '../version.js'
import { toJson as doctorJson } from './doctor.js'
import { intFlag, waitMs } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

interface BundleFlags {
  output?: string
  container?: string
  since: string
  config?: string
  db?: string
  configYaml?: string
  managementJson?: string
  backupDir?: string
  timeoutMs?: string
  allowInsecure?: boolean
  json?: boolean
}

/** How far back `--since` may reach, and the heal history at least. */
const maxSinceMs = 90 * 86_400_000
const historyMs = 30 * 86_400_000

export function registerBundle(program: Command, io: CliIO): void {
  program
    .command('bundle')
    .description(
      'Write one .tar.gz to attach to a NetBird issue: versions, the scan of the NetBird container’s recent log, doctor --json, the connectors and NetBird’s config with every secret removed, the heal history, and a README saying what was removed.',
    )
    .option(
      '-o, --output <file>',
      'where to write it (default: ./netbird-watchdog-bundle-<UTC time>.tar.gz); never overwritten',
    )
    .option(
      '--container <name>',
      'the NetBird container (default: targets.names, else the one auto-detection finds)',
    )
    .option(
      '--since <when>',
      'how far back to read its log: 30m, 12h, 7d, or an RFC 3339 time',
      '24h',
    )
    .option('--config <file>', 'watchdog config file (targets, docker, idp.*, backups.dir, oidc.*)')
    .option('--db <path|dsn>', "the embedded IdP's store (default: as doctor finds it)")
    .option(
      '--config-yaml <path>',
      "the combined server's config.yaml (default: idp.configYaml, else the file the container reads)",
    )
    .option(
      '--management-json <path>',
      "NetBird's management.json (default: idp.managementJson, else the file the container reads)",
    )
    .option(
      '--backup-dir <dir>',
      "the watchdog's backup directory, for the heal history (default: backups.dir, else next to idp.db)",
    )
    .option(
      '--timeout-ms <ms>',
      'deadline of each network check of doctor (default: oidc.timeoutMs, 5000)',
    )
    .option('--allow-insecure', 'let doctor fetch plain-http issuers (labs and tests only)')
    .option('--json', 'print one JSON object about the archive and nothing else')
    .addHelpText(
      'after',
      `
Examples:
  netbird-watchdog bundle                                  # auto-detected container, last 24 h
  netbird-watchdog bundle --container netbird-server --since 2h --config-yaml ./config.yaml
  docker exec netbird-watchdog node /app/dist/cli.js bundle -o /tmp/nb.tar.gz && docker cp netbird-watchdog:/tmp/nb.tar.gz .

Inside: README.md (what was removed, what is missing), versions.json, scan.json and scan.txt, doctor.json,
connectors.json, config/<NetBird's config files>, heal-history.json. Removed before anything is written:
values under secret key names (client secrets, passwords, tokens, keys, hashes), DSN passwords, those
values wherever else they appear (log lines, doctor messages), and anything shaped like a secret (URL
passwords, password= pairs, JWTs, bearer tokens, long random strings). Not included: the container's
environment, idp.db itself, backup contents. Read the files once before you post them.
Exit status: 0 written with every part, 1 written without some parts (the README and stderr say which),
2 usage, config or input error (nothing written), 130/143 stopped by SIGINT/SIGTERM.`,
    )
    .action(async (flags: BundleFlags) => {
      await runBundle(flags, io)
    })
}

interface Part {
  readonly name: string
  readonly why: string
}

async function runBundle(flags: BundleFlags, io: CliIO): Promise<void> {
  const now = new Date()
  const { config, secrets } = loadConfig(flags.config, io.env)
  const sinceMs = parseSince(flags.since, now.getTime())
  const timeoutMs =
    flags.timeoutMs !== undefined
      ? intFlag('--timeout-ms', flags.timeoutMs, waitMs)
      : config.oidc.timeoutMs
  const output = resolve(flags.output ?? `netbird-watchdog-bundle-${stampOf(now)}.tar.gz`)
  checkOutput(output)
  const top = `netbird-watchdog-bundle-${stampOf(now)}`
  const missing: Part[] = []
  const files: { name: string; text: string }[] = []
  const notes: RedactionNote[] = []

  // The container, through the engine.
  const docker: DockerPort = new DockerEngine(dockerConnection(config.docker, io.env))
  let target: ContainerDetails | undefined
  try {
    await docker.ping(io.signal)
    target = await findTarget(docker, flags, config, io.signal)
    if (target === undefined) {
      missing.push({
        name: 'the NetBird container',
        why: 'no container matches the watchdog’s targets (names, compose services, label, auto-detection): give --container',
      })
    }
  } catch (err) {
    if (isWatchdogError(err, 'USAGE')) throw err
    missing.push({ name: 'the Docker engine', why: `unreachable: ${errorMessage(err)}` })
  }
  throwIfStopped(io)

  // NetBird's config files: given, configured, or the one the container reads.
  const layout = target !== undefined ? netbirdConfigOf(target) : undefined
  let configYaml = flags.configYaml ?? config.idp.configYaml
  let managementJson = flags.managementJson ?? config.idp.managementJson
  let discovered: string | undefined
  if (configYaml === undefined && managementJson === undefined && layout !== undefined) {
    const candidate = layout.hostPath
    if (candidate !== undefined && readable(candidate)) {
      discovered = `${quoteText(layout.configPath)} of ${target?.name ?? 'the container'} (its ${layout.from === 'argument' ? '--config' : 'default config'}), on this machine ${candidate}`
      if (layout.layout === 'combined') configYaml = candidate
      else managementJson = candidate
    } else {
      missing.push({
        name: "NetBird's config file",
        why: `the container reads ${quoteText(layout.configPath.slice(0, 256))}${candidate !== undefined ? ` (${quoteText(candidate.slice(0, 256))} on its host)` : ''}, which is not readable here: give --${layout.layout === 'combined' ? 'config-yaml' : 'management-json'}`,
      })
    }
  } else if (configYaml === undefined && managementJson === undefined) {
    missing.push({
      name: "NetBird's config file",
      why: 'none given, and no container to read it from: give --config-yaml or --management-json',
    })
  }
  const configTexts = [configYaml, managementJson]
    .filter((p): p is string => p !== undefined)
    .map((path) => ({ path, text: readInput(path) }))

  // Every secret value the inputs hold, to remove wherever it shows up again.
  const known: string[] = [...watchdogSecrets(secrets)]
  const parsedConfigs = configTexts.map((c) => {
    const parsed = parseConfigText(c.path, c.text)
    if (parsed !== undefined) known.push(...secretValuesOf(parsed))
    return { ...c, parsed }
  })

  // The IdP store and its connectors.
  let location: StoreLocation | undefined
  try {
    location = resolveStore({
      ...(flags.db !== undefined ? { db: flags.db } : {}),
      ...(secrets.idpDsn !== undefined
        ? { dsn: secrets.idpDsn }
        : config.idp.dsn !== undefined
          ? { dsn: { value: new Secret(config.idp.dsn), source: 'idp.dsn' } }
          : {}),
      ...(configYaml !== undefined ? { configYaml } : {}),
      ...(managementJson !== undefined ? { managementJson } : {}),
      env: io.env,
      dbPath: { path: config.idp.dbPath, onlyIfExists: true },
      onUnusableNetbirdFile: (err) =>
        missing.push({ name: 'the IdP store named by NetBird’s config', why: err.message }),
    })
  } catch (err) {
    if (flags.db !== undefined || !isWatchdogError(err)) throw err
    missing.push({ name: 'the IdP store', why: err.message })
  }
  if (location?.engine === 'postgres' && location.settings.password !== undefined) {
    known.push(location.settings.password.reveal())
  }
  const store =
    location !== undefined
      ? openStore(location, { busyTimeoutMs: config.idp.busyTimeoutMs })
      : undefined
  let connectors: unknown
  try {
    if (store === undefined) {
      if (location === undefined && !missing.some((m) => m.name.startsWith('the IdP store'))) {
        missing.push({
          name: 'the IdP store',
          why: 'not found: give --db (idp.db or a PostgreSQL DSN)',
        })
      }
    } else {
      try {
        const rows = await store.readConnectors()
        for (const r of rows) known.push(...secretValuesOf(r.config))
        connectors = rows.map((r) => ({
          id: r.id,
          type: r.type,
          name: r.name,
          ...(r.resourceVersion !== '' ? { resourceVersion: r.resourceVersion } : {}),
          ...(r.configError !== undefined ? { configError: r.configError } : { config: r.config }),
        }))
      } catch (err) {
        missing.push({ name: 'the connector list', why: errorMessage(err) })
      }
    }
    throwIfStopped(io)
    // doctor --json, as the command prints it (its messages are scrubbed of the secrets it read).
    try {
      const report = await runDoctor(
        {
          ...(store !== undefined && connectors !== undefined ? { store } : {}),
          ...(configYaml !== undefined ? { configYaml } : {}),
          ...(managementJson !== undefined ? { managementJson } : {}),
          dbPath: config.idp.dbPath,
        },
        {
          timeoutMs,
          allowInsecure: flags.allowInsecure === true || config.oidc.allowInsecure,
          env: io.env,
          signal: io.signal,
        },
      )
      files.push({ name: 'doctor.json', text: json(doctorJson(report)) })
    } catch (err) {
      if (isWatchdogError(err, 'INTERRUPTED')) throw err
      missing.push({ name: 'doctor', why: errorMessage(err) })
    }
  } finally {
    await store?.close()
  }
  throwIfStopped(io)
  if (connectors !== undefined) {
    files.push({
      name: 'connectors.json',
      text: json(redactTree(connectors, known, 'connectors.json', notes)),
    })
  }

  // NetBird's config files, redacted by key, value and shape.
  for (const c of parsedConfigs) {
    const name = `config/${archiveName(c.path)}`
    const text =
      c.parsed !== undefined
        ? c.path.endsWith('.json')
          ? json(redactTree(c.parsed, known, name, notes))
          : redactYamlText(c.text, c.parsed, known, name, notes)
        : redactConfigText(c.text, known, name, notes)
    files.push({ name, text })
  }

  // The container's recent log, and the versions.
  let scan: LogScan | undefined
  let versions: ContainerVersion[] = []
  if (target !== undefined) {
    try {
      scan = await scanContainerLog(docker, target, BigInt(sinceMs) * 1_000_000n, io.signal)
    } catch (err) {
      missing.push({ name: `the log of ${target.name}`, why: errorMessage(err) })
    }
    try {
      versions = await containerVersions(docker, target, io.signal)
    } catch (err) {
      missing.push({ name: 'the other NetBird containers', why: errorMessage(err) })
      versions = []
    }
  }
  throwIfStopped(io)
  if (scan !== undefined) {
    files.push({ name: 'scan.json', text: json(scanJson(scan, sinceMs)) })
    files.push({ name: 'scan.txt', text: scanText(scan, target?.name ?? '', sinceMs) })
  }
  files.push({
    name: 'versions.json',
    text: json({
      watchdog: { version: readVersion() },
      netbird: {
        ...(scan?.netbirdVersion !== undefined ? { version: scan.netbirdVersion } : {}),
        ...(layout !== undefined
          ? { layout: layout.layout, edition: layout.edition, config: layout.configPath }
          : {}),
        containers: versions,
      },
    }),
  })

  // The heal history, from the backup manifests.
  const backupDir = backupDirOf(flags, config, location)
  let history: HealHistory | undefined
  if (backupDir === undefined) {
    missing.push({ name: 'the heal history', why: 'no backup directory known: give --backup-dir' })
  } else {
    try {
      history = healHistory(backupDir, Math.min(sinceMs, now.getTime() - historyMs))
      files.push({ name: 'heal-history.json', text: json(history) })
    } catch (err) {
      missing.push({ name: 'the heal history', why: errorMessage(err) })
    }
  }

  // Last pass over every file: known values and shapes, wherever they are.
  const final: TarEntry[] = files.map((f) => {
    const r = redactText(f.text, known)
    if (r.known > 0) notes.push({ file: f.name, where: 'text', reason: 'known secret value' })
    if (r.shapes > 0) notes.push({ file: f.name, where: 'text', reason: 'secret shape' })
    return { name: `${top}/${f.name}`, data: r.text }
  })
  const readme = renderReadme({
    now,
    sinceMs,
    target,
    layout,
    discovered,
    configTexts,
    files,
    notes,
    missing,
    history,
  })
  final.unshift({ name: `${top}/README.md`, data: redactText(readme, known).text })
  throwIfStopped(io)
  try {
    writePrivateFileAtomically(output, tarGz(final, now))
  } catch (err) {
    throw new WatchdogError('BUNDLE_FAILED', `cannot write ${output}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
  const size = statSync(output).size
  if (flags.json === true) {
    writeLine(
      io.stdout,
      JSON.stringify({
        path: output,
        bytes: size,
        files: final.map((f) => f.name),
        redactions: notes.length,
        missing: missing.map((m) => `${m.name}: ${redactText(m.why, known).text}`),
      }),
    )
  } else {
    writeLine(
      io.stdout,
      `wrote ${output} (${size} bytes, ${final.length} files, ${notes.length} redaction(s))`,
    )
  }
  for (const m of missing)
    writeLine(io.stderr, `missing from the bundle: ${m.name}: ${redactText(m.why, known).text}`)
  io.setExitCode(missing.length > 0 ? exitCodes.problems : exitCodes.ok)
}

/** `30m`, `12h`, `7d`, or an RFC 3339 time, as epoch ms; at most 90 days back. */
export function parseSince(value: string, nowMs: number): number {
  const rel = /^(\d{1,6})([smhd])$/.exec(value)
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
  const at = rel
    ? nowMs - Number(rel[1]) * unit[rel[2] as keyof typeof unit]
    : /^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)$/.test(value)
      ? Date.parse(value)
      : Number.NaN
  if (!Number.isFinite(at) || at > nowMs || nowMs - at > maxSinceMs) {
    throw new WatchdogError(
      'USAGE',
      '--since must be a duration (30m, 12h, 7d: digits and one of s, m, h, d) or an RFC 3339 time such as 2026-08-20T10:00:00Z, in the past, at most 90 days back',
    )
  }
  return at
}

function checkOutput(output: string): void {
  if (existsSync(output)) {
    throw new WatchdogError(
      'USAGE',
      `${output} exists: give --output a new file (a bundle never overwrites one)`,
    )
  }
  const dir = dirname(output)
  let isDir: boolean
  try {
    isDir = statSync(dir).isDirectory()
  } catch {
    isDir = false
  }
  if (!isDir) throw new WatchdogError('USAGE', `--output: ${dir} is not a directory`)
}

/** The container: --container, the first of targets.names, else the first auto-detected (running first). */
async function findTarget(
  docker: DockerPort,
  flags: BundleFlags,
  config: Config,
  signal: AbortSignal,
): Promise<ContainerDetails | undefined> {
  if (flags.container !== undefined) {
    const d = await docker.inspect(flags.container, signal)
    if (d === undefined) {
      throw new WatchdogError(
        'USAGE',
        `--container: no container named ${JSON.stringify(flags.container)} on this engine`,
      )
    }
    return d
  }
  for (const name of config.targets.names) {
    const d = await docker.inspect(name, signal)
    if (d !== undefined) return d
  }
  const t = config.targets
  const selector = {
    names: t.names,
    composeServices: t.composeServices,
    label: t.label,
    autoDetect: t.autoDetect,
  }
  const matching = (await docker.list(signal)).filter((c) => matchTarget(c, selector) !== undefined)
  const pick = matching.find((c) => c.state === 'running') ?? matching[0]
  return pick !== undefined ? docker.inspect(pick.id, signal) : undefined
}

function backupDirOf(
  flags: BundleFlags,
  config: Config,
  location: StoreLocation | undefined,
): string | undefined {
  const explicit = flags.backupDir ?? config.backups.dir
  if (explicit !== undefined) return explicit
  if (location !== undefined)
    return backupDirFor(location, undefined, { postgresDefault: defaultPostgresBackupDir })
  return existsSync(config.idp.dbPath) ? defaultBackupDir(config.idp.dbPath) : undefined
}

/** A config file's name in the archive: its own when short and plain, else what it is. */
function archiveName(path: string): string {
  const name = basename(path)
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,39}$/.test(name) && !name.includes('..')) return name
  return path.endsWith('.json') ? 'management.json' : 'config.yaml'
}

function readable(path: string): boolean {
  try {
    readFileSync(path)
    return true
  } catch {
    return false
  }
}

/** An explicitly named file that cannot be read is an input error (exit 2). */
function readInput(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new WatchdogError('INPUT_UNREADABLE', `cannot read ${path}: ${errorMessage(err)}`, {
      cause: err,
    })
  }
}

/** config.yaml or management.json as data; undefined when it does not parse (it is attached redacted line by line). */
function parseConfigText(path: string, text: string): unknown {
  try {
    return path.endsWith('.json')
      ? (JSON.parse(text.replace(/^\uFEFF/, '')) as unknown)
      : parseYaml(text, path)
  } catch {
    return undefined
  }
}

/**
 * config.yaml keeps its layout and comments: each secret value found by key is removed from the
 * text by value (the parsed tree says which), then the text goes through the shape rules.
 */
function redactYamlText(
  text: string,
  parsed: unknown,
  known: readonly string[],
  file: string,
  notes: RedactionNote[],
): string {
  const keyed: RedactionNote[] = []
  const tree = redactTree(parsed, known, file, keyed)
  notes.push(...keyed)
  const out = redactText(text, [...secretValuesOf(parsed), ...known]).text
  // A value written over several lines (a folded scalar) is not in the text verbatim: then the
  // redacted tree is written instead, without the comments.
  const left = secretValuesOf(parseConfigText(file, out)).filter(
    (v) => v.trim() !== '' && v !== redactedMark,
  )
  return left.length === 0
    ? out
    : `# comments dropped: a secret spans several lines\n${stringifyYaml(tree)}`
}

function watchdogSecrets(secrets: Secrets): string[] {
  const out: string[] = []
  if (secrets.resetToken !== undefined) out.push(secrets.resetToken)
  if (secrets.webhookUrl !== undefined) out.push(secrets.webhookUrl)
  if (secrets.idpDsn !== undefined)
    out.push(...secretValuesOf({ dsn: secrets.idpDsn.value.reveal() }))
  return out
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}

function scanJson(scan: LogScan, sinceMs: number): unknown {
  return {
    since: new Date(sinceMs).toISOString(),
    lines: scan.lines,
    findingsByRule: scan.byRule,
    findingsCut: scan.cut,
    findings: scan.findings.map((f) => ({
      ...(f.time !== undefined ? { time: f.time } : {}),
      stream: f.stream,
      rule: f.rule,
      severity: f.severity,
      fatal: f.fatal,
      ...(f.connectorId !== undefined ? { connectorId: f.connectorId } : {}),
      ...(f.expectedIssuer !== undefined ? { expectedIssuer: f.expectedIssuer } : {}),
      ...(f.returnedIssuer !== undefined ? { returnedIssuer: f.returnedIssuer } : {}),
      text: f.text,
    })),
  }
}

function scanText(scan: LogScan, container: string, sinceMs: number): string {
  const lines = [`${container}: ${scan.lines} line(s) since ${new Date(sinceMs).toISOString()}`]
  for (const [rule, n] of Object.entries(scan.byRule)) lines.push(`  ${rule} ×${n}`)
  for (const f of scan.findings) {
    const r = getRule(f.rule)
    lines.push(
      '',
      `${f.time ?? '?'} ${f.rule} [${f.severity}${f.fatal ? ', fatal' : ''}]`,
      `  ${f.text}`,
      `  fix: ${r.remediation}`,
    )
  }
  if (scan.cut) lines.push('', `(only the first ${scan.findings.length} findings are listed)`)
  return lines.join('\n') + '\n'
}

function renderReadme(r: {
  now: Date
  sinceMs: number
  target: ContainerDetails | undefined
  layout: ReturnType<typeof netbirdConfigOf>
  discovered: string | undefined
  configTexts: readonly { path: string }[]
  files: readonly { name: string }[]
  notes: readonly RedactionNote[]
  missing: readonly Part[]
  history: HealHistory | undefined
}): string {
  const about: Record<string, string> = {
    'versions.json':
      'the watchdog and NetBird versions: each container of the NetBird compose project with its image tag, and the version NetBird logged',
    'scan.json':
      'the findings of the NetBird container’s log (rule, severity, connector, issuers, the line itself, redacted)',
    'scan.txt': 'the same for reading, with each rule’s fix',
    'doctor.json': 'what `netbird-watchdog doctor --json` reports',
    'connectors.json': 'the connectors in the IdP store, secrets removed',
    'heal-history.json':
      'the repairs, rollbacks and restores the watchdog made, from its backup manifests (pre-repair, pre-rollback, pre-restore), and how many backups of each kind exist',
  }
  const lines = [
    '# netbird-watchdog support bundle',
    '',
    `Made ${r.now.toISOString()} by netbird-watchdog ${readVersion()}${r.target !== undefined ? ` for the container ${r.target.name} (image ${r.target.image})` : ''}; its log from ${new Date(r.sinceMs).toISOString()}.`,
    '',
    '## Files',
    '',
  ]
  for (const f of r.files) {
    const text = f.name.startsWith('config/')
      ? `NetBird's ${f.name.slice('config/'.length)} as read from ${r.configTexts.find((c) => `config/${archiveName(c.path)}` === f.name)?.path ?? '?'}, secrets removed`
      : (about[f.name] ?? '')
    lines.push(`- \`${f.name}\`: ${text}`)
  }
  if (r.discovered !== undefined)
    lines.push('', `NetBird's config file was found through the container: ${r.discovered}.`)
  if (r.history !== undefined && r.history.events.length === 0) {
    lines.push(
      '',
      `No repair, rollback or restore in the backup directory (${r.history.dir}) for the period.`,
    )
  }
  const byReason = (reason: RedactionNote['reason']): RedactionNote[] =>
    r.notes.filter((n) => n.reason === reason)
  lines.push(
    '',
    '## What was removed',
    '',
    'Every secret was replaced by `[REDACTED]` before anything was written:',
    '',
    `- by key name (client secrets, passwords, tokens, keys, hashes, authSecret, encryptionKey): ${byReason('secret key').length} value(s)`,
    `- DSN passwords (the host, port, user and database stay): ${byReason('dsn password').length}`,
    `- those values again wherever else they appeared (log lines, doctor messages): ${byReason('known secret value').length} place(s)`,
    `- values shaped like secrets under any key or in any text (a password in a URL, the value of a password, secret or token pair, JWTs, bearer tokens, long random strings): ${byReason('secret shape').length} place(s)`,
    '',
    'Where (never the values):',
    '',
  )
  const where = [...new Set(r.notes.map((n) => `${n.file}: ${n.where} (${n.reason})`))]
  for (const w of where.slice(0, 200)) lines.push(`- ${w}`)
  if (where.length > 200) lines.push(`- … and ${where.length - 200} more`)
  if (where.length === 0) lines.push('- nothing')
  lines.push(
    '',
    'Not included at all: the containers’ environment, idp.db and the backups themselves, the watchdog’s own secrets.',
    'Redaction follows rules; read the files once before you post them.',
  )
  lines.push('', '## Missing', '')
  if (r.missing.length === 0) lines.push('Nothing: every part was gathered.')
  for (const m of r.missing) lines.push(`- ${m.name}: ${m.why}`)
  return lines.join('\n') + '\n'
}
