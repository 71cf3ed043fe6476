// Loading the configuration: YAML file (optional) + environment overrides + *_FILE secrets -> zod
// validation -> deep-frozen Config. Every problem is reported at once, each with its path.
import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import { WatchdogError, errorMessage } from '../errors.js'
import { parseDsn, Secret } from '../core/dsn.js'
import { configSchema, type Config, type Secrets } from './schema.js'
import { parseYaml } from './yaml.js'

type Env = Readonly<Record<string, string | undefined>>

/** Env var -> config path. Values are parsed as YAML scalars ("true", "3", "a,b" for lists). */
export const envOverrides: ReadonlyArray<{ env: string; path: readonly string[]; list?: boolean }> =
  [
    { env: 'NETBIRD_WATCHDOG_MODE', path: ['mode'] },
    { env: 'NETBIRD_WATCHDOG_TARGETS', path: ['targets', 'names'], list: true },
    { env: 'NETBIRD_WATCHDOG_IDP_DB', path: ['idp', 'dbPath'] },
    { env: 'NETBIRD_WATCHDOG_MANAGEMENT_JSON', path: ['idp', 'managementJson'] },
    { env: 'NETBIRD_WATCHDOG_CONFIG_YAML', path: ['idp', 'configYaml'] },
    { env: 'NETBIRD_WATCHDOG_BACKUP_DIR', path: ['backups', 'dir'] },
    { env: 'NETBIRD_WATCHDOG_METRICS_ADDRESS', path: ['metrics', 'address'] },
    { env: 'NETBIRD_WATCHDOG_LOG_LEVEL', path: ['log', 'level'] },
    { env: 'NETBIRD_WATCHDOG_ALLOW_INSECURE_OIDC', path: ['oidc', 'allowInsecure'] },
    { env: 'NETBIRD_WATCHDOG_SSO_URL', path: ['sso', 'url'] },
    { env: 'NETBIRD_WATCHDOG_SSO_PROBE_SECONDS', path: ['sso', 'probeSeconds'] },
  ]

export interface LoadedConfig {
  readonly config: Config
  readonly secrets: Secrets
  /** The file the config came from, if any. */
  readonly source?: string
}

/**
 * Load and validate. `file` wins over NETBIRD_WATCHDOG_CONFIG; with neither, defaults apply.
 * Throws WatchdogError CONFIG_INVALID listing every problem as `path: message`.
 */
export function loadConfig(file: string | undefined, env: Env): LoadedConfig {
  const fromEnv = env.NETBIRD_WATCHDOG_CONFIG
  const source = file ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined)
  const problems: string[] = []
  let raw: unknown = {}
  if (source !== undefined) {
    let text: string
    try {
      text = readFileSync(source, 'utf8')
    } catch (err) {
      throw new WatchdogError(
        'CONFIG_INVALID',
        `cannot read config file ${source}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      )
    }
    raw = parseYaml(text, source) ?? {}
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new WatchdogError('CONFIG_INVALID', `${source}: the top level must be a mapping`)
    }
  }
  const merged = applyEnv(structuredClone(raw) as Record<string, unknown>, env)
  const result = configSchema().safeParse(merged)
  if (!result.success) problems.push(...formatIssues(result.error.issues))
  const secrets = readSecrets(env, problems)
  if (problems.length > 0 || !result.success) {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `invalid configuration${source !== undefined ? ` (${source})` : ''}:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    )
  }
  return { config: deepFreeze(result.data), secrets, ...(source !== undefined ? { source } : {}) }
}

function applyEnv(obj: Record<string, unknown>, env: Env): Record<string, unknown> {
  for (const { env: name, path, list } of envOverrides) {
    const value = env[name]
    if (value === undefined || value === '') continue
    let parsed: unknown = list
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : parseScalar(value)
    if (path.at(-1) === 'dbPath' || path.at(-1) === 'address' || path.at(-1) === 'url') {
      parsed = value
    }
    let node = obj
    for (const key of path.slice(0, -1)) {
      const next = node[key]
      node[key] = typeof next === 'object' && next !== null ? next : {}
      node = node[key] as Record<string, unknown>
    }
    node[path.at(-1) as string] = parsed
  }
  return obj
}

function parseScalar(value: string): unknown {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^-?\d+$/.test(value)) return Number(value)
  return value
}

function readSecrets(env: Env, problems: string[]): Secrets {
  /** A secret's value and the variable it came from: `NAME_FILE` (a file, trimmed) wins over `NAME`. */
  const secret = (name: string): { value: string; source: string } | undefined => {
    const file = env[`${name}_FILE`]
    if (file !== undefined && file !== '') {
      try {
        return { value: readFileSync(file, 'utf8').trim(), source: `${name}_FILE` }
      } catch (err) {
        // Neither the value nor Node's message (which repeats it): the variable may hold the secret
        // itself by mistake instead of a file's path.
        const code = (err as { code?: unknown }).code
        problems.push(
          `${name}_FILE: the file it names cannot be read (${typeof code === 'string' ? code : 'error'})`,
        )
        return undefined
      }
    }
    const value = env[name]
    return value !== undefined && value !== '' ? { value, source: name } : undefined
  }
  const resetToken = secret('NETBIRD_WATCHDOG_RESET_TOKEN')?.value
  const webhookUrl = secret('NETBIRD_WATCHDOG_WEBHOOK_URL')?.value
  if (webhookUrl !== undefined && !/^https?:\/\//i.test(webhookUrl)) {
    problems.push('NETBIRD_WATCHDOG_WEBHOOK_URL: must be an http(s) URL')
  } else if (webhookUrl !== undefined) {
    try {
      webhookTarget(webhookUrl)
    } catch {
      // Neither the value nor the parser's message, which quotes it.
      problems.push(
        'NETBIRD_WATCHDOG_WEBHOOK_URL: not a valid http(s) URL (a host, a port up to 65535, well-formed %-escapes; the value is not shown)',
      )
    }
  }
  if (resetToken !== undefined && resetToken.length < 16) {
    problems.push('NETBIRD_WATCHDOG_RESET_TOKEN: must be at least 16 characters')
  }
  // The PostgreSQL store's DSN: checked now, never quoted (core/dsn.ts).
  const dsn = secret('NETBIRD_WATCHDOG_IDP_DSN')
  if (dsn !== undefined) {
    try {
      parseDsn(dsn.value, { source: 'the DSN' })
    } catch (err) {
      problems.push(`${dsn.source}: ${errorMessage(err)}`)
    }
  }
  return {
    ...(resetToken !== undefined ? { resetToken } : {}),
    ...(webhookUrl !== undefined ? { webhookUrl } : {}),
    ...(dsn !== undefined ? { idpDsn: { value: new Secret(dsn.value), source: dsn.source } } : {}),
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)'
    if (issue.code === 'unrecognized_keys') {
      return `${path === '(top level)' ? '' : path + '.'}${issue.keys.join(', ')}: unknown key(s)`
    }
    return `${path}: ${issue.message}`
  })
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * Where a webhook goes: the URL without its user information, that as an HTTP Basic `authorization`
 * header (what curl does with `https://user:token@host/…`; fetch refuses such a URL and its error
 * quotes it), and every part that may be secret, for filtering error text. Throws on a URL that does
 * not parse (the caller words the error: the parser's own message quotes the URL).
 */
export function webhookTarget(raw: string): {
  url: URL
  headers: Record<string, string>
  secrets: string[]
} {
  const url = new URL(raw)
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new TypeError('not an http(s) URL with a host')
  }
  const secrets = [raw, url.pathname, url.search, url.username, url.password]
  const headers: Record<string, string> = {}
  if (url.username !== '' || url.password !== '') {
    // RFC 7617: user-id ":" password, base64 of the UTF-8 bytes; percent-escapes decoded once, as curl does.
    const user = decodeURIComponent(url.username)
    const password = decodeURIComponent(url.password)
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`
    secrets.push(user, password, headers.authorization)
    url.username = ''
    url.password = ''
  }
  secrets.push(url.href)
  return { url, headers, secrets: secrets.filter((s) => s.length >= 4) }
}
