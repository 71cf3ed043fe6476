// Builds an idp.db the way NetBird's embedded Dex creates it, for tests and benchmarks.
//
// Schema: the SQL of Dex's migrations, run through Dex's SQLite flavour rewrites, one migration per
// transaction with a `migrations` row each, exactly as `(*conn).migrate` does.
// - 'v0.244': netbirdio/dex tag v0.244.0 (453eb483) storage/sql/migrate.go — NetBird v0.62.0–v0.70.x.
//   11 migrations for SQLite (the MySQL-only `modify column state` one is skipped by flavour).
// - 'grant-types': dexidp/dex 3bf25fd6 (2026-04-02, "add SSO sharing policy") storage/sql/migrate.go, the
//   upstream point NetBird ≥ v0.71's fork builds on (docs/reference/netbird.md, "The connector table"). It adds
//   `connector.grant_types` (upstream 77777730), written by CreateConnector as json.Marshal(nil) = `null`.
// Flavour rewrites (storage/sql/sql.go flavorSQLite3): \btrue\b→1, \bfalse\b→0, \bboolean\b→integer,
// \bbytea\b→blob, \btimestamptz\b→timestamp, now()→date('now').
//
// Rows: NetBird's (idp/dex/connector.go buildOIDCConnectorConfig, ensureLocalConnector): `local` with NULL
// config; connector config is Go json.Marshal(map) — sorted keys, HTML characters escaped as \u0026 —
// bound as []byte, so SQLite stores a BLOB.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { defer, type CleanupScope } from './cleanup.js'

export type FixtureSchema = 'v0.244' | 'grant-types'

export interface FixtureConnector {
  id: string
  /** Dex connector type as stored: 'local' | 'oidc' | 'google' | 'microsoft'. */
  type: string
  name: string
  resourceVersion?: string
  /** The stored JSON text exactly as it goes into the column, or null (the `local` connector). */
  config: string | null
  /** How `config` is bound: 'blob' (Dex's []byte; default) or 'text' (what a manual sqlite3 `replace()` leaves). */
  storage?: 'blob' | 'text'
}

/** A canary secret: tests assert it never shows up in any output. */
export const canarySecret = 'canary-Secr3t&<x>-7f3c9a1e5b'

export const jumpcloudId = 'd1c9q2ll0fgs73cunqsg'
export const oktaId = 'okta-d1c9q4dl0fgs73cunqt0'
export const googleId = 'google-d1c9q5tl0fgs73cunqtg'

export const jumpcloudIssuerStored = 'https://oauth.id.jumpcloud.com'
export const jumpcloudIssuerDiscovered = 'https://oauth.id.jumpcloud.com/'

/**
 * Go's json.Marshal for JSON-like values built from map[string]interface{}: map keys sorted (byte order),
 * compact, and `<`, `>`, `&`, U+2028, U+2029 escaped as \u003c \u003e \u0026 \u2028 \u2029 (HTMLEscape).
 */
export function goJsonMarshal(value: unknown): string {
  return JSON.stringify(sortKeys(value)).replace(/[<>&\u2028\u2029]/g, (c) => {
    return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
  })
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]))
  }
  return value
}

/** The config NetBird (HEAD, v0.63+) writes for an OIDC-type connector, as Go would serialise it. */
export function oidcConnectorConfig(fields: {
  issuer: string
  clientID: string
  clientSecret: string
  redirectURI?: string
  scopes?: string[]
  extra?: Record<string, unknown>
}): string {
  return goJsonMarshal({
    issuer: fields.issuer,
    clientID: fields.clientID,
    clientSecret: fields.clientSecret,
    redirectURI: fields.redirectURI ?? 'https://netbird.example.com/oauth2/callback',
    scopes: fields.scopes ?? ['openid', 'profile', 'email'],
    insecureEnableGroups: true,
    insecureSkipEmailVerified: true,
    ...fields.extra,
  })
}

/**
 * NetBird's `local` connector plus one generic-OIDC connector per entry (client "client", secret
 * "secret"; the name defaults to the id): the rows a self-healing scenario needs.
 */
export function oidcConnectors(
  list: ReadonlyArray<{ id: string; issuer: string; name?: string }>,
): FixtureConnector[] {
  return [
    { id: 'local', type: 'local', name: 'Email', config: null },
    ...list.map((c) => ({
      id: c.id,
      type: 'oidc',
      name: c.name ?? c.id,
      config: oidcConnectorConfig({ issuer: c.issuer, clientID: 'client', clientSecret: 'secret' }),
    })),
  ]
}

/** NetBird's rows: local, generic-OIDC JumpCloud (no trailing slash: the broken case), okta, google. */
export function defaultConnectors(): FixtureConnector[] {
  return [
    { id: 'local', type: 'local', name: 'Email', config: null },
    {
      id: jumpcloudId,
      type: 'oidc',
      name: 'JumpCloud',
      config: oidcConnectorConfig({
        issuer: jumpcloudIssuerStored,
        clientID: '5e1f2a9c-7b3d-4e8f-9a0b-1c2d3e4f5a6b',
        clientSecret: canarySecret,
      }),
    },
    {
      id: oktaId,
      type: 'oidc',
      name: 'Okta & Partners <SSO>',
      config: oidcConnectorConfig({
        issuer: 'https://dev-123456.okta.com',
        clientID: '0oa1b2c3d4e5f6g7h8i9',
        clientSecret: 'okta-secret-&-<not>-for-output',
        redirectURI: 'https://netbird.example.com/oauth2/callback?src=okta&x=<1>',
        scopes: ['openid', 'profile', 'email', 'groups'],
      }),
    },
    {
      id: googleId,
      type: 'google',
      name: 'Google',
      config: goJsonMarshal({
        clientID: '1234567890-abc.apps.googleusercontent.com',
        clientSecret: 'GOCSPX-google-secret-value',
        redirectURI: 'https://netbird.example.com/oauth2/callback',
      }),
    },
  ]
}

const bindRegexp = /\$\d+/g

/** Dex's flavorSQLite3.translate. */
export function translateSqlite(query: string): string {
  return query
    .replace(bindRegexp, '?')
    .replace(/\btrue\b/g, '1')
    .replace(/\bfalse\b/g, '0')
    .replace(/\bboolean\b/g, 'integer')
    .replace(/\bbytea\b/g, 'blob')
    .replace(/\btimestamptz\b/g, 'timestamp')
    .replace(/\bnow\(\)/g, "date('now')")
}

const migrationsTable = `
		create table if not exists migrations (
			num integer not null,
			at timestamptz not null
		);
	`

// netbirdio/dex v0.244.0 storage/sql/migrate.go, SQLite-flavoured migrations only (verbatim SQL text).
const v0244: string[][] = [
  [
    `
			create table client (
				id text not null primary key,
				secret text not null,
				redirect_uris bytea not null, -- JSON array of strings
				trusted_peers bytea not null, -- JSON array of strings
				public boolean not null,
				name text not null,
				logo_url text not null
			);`,
    `
			create table auth_request (
				id text not null primary key,
				client_id text not null,
				response_types bytea not null, -- JSON array of strings
				scopes bytea not null,         -- JSON array of strings
				redirect_uri text not null,
				nonce text not null,
				state text not null,
				force_approval_prompt boolean not null,

				logged_in boolean not null,

				claims_user_id text not null,
				claims_username text not null,
				claims_email text not null,
				claims_email_verified boolean not null,
				claims_groups bytea not null, -- JSON array of strings

				connector_id text not null,
				connector_data bytea,

				expiry timestamptz not null
			);`,
    `
			create table auth_code (
				id text not null primary key,
				client_id text not null,
				scopes bytea not null, -- JSON array of strings
				nonce text not null,
				redirect_uri text not null,

				claims_user_id text not null,
				claims_username text not null,
				claims_email text not null,
				claims_email_verified boolean not null,
				claims_groups bytea not null, -- JSON array of strings

				connector_id text not null,
				connector_data bytea,

				expiry timestamptz not null
			);`,
    `
			create table refresh_token (
				id text not null primary key,
				client_id text not null,
				scopes bytea not null, -- JSON array of strings
				nonce text not null,

				claims_user_id text not null,
				claims_username text not null,
				claims_email text not null,
				claims_email_verified boolean not null,
				claims_groups bytea not null, -- JSON array of strings

				connector_id text not null,
				connector_data bytea
			);`,
    `
			create table password (
				email text not null primary key,
				hash bytea not null,
				username text not null,
				user_id text not null
			);`,
    `
			-- keys is a weird table because we only ever expect there to be a single row
			create table keys (
				id text not null primary key,
				verification_keys bytea not null, -- JSON array
				signing_key bytea not null,       -- JSON object
				signing_key_pub bytea not null,   -- JSON object
				next_rotation timestamptz not null
			);`,
  ],
  [
    `
			alter table refresh_token
				add column token text not null default '';`,
    `
			alter table refresh_token
				add column created_at timestamptz not null default '0001-01-01 00:00:00 UTC';`,
    `
			alter table refresh_token
				add column last_used timestamptz not null default '0001-01-01 00:00:00 UTC';`,
  ],
  [
    `
			create table offline_session (
				user_id text not null,
				conn_id text not null,
				refresh bytea not null,
				PRIMARY KEY (user_id, conn_id)
			);`,
  ],
  [
    `
			create table connector (
				id text not null primary key,
				type text not null,
				name text not null,
				resource_version text not null,
				config bytea
			);`,
  ],
  [
    `
			alter table auth_code
				add column claims_preferred_username text not null default '';`,
    `
			alter table auth_request
				add column claims_preferred_username text not null default '';`,
    `
			alter table refresh_token
				add column claims_preferred_username text not null default '';`,
  ],
  [
    `
			alter table offline_session
				add column connector_data bytea;
			`,
  ],
  [
    `
			create table device_request (
				user_code text not null primary key,
				device_code text not null,
				client_id text not null,
				client_secret text ,
				scopes bytea not null, -- JSON array of strings
				expiry timestamptz not null
			);`,
    `
			create table device_token (
				device_code text not null primary key,
				status text not null,
				token bytea,
				expiry timestamptz not null,
				last_request timestamptz not null,
                poll_interval integer not null
			);`,
  ],
  [
    `
			alter table auth_request
				add column code_challenge text not null default '';`,
    `
			alter table auth_request
				add column code_challenge_method text not null default '';`,
    `
			alter table auth_code
				add column code_challenge text not null default '';`,
    `
			alter table auth_code
				add column code_challenge_method text not null default '';`,
  ],
  [
    `
			alter table refresh_token
				add column obsolete_token text default '';`,
  ],
  [
    `
			alter table device_token
				add column code_challenge text not null default '';`,
    `
			alter table device_token
				add column code_challenge_method text not null default '';`,
  ],
  [
    `
			alter table auth_request
				add column hmac_key bytea;`,
  ],
]

// dexidp/dex 3bf25fd6 storage/sql/migrate.go: the SQLite-flavoured migrations after hmac_key.
const afterV0244: string[][] = [
  [
    `
			alter table password
				add column preferred_username text not null default '';`,
    `
			alter table password
				add column groups bytea not null default '[]';`,
  ],
  [
    `
			alter table password
				add column name text not null default '';`,
    `
			alter table password
				add column email_verified boolean;`,
  ],
  [
    `
			alter table connector
				add column grant_types bytea;`,
  ],
  [
    `
			alter table client
				add column allowed_connectors bytea;`,
  ],
  [
    `
			create table user_identity (
				user_id text not null,
				connector_id text not null,
				claims_user_id text not null,
				claims_username text not null,
				claims_preferred_username text not null default '',
				claims_email text not null,
				claims_email_verified boolean not null,
				claims_groups bytea not null,
				consents bytea not null,
				created_at timestamptz not null,
				last_login timestamptz not null,
				blocked_until timestamptz not null,
				PRIMARY KEY (user_id, connector_id)
			);`,
  ],
  [
    `
			create table auth_session (
				user_id text not null,
				connector_id text not null,
				nonce text not null default '',
				client_states bytea not null,
				created_at timestamptz not null,
				last_activity timestamptz not null,
				ip_address text not null default '',
				user_agent text not null default '',
				PRIMARY KEY (user_id, connector_id)
			);`,
  ],
  [
    `
			alter table auth_request
				add column mfa_validated boolean not null default false;`,
    `
			alter table user_identity
				add column mfa_secrets bytea;`,
    `
			alter table client
				add column mfa_chain bytea;`,
    `alter table auth_request add column prompt text not null default '';`,
    `alter table auth_request add column max_age integer not null default -1;`,
    `alter table auth_request add column auth_time timestamptz not null default '1970-01-01 00:00:00';`,
    `alter table auth_code add column auth_time timestamptz not null default '1970-01-01 00:00:00';`,
  ],
  [
    `
			alter table auth_session
				add column absolute_expiry timestamptz not null default '1970-01-01 00:00:00';`,
    `
			alter table auth_session
				add column idle_expiry timestamptz not null default '1970-01-01 00:00:00';`,
    `alter table client add column post_logout_redirect_uris bytea;`,
    `alter table auth_session add column logout_state bytea;`,
  ],
  [
    `alter table auth_request add column webauthn_session_data bytea;`,
    `alter table user_identity add column webauthn_credentials bytea;`,
  ],
  [
    `
			alter table client
				add column sso_shared_with bytea;`,
  ],
]

export function migrationsFor(schema: FixtureSchema): string[][] {
  return schema === 'v0.244' ? v0244 : [...v0244, ...afterV0244]
}

/**
 * A fresh temporary directory holding an idp.db created as Dex would (removed after the test): the
 * set-up most store tests begin with.
 */
export async function tempIdpDb(
  t: CleanupScope,
  opts: { schema?: FixtureSchema; connectors?: FixtureConnector[] } = {},
): Promise<{ dir: string; db: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nbw-idp-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const db = join(dir, 'idp.db')
  createIdpDb(db, opts)
  return { dir, db }
}

/** Create (or complete) idp.db at `path` as Dex would, then insert NetBird's rows. */
export function createIdpDb(
  path: string,
  opts: { schema?: FixtureSchema; connectors?: FixtureConnector[] } = {},
): void {
  const schema = opts.schema ?? 'v0.244'
  const db = new Database(path)
  try {
    db.exec(translateSqlite(migrationsTable))
    const steps = migrationsFor(schema)
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!
      db.transaction(() => {
        for (const stmt of step) db.exec(translateSqlite(stmt))
        db.prepare(translateSqlite('insert into migrations (num, at) values ($1, now());')).run(
          i + 1,
        )
      })()
    }
    insertNetbirdRows(db, schema, opts.connectors ?? defaultConnectors())
  } finally {
    db.close()
  }
}

function insertNetbirdRows(
  db: Database.Database,
  schema: FixtureSchema,
  connectors: FixtureConnector[],
): void {
  const hasGrantTypes = schema === 'grant-types'
  const insert = db.prepare(
    hasGrantTypes
      ? 'insert into connector (id, type, name, resource_version, config, grant_types) values (?, ?, ?, ?, ?, ?)'
      : 'insert into connector (id, type, name, resource_version, config) values (?, ?, ?, ?, ?)',
  )
  const insertClient = db.prepare(
    translateSqlite(
      'insert into client (id, secret, redirect_uris, trusted_peers, public, name, logo_url) values ($1, $2, $3, $4, $5, $6, $7)',
    ),
  )
  db.transaction(() => {
    for (const c of connectors) {
      const config =
        c.config === null ? null : c.storage === 'text' ? c.config : Buffer.from(c.config, 'utf8')
      const args: unknown[] = [c.id, c.type, c.name, c.resourceVersion ?? '', config]
      // CreateConnector: json.Marshal(connector.GrantTypes) of a nil slice is `null`, bound as []byte.
      if (hasGrantTypes) args.push(Buffer.from('null'))
      insert.run(...args)
    }
    // NetBird's two public clients (idp/dex/provider.go); Dex stores JSON arrays as []byte.
    for (const [id, name, uris] of [
      ['netbird-dashboard', 'NetBird Dashboard', ['https://netbird.example.com/nb-auth']],
      ['netbird-cli', 'NetBird CLI', ['http://localhost:53000/']],
    ] as const) {
      insertClient.run(id, '', Buffer.from(goJsonMarshal(uris)), Buffer.from('null'), 1, name, '')
    }
  })()
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface HeldLock {
  readonly pid: number
  /** Ends the other process's transaction (rollback, or commit if `commit`) and waits for it to exit. */
  release(opts?: { commit?: boolean }): Promise<void>
}

/**
 * Another process (as Dex would be) holding a write transaction on `dbPath`: 'immediate' takes the
 * RESERVED lock (readers still read, writers wait); 'exclusive' blocks readers too. Resolves once held.
 */
export function holdLock(
  dbPath: string,
  mode: 'immediate' | 'exclusive',
  opts: { commitAfterMs?: number } = {},
): Promise<HeldLock> {
  const script = `
    const Database = require('better-sqlite3')
    const db = new Database(process.argv[1])
    db.exec('begin ${mode}')
    db.prepare("update connector set name = name where id = 'local'").run()
    process.stdout.write('held\\n')
    const after = Number(process.argv[2])
    if (after > 0) setTimeout(() => { db.exec('commit'); db.close(); process.exit(0) }, after)
    let input = ''
    process.stdin.on('data', (b) => {
      input += b
      if (!input.includes('\\n')) return
      db.exec(input.startsWith('commit') ? 'commit' : 'rollback')
      db.close()
      process.exit(0)
    })
  `
  const child = spawn(process.execPath, ['-e', script, dbPath, String(opts.commitAfterMs ?? 0)], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let released = false
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)))
    child.stdout.once('data', () =>
      resolve({
        pid: child.pid!,
        release: async (opts = {}) => {
          if (!released && child.exitCode === null) {
            released = true
            child.stdin.end(opts.commit === true ? 'commit\n' : 'rollback\n')
          }
          await exited
        },
      }),
    )
  })
}

/**
 * Leave a hot journal behind, as a writer that dies mid-transaction does: another process updates every
 * connector (and the client table) with a one-page cache, so changed pages spill into the database file,
 * and is SIGKILLed before it commits.
 */
export async function leaveHotJournal(dbPath: string): Promise<void> {
  const script = `
    const Database = require('better-sqlite3')
    const db = new Database(process.argv[1])
    db.pragma('cache_size = 1')
    db.exec('begin immediate')
    db.exec("update connector set name = name || ' (torn)'")
    db.exec("update client set logo_url = hex(randomblob(3000))")
    process.stdout.write('dirty\\n')
    setInterval(() => undefined, 1000)
  `
  const child = spawn(process.execPath, ['-e', script, dbPath], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)))
    child.stdout.once('data', () => resolve())
  })
  child.removeAllListeners('exit')
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}
