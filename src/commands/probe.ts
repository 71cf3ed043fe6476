// `netbird-watchdog probe`: one round of the SSO login probe (oidc/sso-probe.ts) — for each OIDC
// connector in the IdP store, does a login through NetBird's embedded IdP get to the provider? Human
// report or --json; exit 0 when every probed connector passes, 1 when one fails, 2 for bad input (a
// probe Dex refuses as configured — its client or redirect URI — is bad input too).
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { quoteText } from '../core/issuer.js'
import { discountStoreFailures, type ProbeResult } from '../core/sso-probe.js'
import { WatchdogError, errorMessage } from '../errors.js'
import { readCombinedConfig, readManagementJson } from '../netbird/config-files.js'
import { probeConnectors, probedConnectors } from '../oidc/sso-probe.js'
import { locationLabel, openStore } from '../store/open.js'
import { resolveInputs } from './doctor.js'
import { intFlag, waitMs } from './flags.js'
import { exitCodes, throwIfStopped, writeLine, type CliIO } from './io.js'

interface ProbeFlags {
  config?: string
  url?: string
  db?: string
  managementJson?: string
  configYaml?: string
  connector?: string[]
  clientId?: string
  redirectUri?: string
  provider?: boolean
  timeoutMs?: string
  allowInsecure?: boolean
  json?: boolean
}

/** Failures that say the probe itself is set up wrong: bad input, exit 2. */
const probeConfigErrors = new Set(['probe_client_unknown', 'probe_redirect_unregistered'])

export function registerProbe(program: Command, io: CliIO): void {
  program
    .command('probe')
    .description(
      "Prove SSO works: start a login through NetBird's embedded IdP (Dex) for each OIDC connector and check that it reaches the provider's live login page.",
    )
    .option('--config <file>', 'watchdog config file (sso.*, idp.*, oidc.*)')
    .option(
      '--url <url>',
      "NetBird's embedded IdP as reachable from here, e.g. https://netbird.example.com/oauth2 (default: sso.url, else the issuer in --config-yaml / --management-json)",
    )
    .option(
      '--db <path|dsn>',
      "the embedded IdP's store (which connectors to probe): idp.db, or a PostgreSQL DSN",
    )
    .option('--management-json <path>', "NetBird's management.json")
    .option('--config-yaml <path>', "the combined netbird-server's config.yaml (v0.65+)")
    .option(
      '--connector <id>',
      'probe only this connector (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option('--client-id <id>', 'the Dex client to log in as (default: sso.clientId, netbird-cli)')
    .option(
      '--redirect-uri <uri>',
      'a redirect URI registered for that client (default: sso.redirectUri, http://localhost:53000/)',
    )
    .option('--no-provider', "do not fetch the provider's login page (Dex and discovery only)")
    .option('--timeout-ms <ms>', 'deadline of each request (default: sso.timeoutMs, 5000)')
    .option('--allow-insecure', 'allow plain-http providers (labs and tests only)')
    .option('--json', 'print one JSON object and nothing else on stdout')
    .addHelpText(
      'after',
      `
Each probe: GET <url>/auth/<connector>?client_id=…&redirect_uri=…&response_type=code&scope=openid+profile+email
(no cookies, no redirect followed; Dex stores one auth_request row, deleted after 24 h), which must
answer 302 to the provider's live authorization_endpoint with the connector's client id and redirect
URI; then that URL is fetched once (reachable, valid TLS, not a 5xx) unless --no-provider.
Failure reasons: connector_failed, login_error, redirect_mismatch, probe_client_unknown,
probe_redirect_unregistered, netbird_unreachable, netbird_error, store_unavailable,
provider_unreachable, provider_error.

Examples:
  netbird-watchdog probe --config-yaml /etc/netbird/config.yaml --db /var/lib/netbird/idp.db
  netbird-watchdog probe --url http://netbird-server/oauth2 --db /var/lib/netbird/idp.db --json

Exit status: 0 every probed connector passed, 1 one failed, 2 usage, config or input error (also a
probe Dex refuses as configured: --client-id, --redirect-uri), 130/143 stopped by SIGINT/SIGTERM.`,
    )
    .action(async (flags: ProbeFlags) => {
      const { config, secrets } = loadConfig(flags.config, io.env)
      const timeoutMs =
        flags.timeoutMs !== undefined
          ? intFlag('--timeout-ms', flags.timeoutMs, waitMs)
          : config.sso.timeoutMs
      const inputs = resolveInputs(flags, config, secrets, io.env)
      const url = flags.url ?? config.sso.url ?? issuerOf(inputs)
      if (url === undefined) {
        throw new WatchdogError(
          'USAGE',
          "no URL to probe: give --url (NetBird's embedded IdP, e.g. https://netbird.example.com/oauth2), set sso.url, or give --config-yaml / --management-json naming its issuer",
        )
      }
      checkUrl(url)
      if (inputs.store === undefined) {
        throw new WatchdogError(
          'USAGE',
          'no IdP store to read the connectors from: give --db (idp.db or a PostgreSQL DSN), --config-yaml or --management-json',
        )
      }
      throwIfStopped(io)
      const store = openStore(inputs.store, { busyTimeoutMs: config.idp.busyTimeoutMs })
      let results: ProbeResult[]
      try {
        const rows = await store.readConnectors()
        const wanted = flags.connector
        if (wanted !== undefined) {
          const known = new Set(probedConnectors(rows).map((r) => r.id))
          const missing = wanted.filter((id) => !known.has(id))
          if (missing.length > 0) {
            throw new WatchdogError(
              'CONNECTOR_NOT_FOUND',
              `no OIDC connector ${missing.map(quoteText).join(', ')} in ${store.label}`,
            )
          }
        }
        results = await probeConnectors(
          wanted === undefined ? rows : rows.filter((r) => wanted.includes(r.id)),
          {
            url,
            clientId: flags.clientId ?? config.sso.clientId,
            redirectUri: flags.redirectUri ?? config.sso.redirectUri,
            timeoutMs,
            checkProvider: flags.provider !== false && config.sso.checkProvider,
            allowInsecure: flags.allowInsecure === true || config.oidc.allowInsecure,
            signal: io.signal,
          },
        )
        if (results.some((r) => !r.ok && r.reason === 'connector_failed')) {
          // Dex reads the row first: a store nobody can read now makes its refusal say nothing.
          await store.readConnectors().catch((err: unknown) => {
            results = discountStoreFailures(results, errorMessage(err))
          })
        }
      } finally {
        await store.close()
      }
      throwIfStopped(io)
      const ok = results.every((r) => r.ok)
      const misconfigured = results.some((r) => !r.ok && probeConfigErrors.has(r.reason))
      if (flags.json === true) {
        writeLine(io.stdout, JSON.stringify({ ok, url, results }))
      } else {
        writeLine(
          io.stdout,
          `netbird-watchdog probe: ${url} (client ${flags.clientId ?? config.sso.clientId}), IdP store ${locationLabel(inputs.store)}`,
        )
        for (const r of results) {
          writeLine(
            io.stdout,
            r.ok
              ? `  ✓ ${quoteText(r.connectorId)}: the login reaches the provider (${r.ms} ms)`
              : `  ✗ ${quoteText(r.connectorId)}: ${r.reason}: ${r.detail}`,
          )
        }
        const failed = results.filter((r) => !r.ok).length
        writeLine(
          io.stdout,
          results.length === 0
            ? 'No OIDC connector to probe.'
            : ok
              ? `OK: ${results.length} connector(s) pass`
              : `PROBLEMS FOUND: ${failed} of ${results.length} connector(s) fail`,
        )
      }
      io.setExitCode(misconfigured ? exitCodes.usage : ok ? exitCodes.ok : exitCodes.problems)
    })
}

/** The embedded IdP's issuer as NetBird's config file names it (the public URL a browser uses). */
function issuerOf(inputs: { configYaml?: string; managementJson?: string }): string | undefined {
  if (inputs.configYaml !== undefined) return readCombinedConfig(inputs.configYaml).issuer
  if (inputs.managementJson !== undefined) {
    return readManagementJson(inputs.managementJson).embedded?.issuer
  }
  return undefined
}

/** The URL must be http(s) with no credentials; the message never quotes it (it could carry some). */
function checkUrl(url: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new WatchdogError(
      'USAGE',
      '--url is not an absolute URL (e.g. http://netbird-server/oauth2)',
    )
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new WatchdogError('USAGE', '--url must be an http(s) URL')
  }
  if (u.username !== '' || u.password !== '') {
    throw new WatchdogError(
      'USAGE',
      '--url must not carry user information (the value is not shown); Dex needs none',
    )
  }
  // The login path is appended to it: a query or fragment would swallow it (as sso.url refuses).
  if (u.search !== '' || u.hash !== '') {
    throw new WatchdogError(
      'USAGE',
      '--url must not have a query or a fragment (e.g. http://netbird-server/oauth2)',
    )
  }
}
