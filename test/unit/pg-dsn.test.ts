import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { isWatchdogError } from '../../src/errors.js'
import {
  dsnIdentity,
  dsnLabel,
  dsnNotes,
  isDsn,
  isSocketHost,
  parseDsn,
  type PgSettings,
} from '../../src/core/dsn.js'

/** A password with every quoting hazard; it (and any part of it) must appear in no output. */
const canary = `Canary#'q' \\ "x" @:/?&=%+ 9d2f7b1c`
const canaryParts = ['Canary', '9d2f7b1c', `'q'`, '"x"']

function kvQuote(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

function assertNoSecret(text: string, secret = canary): void {
  assert.ok(!text.includes(secret), `secret leaked: ${text}`)
  for (const part of canaryParts) {
    if (secret === canary) assert.ok(!text.includes(part), `part of the secret leaked: ${text}`)
  }
}

function everyRendering(value: unknown): string {
  return [
    String(value),
    JSON.stringify(value),
    inspect(value, { depth: 10, showHidden: true }),
    value instanceof Error ? (value.stack ?? '') : '',
  ].join('\n')
}

function parse(dsn: string): PgSettings {
  return parseDsn(dsn)
}

test('URI: every part, percent-decoded, sslmode passed through', () => {
  const s = parse(
    `postgres://net%20bird:${encodeURIComponent(canary)}@db.example.com:6543/idp%2Dstore?sslmode=require`,
  )
  assert.equal(s.host, 'db.example.com')
  assert.equal(s.port, 6543)
  assert.equal(s.database, 'idp-store')
  assert.equal(s.user, 'net bird')
  assert.equal(s.password?.reveal(), canary)
  assert.equal(s.sslMode, 'require')
  assert.equal(s.sslModeGiven, true)
  assert.equal(dsnLabel(s), 'postgres://net bird@db.example.com:6543/idp-store')
  assert.equal(dsnIdentity(s), 'db.example.com:6543/idp-store')
  assertNoSecret(dsnLabel(s) + dsnIdentity(s))
})

test("URI: postgresql:// too; NetBird's defaults (localhost, 5432) and Dex's (verify-full)", () => {
  const s = parse('postgresql:///netbird')
  assert.equal(s.host, 'localhost')
  assert.equal(s.port, 5432)
  assert.equal(s.database, 'netbird')
  assert.equal(s.user, undefined)
  assert.equal(s.password, undefined)
  assert.equal(s.sslMode, 'verify-full')
  assert.equal(s.sslModeGiven, false)
  assert.equal(dsnLabel(s), 'postgres://localhost:5432/netbird')
})

test('URI: an IPv6 host in brackets', () => {
  const s = parse('postgres://nb@[::1]:5433/idp?sslmode=disable')
  assert.equal(s.host, '::1')
  assert.equal(s.port, 5433)
  assert.equal(dsnLabel(s), 'postgres://nb@[::1]:5433/idp')
  assert.equal(dsnIdentity(s), '[::1]:5433/idp')
  const bare = parse('postgres://[fe80::1%25eth0]/idp')
  assert.equal(bare.host, 'fe80::1%eth0')
  assert.equal(bare.port, 5432)
})

test('URI: a unix-socket directory, percent-encoded as the host or as ?host=', () => {
  const a = parse('postgresql://%2Fvar%2Frun%2Fpostgresql:5433/idp')
  assert.equal(a.host, '/var/run/postgresql')
  assert.equal(a.port, 5433)
  assert.ok(isSocketHost(a))
  const b = parse('postgresql://nb@/idp?host=/run/postgresql&port=5434')
  assert.equal(b.host, '/run/postgresql')
  assert.equal(b.port, 5434)
  assert.ok(isSocketHost(b))
  assert.equal(dsnIdentity(b), '/run/postgresql:5434/idp')
})

test('URI: query parameters (password, user, sslmode) override the authority, as in libpq', () => {
  const s = parse(
    `postgres://ignored@h/db?user=nb&password=${encodeURIComponent(canary)}&sslmode=verify-ca`,
  )
  assert.equal(s.user, 'nb')
  assert.equal(s.password?.reveal(), canary)
  assert.equal(s.sslMode, 'verify-ca')
})

test('URI: a user name without a password, and an empty password', () => {
  assert.equal(parse('postgres://nb@h/db').password, undefined)
  assert.equal(parse('postgres://nb:@h/db').password, undefined)
  assert.equal(parse('postgres://nb:@h/db').user, 'nb')
})

test('key=value: plain values, any order, spaces around =', () => {
  const s = parse(
    'dbname = netbird  host=pg.internal port=5433\tuser=nb password=s3cret sslmode=disable',
  )
  assert.equal(s.host, 'pg.internal')
  assert.equal(s.port, 5433)
  assert.equal(s.database, 'netbird')
  assert.equal(s.user, 'nb')
  assert.equal(s.password?.reveal(), 's3cret')
  assert.equal(s.sslMode, 'disable')
})

test("key=value: quoted values with \\' and \\\\ escapes (libpq), and NetBird's doubled ''", () => {
  const s = parse(`host=h dbname='my db' user='o\\'brien' password=${kvQuote(canary)}`)
  assert.equal(s.database, 'my db')
  assert.equal(s.user, "o'brien")
  assert.equal(s.password?.reveal(), canary)
  assert.equal(parse(`dbname=d password='it''s'`).password?.reveal(), "it's")
  assert.equal(parse(`dbname=d password='a\\\\b'`).password?.reveal(), 'a\\b')
  assert.equal(parse(`dbname=d password=un\\ quoted`).password?.reveal(), 'un quoted')
  assert.equal(parse(`dbname=d password=''`).password, undefined)
  assert.equal(parse(`dbname=d password='x'user=u`).user, 'u')
})

test('key=value: a unix socket directory and an IPv6 address', () => {
  const sock = parse('host=/var/run/postgresql dbname=idp user=nb')
  assert.ok(isSocketHost(sock))
  assert.equal(dsnLabel(sock), 'postgres://nb@/var/run/postgresql:5432/idp')
  const v6 = parse('host=::1 port=6000 dbname=idp')
  assert.equal(v6.host, '::1')
  assert.equal(dsnIdentity(v6), '[::1]:6000/idp')
  assert.equal(parse('hostaddr=127.0.0.1 dbname=idp').host, '127.0.0.1')
})

test('every sslmode NetBird accepts is passed through', () => {
  for (const mode of ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']) {
    assert.equal(parse(`dbname=d sslmode=${mode}`).sslMode, mode)
    assert.equal(parse(`postgres://h/d?sslmode=${mode}`).sslMode, mode)
  }
  const files = parse('dbname=d sslmode=verify-full sslrootcert=/etc/ca.pem sslcert=/c sslkey=/k')
  assert.equal(files.sslRootCert, '/etc/ca.pem')
  assert.equal(files.sslCert, '/c')
  assert.equal(files.sslKey, '/k')
})

test('libpq keywords the watchdog does not use are named; unknown parameters only counted', () => {
  const s = parse(`dbname=d application_name=nb options='-c x=y' ${canary.slice(0, 6)}=1`)
  assert.deepEqual(s.ignoredKeys, ['application_name', 'options'])
  assert.equal(s.unknownKeys, 1)
  assert.equal(parse('dbname=d connect_timeout=7').connectTimeoutS, 7)
})

test('the password is a Secret: no rendering of the settings shows it', () => {
  const s = parse(`postgres://nb:${encodeURIComponent(canary)}@h/db`)
  assert.equal(`${String(s.password)}`, '[redacted]')
  assertNoSecret(everyRendering(s))
  assertNoSecret(JSON.stringify({ settings: s }))
  assertNoSecret(inspect({ ...s }, { depth: 5 }))
})

// Malformed DSNs, each with the canary as (part of) its password: the error names what is wrong and
// never quotes the DSN or any part of the password.
const malformed: ReadonlyArray<readonly [string, string, RegExp]> = [
  ['empty', '   ', /empty/],
  ['garbage', 'not a dsn', /parameter 1 has no "="/],
  ['no =', `host=h dbname=d ${canary.slice(0, 8)}`, /parameter 3 has no "="/],
  ['key missing', `=x dbname=d`, /parameter 1 has no key/],
  [
    'unterminated quote',
    `dbname=d password=${kvQuote(canary).slice(0, -1)}`,
    /"password" has no closing quote/,
  ],
  [
    'unterminated quote, unknown key',
    `dbname=d pw=${kvQuote(canary).slice(0, -1)}`,
    /parameter 2 has no closing quote/,
  ],
  ['port not a number', `dbname=d port=${canary.slice(0, 6)} password=${kvQuote(canary)}`, /port/],
  ['port 0', `dbname=d port=0 password=${kvQuote(canary)}`, /port is not a number from 1 to 65535/],
  ['port too big', `postgres://u:${encodeURIComponent(canary)}@h:70000/d`, /port/],
  ['no dbname', `host=h password=${kvQuote(canary)}`, /names no database/],
  ['URI without dbname', `postgres://u:${encodeURIComponent(canary)}@h:5432`, /names no database/],
  ['bad sslmode', `dbname=d sslmode=${canary.slice(0, 6)} password=${kvQuote(canary)}`, /sslmode/],
  [
    'bad percent-encoding',
    `postgres://u:${canary.slice(0, 6)}%zz@h/d`,
    /password has an invalid percent-encoding/,
  ],
  ['raw # in URI', `postgres://u:${canary}@h/d`, /"#"/],
  // An unencoded '/' in the password ends the authority early: the rest would become the database.
  [
    'raw / in the password',
    `postgres://u:12/${encodeURIComponent(canary)}@h/d`,
    /"@" after the host/,
  ],
  ['IPv6 unclosed', `postgres://u:${encodeURIComponent(canary)}@[::1/d`, /IPv6/],
  ['several hosts', `postgres://u:${encodeURIComponent(canary)}@a:1,b:2/d`, /several hosts/],
  ['several hosts kv', `host=a,b dbname=d password=${kvQuote(canary)}`, /several hosts/],
  [
    'query without =',
    `postgres://u:${encodeURIComponent(canary)}@h/d?sslmode`,
    /query parameter 1/,
  ],
  [
    'bad connect_timeout',
    `dbname=d connect_timeout=soon password=${kvQuote(canary)}`,
    /connect_timeout/,
  ],
]

for (const [name, dsn, why] of malformed) {
  test(`malformed DSN (${name}): CONFIG_INVALID naming the problem, nothing of the DSN quoted`, () => {
    let caught: unknown
    try {
      parseDsn(dsn, { source: 'idp.dsn' })
    } catch (err) {
      caught = err
    }
    assert.ok(isWatchdogError(caught, 'CONFIG_INVALID'), `got ${String(caught)}`)
    assert.match(caught.message, why)
    assert.match(caught.message, /^idp\.dsn is not a usable PostgreSQL DSN: /)
    assert.equal(caught.cause, undefined)
    assertNoSecret(everyRendering(caught))
    if (dsn.trim() !== '') assert.ok(!caught.message.includes(dsn.trim()))
  })
}

test('a malformed --db DSN is a USAGE error', () => {
  assert.throws(
    () => parseDsn('dbname', { code: 'USAGE', source: '--db' }),
    (err) => isWatchdogError(err, 'USAGE') && err.message.startsWith('--db is not a usable'),
  )
})

test('isDsn tells a DSN from a file path', () => {
  for (const dsn of [
    'postgres://h/db',
    'postgresql://u:p@h:5432/db?sslmode=disable',
    '  host=localhost dbname=netbird',
    'dbname=netbird',
    "password='x y' host=h dbname=d",
    'foo=bar host=h',
  ]) {
    assert.equal(isDsn(dsn), true, dsn)
  }
  for (const path of [
    '/var/lib/netbird/idp.db',
    './idp.db',
    'idp.db',
    'data/idp.db',
    '/srv/host=1/idp.db',
    'a=b.db',
    'C:\\netbird\\idp.db',
    'postgres/idp.db',
    '',
  ]) {
    assert.equal(isDsn(path), false, path)
  }
})

test('dsnNotes says how a DSN was read, with key names and counts only', () => {
  assert.deepEqual(dsnNotes(parse('host=h user=u dbname=d sslmode=disable')), [])
  const notes = dsnNotes(parse(`dbname=d application_name=x ${canary.slice(0, 6)}=1`))
  assert.equal(notes.length, 4)
  assert.match(notes[0]!, /verify-full is assumed/)
  assert.match(notes[1]!, /no user/)
  assert.match(notes[2]!, /application_name are not used/)
  assert.match(notes[3]!, /^1 parameter\(s\)/)
  assertNoSecret(notes.join('\n'))
  // A unix socket never uses TLS: no note about sslmode.
  assert.deepEqual(dsnNotes(parse('host=/run/postgresql user=u dbname=d')), [])
})
