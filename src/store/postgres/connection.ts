// Connections to the PostgreSQL server that holds Dex's storage, through node-postgres (`pg`): the
// pool (at most two connections, idle ones closed), the bounded waits every connection runs with
// (connect timeout, statement_timeout, lock_timeout, idle_in_transaction_session_timeout, and a
// client-side read timeout for a server that stops answering), TLS as the DSN's sslmode asks, and the
// one place where `pg` and socket errors become WatchdogErrors. No message or `cause` carries the
// password, and no server error's detail (which can quote a whole row, client secret included).
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import type { PoolConfig } from 'pg'
import { WatchdogError, errorMessage, type ErrorCode } from '../../errors.js'
import { isSocketHost, type PgSettings, type Secret } from '../../core/dsn.js'

export interface PgTimeouts {
  /** Establishing a connection (TCP, TLS, authentication), and waiting for a free pooled one. */
  readonly connectTimeoutMs: number
  /** Any one statement (server-side statement_timeout; query_canceled 57014 when exceeded). */
  readonly statementTimeoutMs: number
  /** Waiting for a lock another session holds (server-side lock_timeout; 55P03 when exceeded). */
  readonly lockTimeoutMs: number
  /** A transaction left idle by a stuck watchdog is ended by the server after this long. */
  readonly idleInTransactionTimeoutMs: number
}

/** Dex waits on an SQLite lock for 5 s; the PostgreSQL store waits as long for a row lock. */
export const defaultTimeouts: PgTimeouts = {
  connectTimeoutMs: 5000,
  statementTimeoutMs: 15000,
  lockTimeoutMs: 5000,
  idleInTransactionTimeoutMs: 60000,
}

/** How to try TLS: `fallback` is the second attempt sslmode prefer/allow make when the first fails. */
export interface TlsChoice {
  readonly first: false | ConnectionOptions
  readonly fallback?: false | ConnectionOptions
}

/** TLS settings for the DSN's sslmode (libpq's meaning; a unix socket never uses TLS). */
export function tlsChoice(s: PgSettings): TlsChoice {
  if (isSocketHost(s) || s.sslMode === 'disable') return { first: false }
  const files: ConnectionOptions = {
    ...(s.sslRootCert !== undefined ? { ca: readTlsFile(s.sslRootCert, 'sslrootcert') } : {}),
    ...(s.sslCert !== undefined ? { cert: readTlsFile(s.sslCert, 'sslcert') } : {}),
    ...(s.sslKey !== undefined ? { key: readTlsFile(s.sslKey, 'sslkey') } : {}),
  }
  const encryptOnly: ConnectionOptions = { ...files, rejectUnauthorized: false }
  const verifyCa: ConnectionOptions = {
    ...files,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
  }
  switch (s.sslMode) {
    case 'allow':
      return { first: false, fallback: encryptOnly }
    case 'prefer':
      return { first: encryptOnly, fallback: false }
    case 'require':
      // libpq: with a root certificate given, require verifies the chain as verify-ca does.
      return { first: s.sslRootCert !== undefined ? verifyCa : encryptOnly }
    case 'verify-ca':
      return { first: verifyCa }
    case 'verify-full':
      return { first: { ...files, rejectUnauthorized: true } }
  }
}

function readTlsFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new WatchdogError(
      'CONFIG_INVALID',
      `cannot read the ${key} file ${path} the DSN names: ${errorMessage(err)}`,
      { cause: err },
    )
  }
}

/** The pool's settings: bounded everywhere, at most two connections, idle ones closed after 10 s. */
export function poolConfig(
  s: PgSettings,
  timeouts: PgTimeouts,
  ssl: false | ConnectionOptions,
): PoolConfig {
  const connectMs =
    s.connectTimeoutS !== undefined && s.connectTimeoutS > 0
      ? Math.min(s.connectTimeoutS * 1000, timeouts.connectTimeoutMs)
      : timeouts.connectTimeoutMs
  return {
    host: s.host,
    port: s.port,
    database: s.database,
    ...(s.user !== undefined ? { user: s.user } : {}),
    ...(s.password !== undefined ? { password: s.password.reveal() } : {}),
    ssl,
    application_name: 'netbird-watchdog',
    connectionTimeoutMillis: connectMs,
    statement_timeout: timeouts.statementTimeoutMs,
    lock_timeout: timeouts.lockTimeoutMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
    // A server that stops answering mid-query (frozen, or the network gone) has no statement timeout.
    query_timeout: timeouts.statementTimeoutMs + timeouts.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10000,
    max: 2,
    idleTimeoutMillis: 10000,
    allowExitOnIdle: true,
  }
}

/** SQLSTATE of a server error (pg's DatabaseError carries `severity`; socket errors do not). */
export function sqlState(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  const e = err as Error & { code?: unknown; severity?: unknown }
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity !== undefined
    ? e.code
    : undefined
}

/** A socket error code (ECONNREFUSED, ENOTFOUND…), looking inside an AggregateError (happy eyeballs). */
function systemCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  const code = (err as Error & { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('E')) return code
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const c = systemCode(inner)
      if (c !== undefined) return c
    }
  }
  return undefined
}

const tlsCodes = /^(?:ERR_TLS_|ERR_SSL_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|CERT_|HOSTNAME_)/

const unreachableCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'ENOENT', // a unix-socket directory without the server's socket
  'EACCES',
  'EADDRNOTAVAIL',
])

const lostConnection = [
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]

export interface ErrorContext {
  /** `postgres://user@host:port/db`, for the message. */
  readonly label: string
  /** The DSN's password: scrubbed from anything that would otherwise be kept. */
  readonly secret: Secret | undefined
  readonly timeouts: PgTimeouts
  /** What failed, as the start of the message: `cannot read the connectors of`, `cannot lock`… */
  readonly action: string
  /** The code for a server error no rule below knows (REPAIR_FAILED for writes, DB_UNREADABLE for reads). */
  readonly fallback: ErrorCode
}

/** Translate a `pg` or socket error into a WatchdogError an operator can act on (see the header). */
export function mapPgError(err: unknown, ctx: ErrorContext): WatchdogError {
  if (err instanceof WatchdogError) return err
  const state = sqlState(err)
  const where = `${ctx.action} ${ctx.label}`
  const make = (code: ErrorCode, message: string, change?: 'none'): WatchdogError =>
    new WatchdogError(code, scrub(message, ctx.secret), {
      cause: safeCause(err, ctx.secret),
      ...(change !== undefined ? { change } : {}),
    })
  if (state !== undefined) {
    const serverText = scrub(errorMessage(err), ctx.secret)
    switch (state) {
      case '28P01':
        return make(
          'STORE_AUTH_FAILED',
          `${where}: the server rejected the user name or password (${serverText}; SQLSTATE 28P01). Check the DSN's credentials.`,
        )
      case '28000':
        return make(
          'STORE_AUTH_FAILED',
          `${where}: the server does not let this user connect to this database from here (${serverText}; SQLSTATE 28000). Check pg_hba.conf and the DSN's user.`,
        )
      case '42501':
        return make(
          'STORE_AUTH_FAILED',
          `${where}: the DSN's user lacks a privilege (${serverText}; SQLSTATE 42501). It needs SELECT, INSERT, UPDATE and DELETE on Dex's connector table.`,
        )
      case '3D000':
        return make(
          'STORE_NOT_DEX',
          `${where}: the database does not exist on the server (SQLSTATE 3D000). Check the DSN's dbname.`,
        )
      case '42P01':
      case '42703':
        return make(
          'STORE_NOT_DEX',
          `${where}: not Dex's schema (${serverText}; SQLSTATE ${state}). Is this the database NetBird's embedded IdP uses, and has Dex started on it once?`,
        )
      case '55P03':
        return make(
          'DB_LOCKED',
          `${where}: another session holds a lock on the connector table and did not release it within ${ctx.timeouts.lockTimeoutMs} ms; nothing was changed. Retry later, or look for a stuck session in pg_stat_activity.`,
          'none',
        )
      case '40001':
      case '40P01':
        return make(
          'DB_LOCKED',
          `${where}: a concurrent writer changed the connector rows at the same time (SQLSTATE ${state}); nothing was changed. Retry.`,
          'none',
        )
      case '57014':
        return make(
          'STORE_TIMEOUT',
          `${where}: a statement did not finish within ${ctx.timeouts.statementTimeoutMs} ms and was cancelled (SQLSTATE 57014); nothing was changed.`,
          'none',
        )
      case '25P03':
        return make(
          'STORE_TIMEOUT',
          `${where}: the server ended a transaction that stayed idle too long (SQLSTATE 25P03); nothing was changed.`,
          'none',
        )
      case '57P01':
      case '57P02':
        return make(
          'STORE_UNREACHABLE',
          `${where}: the server ended the connection (${serverText}; SQLSTATE ${state}): a shutdown, a crash, or an administrator's pg_terminate_backend.`,
        )
      case '57P03':
      case '53300':
        return make(
          'STORE_UNREACHABLE',
          `${where}: the server does not accept connections now (${serverText}; SQLSTATE ${state}): starting up, shutting down, or out of connections.`,
        )
    }
    if (state.startsWith('08')) {
      return make(
        'STORE_UNREACHABLE',
        `${where}: connection failure (${serverText}; SQLSTATE ${state}).`,
      )
    }
    return make(ctx.fallback, `${where}: ${serverText} (SQLSTATE ${state})`)
  }
  const msg = scrub(errorMessage(err), ctx.secret)
  const sys = systemCode(err)
  if (sys !== undefined && tlsCodes.test(sys)) {
    return make(
      'STORE_UNREACHABLE',
      `${where}: TLS failed: ${msg}. Check the DSN's sslmode and certificates.`,
    )
  }
  if (sys !== undefined && unreachableCodes.has(sys)) {
    return make('STORE_UNREACHABLE', `${where}: the server cannot be reached (${sys}: ${msg}).`)
  }
  if (/timeout expired|connection timeout|timeout exceeded when trying to connect/i.test(msg)) {
    return make(
      'STORE_UNREACHABLE',
      `${where}: no connection within ${ctx.timeouts.connectTimeoutMs} ms (the server does not answer, or the watchdog's two connections stayed busy).`,
    )
  }
  if (msg === 'Query read timeout') {
    return make(
      'STORE_TIMEOUT',
      `${where}: the server did not answer a statement within ${ctx.timeouts.statementTimeoutMs + ctx.timeouts.connectTimeoutMs} ms.`,
    )
  }
  if (lostConnection.includes(msg)) {
    return make(
      'STORE_UNREACHABLE',
      `${where}: the connection to the server was lost (${msg}); the server rolls back an unfinished transaction.`,
    )
  }
  if (msg === 'The server does not support SSL connections') {
    return make(
      'STORE_UNREACHABLE',
      `${where}: the server does not offer TLS, but the DSN's sslmode asks for it (Dex, and the watchdog, assume verify-full when the DSN names no sslmode; add sslmode=disable for a server on a private network).`,
    )
  }
  if (/^SASL|password must be a string|client password/i.test(msg)) {
    return make(
      'STORE_AUTH_FAILED',
      `${where}: authentication failed (${msg}). Check the DSN's credentials.`,
    )
  }
  if (/SSL|TLS|certificate/i.test(msg)) {
    return make(
      'STORE_UNREACHABLE',
      `${where}: TLS failed: ${msg}. Check the DSN's sslmode and certificates.`,
    )
  }
  return make(ctx.fallback, `${where}: ${msg}`)
}

/** Whether a first connection attempt failed in the way sslmode prefer/allow retry the other way. */
export function isTlsFallbackError(err: unknown, first: false | ConnectionOptions): boolean {
  if (first === false) return sqlState(err) === '28000' // allow: the server wants TLS (hostssl)
  return errorMessage(err) === 'The server does not support SSL connections' // prefer
}

/** Replace every occurrence of the password (if any) with `[redacted]`. */
export function scrub(text: string, secret: Secret | undefined): string {
  if (secret === undefined) return text
  const value = secret.reveal()
  return value.length === 0 ? text : text.split(value).join('[redacted]')
}

/**
 * What to keep as `cause`: never a server error as such (its `detail` can quote a row, client secret
 * and all), only its SQLSTATE and message; a socket error as it is — unless the password shows up
 * anywhere in it, then nothing.
 */
function safeCause(err: unknown, secret: Secret | undefined): Error | undefined {
  const state = sqlState(err)
  const safe = state !== undefined ? new Error(`SQLSTATE ${state}: ${errorMessage(err)}`) : err
  if (!(safe instanceof Error)) return undefined
  return mentionsSecret(safe, secret, 0) ? undefined : safe
}

function mentionsSecret(err: unknown, secret: Secret | undefined, depth: number): boolean {
  if (secret === undefined || secret.reveal() === '' || depth > 5) return false
  const value = secret.reveal()
  if (!(err instanceof Error)) return String(err).includes(value)
  if (err.message.includes(value) || (err.stack ?? '').includes(value)) return true
  for (const v of Object.values(err)) {
    if (typeof v === 'string' && v.includes(value)) return true
  }
  if (err.cause !== undefined && mentionsSecret(err.cause, secret, depth + 1)) return true
  if (err instanceof AggregateError) {
    return err.errors.some((e) => mentionsSecret(e, secret, depth + 1))
  }
  return false
}
