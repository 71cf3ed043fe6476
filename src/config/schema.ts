// The watchdog's configuration: one zod schema, defaults in the schema, strict (unknown keys are
// errors), each check on the field (or section) it concerns, so every problem is reported at once.
// Secrets never live here: they come from env vars or *_FILE paths (see load.ts). `Config` is the
// validated, deep-frozen result.
import { validate as isValidCron } from 'node-cron'
import { z } from 'zod'
import { errorMessage } from '../errors.js'
import { isDsn, parseDsn, type Secret } from '../core/dsn.js'

import { modes, type Mode } from '../core/mode.js'

/**
 * The configuration's schema, built afresh on each call. It is needed only while a config is loaded,
 * and zod keeps a schema this size in a few hundred KB of heap (BENCHMARKS.md, "Memory"): a
 * module-level constant would stay in the daemon's memory for as long as it runs.
 */
export function configSchema() {
  // Upper bounds: Node.js fires any timer longer than 2^31-1 ms (about 24.8 days) after 1 ms, so a
  // larger value would not wait longer, it would not wait at all.
  const maxTimerSeconds = Math.floor((2 ** 31 - 1) / 1000)
  const seconds = z
    .number()
    .int()
    .nonnegative()
    .max(maxTimerSeconds, `must be at most ${maxTimerSeconds} (about 24 days)`)
  const positiveSeconds = seconds.positive()
  /** A wait for one answer (an HTTP request, a lock): the CLI flags' bound too. */
  const waitMs = z.number().int().positive().max(600_000, 'must be at most 600000 (10 minutes)')
  // Field-level checks (not superRefine) so they are reported together with every other problem.
  const cron = z.string().refine((expr) => expr === '' || isValidCron(expr), {
    message:
      'not a valid cron expression (node-cron syntax, e.g. "*/10 * * * *"); "" disables the job',
  })
  const hostPort = z
    .string()
    .regex(/^(?:\[[^\]]+\]|[^:]*):\d{1,5}$/, {
      message: 'must be host:port (e.g. ":9464" or "127.0.0.1:9464")',
      abort: true, // not host:port: the port check below has nothing to say
    })
    .refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535, {
      message: 'the port must be at most 65535',
    })
  /** An IANA time zone the runtime knows (node-cron hands it to Intl, which throws on anything else). */
  const timeZone = z.string().refine(
    (tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz })
        return true
      } catch {
        return false
      }
    },
    { message: 'not a known IANA time zone (e.g. "UTC" or "Europe/Berlin")' },
  )

  const targetOverride = z.strictObject({
    /** Container name the override applies to. */
    name: z.string().min(1),
    mode: z.enum(modes),
  })

  return z.strictObject({
    /** observe: metrics and logs only; dry-run: decide and report, never act; repair: act. */
    mode: z.enum(modes).default('repair'),
    docker: z
      .strictObject({
        /** Engine address; when unset, DOCKER_HOST or the local socket is used. */
        host: z.string().min(1).optional(),
        socketPath: z.string().min(1).default('/var/run/docker.sock'),
        /** Cap for the reconnect backoff after the engine goes away. */
        reconnectMaxSeconds: positiveSeconds.default(30),
      })
      .prefault({}),
    targets: z
      .strictObject({
        /** Explicit container names. */
        names: z.array(z.string().min(1)).default([]),
        /** Compose service names (label com.docker.compose.service). */
        composeServices: z.array(z.string().min(1)).default([]),
        /** Containers carrying this label (key=value) are targets. */
        label: z
          .string()
          .regex(/^[^=\s]+(?:=[^\s]*)?$/, { message: 'must be key or key=value' })
          .default('netbird-watchdog.enable=true'),
        /** Also pick up netbird-management, netbird-server, *-management-1, *_management_1. */
        autoDetect: z.boolean().default(true),
        /** Per-target mode. */
        overrides: z.array(targetOverride).default([]),
      })
      .prefault({}),
    detection: z
      .strictObject({
        /** A restart loop is `deaths` container deaths within `windowSeconds`... */
        loopDeaths: z.number().int().min(2).default(3),
        loopWindowSeconds: positiveSeconds.default(300),
        /** ...cleared after the container stayed up this long. */
        stableSeconds: positiveSeconds.default(600),
        /** Follow container logs and classify every line. */
        followLogs: z.boolean().default(true),
      })
      .prefault({}),
    idp: z
      .strictObject({
        /** idp.db as mounted into the watchdog (the NetBird data volume at the same path). */
        dbPath: z.string().min(1).default('/var/lib/netbird/idp.db'),
        /**
         * The PostgreSQL store's DSN (NetBird v0.66.1+ `authStore.engine: postgres`), without its
         * password: that goes in NETBIRD_WATCHDOG_IDP_DSN_FILE instead (see load.ts).
         */
        dsn: z
          .string()
          .min(1)
          .superRefine((dsn, ctx) => {
            // The message never quotes the value (it may hold a password).
            const problem = !isDsn(dsn)
              ? 'not a PostgreSQL DSN (postgres://user@host:port/dbname or host=… dbname=… key=value pairs); the value is not shown'
              : dsnProblem(dsn)
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
          })
          .optional(),
        /** management.json as mounted into the watchdog (for static connectors and doctor). */
        managementJson: z.string().min(1).optional(),
        /** Combined server config.yaml (v0.65+), for doctor. */
        configYaml: z.string().min(1).optional(),
        /** Also rewrite EmbeddedIdP.StaticConnectors in management.json when repairing (needs it mounted rw). */
        fixStaticConnectors: z.boolean().default(false),
        busyTimeoutMs: waitMs.default(5000),
      })
      .prefault({}),
    oidc: z
      .strictObject({
        /** Permit http:// issuers (tests and lab setups only). */
        allowInsecure: z.boolean().default(false),
        timeoutMs: waitMs.default(5000),
      })
      .prefault({}),
    sso: z
      .strictObject({
        /**
         * NetBird's embedded IdP (Dex) as the watchdog reaches it, e.g. http://netbird-server/oauth2 on
         * the compose network. Unset: derived from NetBird's config file and the target container
         * where that answers; else the probe is off.
         */
        url: z
          .string()
          .min(1)
          .superRefine((url, ctx) => {
            const problem = ssoUrlProblem(url)
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
          })
          .optional(),
        /** Seconds between two rounds of login probes; 0 turns the probe off. */
        probeSeconds: seconds.default(60),
        /** The Dex client the probe logs in as: NetBird's public CLI client. */
        clientId: z.string().min(1).default('netbird-cli'),
        /** A redirect URI registered for that client (NetBird's CLI default). */
        redirectUri: z.string().min(1).default('http://localhost:53000/'),
        /** Also fetch the provider's login page Dex redirects to (off for providers that must not see it). */
        checkProvider: z.boolean().default(true),
        /** Deadline of each request (Dex, the provider's discovery, the provider's login page). */
        timeoutMs: waitMs.default(5000),
      })
      .prefault({}),
    repair: z
      .strictObject({
        /** How long the container must stay up, with no new fatal finding, to call a repair good. */
        confirmSeconds: positiveSeconds.default(30),
        /** Repairs allowed per target within `windowSeconds` before the breaker opens. */
        maxRepairs: z.number().int().positive().default(1),
        windowSeconds: positiveSeconds.default(6 * 3600),
        /** An open breaker closes by itself after this long (or by POST /reset). */
        cooldownSeconds: positiveSeconds.default(24 * 3600),
        /** Restart backoff: starts here, doubles, capped. */
        restartBackoffSeconds: seconds.default(10),
        restartBackoffMaxSeconds: positiveSeconds.default(300),
        /** Seconds Docker waits before killing the container on restart. */
        stopTimeoutSeconds: seconds.default(10),
      })
      // On this section, not the whole config: it then runs whatever is wrong elsewhere.
      .superRefine((repair, ctx) => {
        if (repair.restartBackoffMaxSeconds < repair.restartBackoffSeconds) {
          ctx.addIssue({
            code: 'custom',
            path: ['restartBackoffMaxSeconds'],
            message: 'must be at least repair.restartBackoffSeconds',
          })
        }
      })
      .prefault({}),
    backups: z
      .strictObject({
        /** Where backups go; default: netbird-watchdog-backups/ next to idp.db, /var/lib/netbird-watchdog/backups for PostgreSQL. */
        dir: z.string().min(1).optional(),
        keep: z.number().int().positive().default(10),
        maxAgeDays: z.number().int().nonnegative().default(14),
      })
      .prefault({}),
    schedules: z
      .strictObject({
        /** Cron expressions (node-cron syntax, seconds field optional); "" disables a job. */
        doctor: cron.default('*/10 * * * *'),
        backup: cron.default('17 3 * * *'),
        integrity: cron.default('47 * * * *'),
        timezone: timeZone.default('UTC'),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /** host:port the HTTP server listens on (/metrics, /healthz, /readyz, POST /reset). */
        address: hostPort.default(':9464'),
      })
      .prefault({}),
    webhook: z
      .strictObject({
        /** Events to POST as JSON (the URL comes from NETBIRD_WATCHDOG_WEBHOOK_URL[_FILE]). */
        events: z
          .array(z.enum(['detection', 'repair', 'rollback', 'breaker', 'store']))
          .default(['detection', 'repair', 'rollback', 'breaker', 'store']),
        timeoutMs: waitMs.default(5000),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      })
      .prefault({}),
  })
}

export type Config = z.infer<ReturnType<typeof configSchema>>

/** Why `dsn` cannot be used, without quoting it; undefined when it parses. */
function dsnProblem(dsn: string): string | undefined {
  try {
    parseDsn(dsn, { source: 'the DSN' })
    return undefined
  } catch (err) {
    return errorMessage(err)
  }
}

/** Why `url` cannot be the SSO probe's base URL; never quotes it (it could carry credentials). */
function ssoUrlProblem(url: string): string | undefined {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return 'not an absolute URL (e.g. http://netbird-server/oauth2)'
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL'
  if (u.username !== '' || u.password !== '') {
    return 'must not carry user information (the value is not shown); Dex needs none'
  }
  if (u.search !== '' || u.hash !== '') return 'must not have a query or a fragment'
  return undefined
}

/** Secrets, read from the environment or *_FILE paths only; never from the config file. */
export interface Secrets {
  /** Bearer token for POST /reset; without it the endpoint is disabled. */
  readonly resetToken?: string
  /** Webhook URL (may embed a token); without it no notification is sent. */
  readonly webhookUrl?: string
  /** The PostgreSQL store's DSN, and the variable it came from (it wins over `idp.dsn`). */
  readonly idpDsn?: { readonly value: Secret; readonly source: string }
}

export function modeFor(config: Config, containerName: string): Mode {
  return config.targets.overrides.find((o) => o.name === containerName)?.mode ?? config.mode
}
