// Hostile values, round two: what the store, a config file or the network hands the watchdog is
// checked and shown as data — issuers validated as Go and DNS see them, terminal escapes escaped in
// human output, connector configs of any nesting handled without recursion, other bytes of a config
// kept exactly, and a non-string issuer reported as bad input. Real idp.db files, real providers on
// 127.0.0.1, the real CLI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { connectorIssuer } from '../../src/core/connectors.js'
import { validateIssuer } from '../../src/core/issuer.js'
import { readConnectors } from '../../src/store/sqlite/idp-db.js'
import { runCli } from '../helpers/cli.js'
import { createIdpDb, jumpcloudId, oidcConnectors } from '../helpers/idp-fixture.js'
import { startOidcPeer, type Peer } from '../helpers/oidc-peers.js'
import { defer, type CleanupScope } from '../helpers/cleanup.js'

function tempDir(t: CleanupScope): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-values-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

// ---- 6. issuer validation ----

const strict = { allowInsecure: false }

test('validateIssuer: a bracketed host must be an IPv6 address, as Go checks since CVE-2025-47912', () => {
  for (const v of [
    'https://[1.2.3.4]/',
    'https://[:::::]/',
    'https://[12345::]/',
    'https://[1:2:3:4:5:6:7:8:9]/',
    'https://[1:2:3:4:5:6:7:8::]/',
    'https://[::1::2]/',
    'https://[1.2.3.4::]/',
    'https://[::ffff:1.2.3.04]/',
    'https://[v1.x]/',
    'https://[]/',
    'https://[g::1]/',
  ]) {
    const r = validateIssuer(v, strict)
    assert.equal(r.ok, false, v)
    assert.match(r.ok ? '' : r.problem, /bracketed host is not an IPv6 address/, v)
  }
  for (const v of [
    'https://[::1]/',
    'https://[::]:8443/x',
    'https://[2001:db8::1]/realms/x',
    'https://[::ffff:1.2.3.4]/',
    'https://[1:2:3:4:5:6:7:8]/',
    'https://[1:2:3:4:5:6:7::]/',
    'https://[::2:3:4:5:6:7:8]/',
    'https://[64:ff9b::192.0.2.33]/',
  ]) {
    assert.deepEqual(validateIssuer(v, strict), { ok: true }, v)
  }
})

test('validateIssuer: a host must be a DNS name or an IPv4 address', () => {
  const bad: Array<[string, RegExp]> = [
    ['https://-/', /not a DNS name/],
    ['https://../', /empty label/],
    ['https://a..b/', /empty label/],
    ['https://.example.com/', /empty label/],
    ['https://-a.example/', /not a DNS name/],
    ['https://a-.example/', /not a DNS name/],
    ['https://a!b.example/', /not a DNS name/],
    ["https://a'b.example/", /not a DNS name/],
    ['https://1.2.3/', /IPv4/],
    ['https://01.2.3.4/', /IPv4/],
    ['https://256.1.1.1/', /IPv4/],
    ['https://0x7f.0.0.1/', /numeric label/],
    ['https://example.123/', /numeric label/],
    [`https://${'a'.repeat(64)}.example/`, /longer than 63/],
    [`https://${'abcdefghi.'.repeat(26)}example/`, /longer than 253/],
    ['https://ex\u200bample.com/', /invisible or bidirectional-control/],
    ['https://ex\u202eample.com/', /invisible or bidirectional-control/],
    ['https://example.com\u00ad/', /invisible or bidirectional-control/],
    ['https://example.com/\u2066x', /invisible or bidirectional-control/],
    // JavaScript's \s counts U+FEFF as whitespace; refused either way.
    ['https://\ufeffexample.com/', /whitespace|invisible/],
    ['https://ex\u2024ample.com/', /internationalised domain name/],
  ]
  for (const [v, why] of bad) {
    const r = validateIssuer(v, strict)
    assert.equal(r.ok, false, JSON.stringify(v))
    assert.match(r.ok ? '' : r.problem, why, JSON.stringify(v))
  }
  for (const v of [
    'https://oauth.id.jumpcloud.com/',
    'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
    'https://keycloak_1:8443/realms/corp',
    'https://EXAMPLE.com./',
    'https://localhost:5556/dex',
    'https://127.0.0.1:8443/',
    'https://münchen.example/',
    'https://xn--mnchen-3ya.example/',
    'https://ａｂｃ.example/',
    `https://${'a'.repeat(63)}.example/`,
  ]) {
    assert.deepEqual(validateIssuer(v, strict), { ok: true }, v)
  }
})

test('validateIssuer: the 2048 limit counts UTF-8 bytes, not UTF-16 units', () => {
  const base = 'https://x.example/'
  // 18 + 2 × 1015 = 2048 bytes: the longest accepted.
  assert.deepEqual(validateIssuer(base + 'é'.repeat(1015), strict), { ok: true })
  const over = validateIssuer(base + 'é'.repeat(1016), strict)
  assert.deepEqual(over, { ok: false, problem: 'it is 2050 bytes long (at most 2048)' })
  // 4078 bytes in 1038 UTF-16 units: what the character count let through.
  const emoji = base + '😀'.repeat(1015)
  assert.equal(emoji.length, 2048)
  assert.equal(validateIssuer(emoji, strict).ok, false)
})

for (const [what, issuer] of [
  ['a bracketed IPv4 address', 'https://[1.2.3.4]/'],
  ['a host that is a dash', 'https://-/'],
  ['a host with two dots in a row', 'https://a..b/'],
  ['a right-to-left override in the host', 'https://oauth.id.jumpcloud\u202emoc.com/'],
  ['a zero-width space in the host', 'https://oauth.id.jump\u200bcloud.com/'],
  ['4078 bytes', `https://oauth.id.jumpcloud.com/${'😀'.repeat(1000)}`],
] as const) {
  test(`repair --issuer refuses ${what}: exit 2, nothing written, nothing raw on the terminal`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db)
    const hash = sha256(db)
    const res = await runCli(['repair', '--db', db, '--connector', jumpcloudId, '--issuer', issuer])
    assert.equal(res.code, 2, res.stderr)
    assert.match(res.stderr, /the new issuer for connector "d1c9q2ll0fgs73cunqsg" is not valid: /)
    assert.equal(sha256(db), hash)
    assert.deepEqual(readdirSync(dir), ['idp.db'])
    assert.doesNotMatch(res.stdout + res.stderr, /[\u200b\u202e]/)
  })
}

// ---- connector configs from the store: raw rows ----

/** The `config` column's exact bytes and storage class of every row. */
function rawConfigs(db: string): Map<string, { bytes: Buffer | null; type: string }> {
  const h = new Database(db, { readonly: true })
  try {
    const rows = h
      .prepare('select id, cast(config as blob) as bytes, typeof(config) as type from connector')
      .all() as { id: string; bytes: Buffer | null; type: string }[]
    return new Map(rows.map((r) => [r.id, { bytes: r.bytes, type: r.type }]))
  } finally {
    h.close()
  }
}

/** Put exactly `bytes` into a row's config, as BLOB (Dex) or TEXT (a manual sqlite3 edit). */
function setRawConfig(db: string, id: string, bytes: Buffer, storage: 'blob' | 'text'): void {
  const h = new Database(db)
  try {
    h.prepare(
      storage === 'blob'
        ? 'update connector set config = ? where id = ?'
        : 'update connector set config = cast(? as text) where id = ?',
    ).run(bytes, id)
  } finally {
    h.close()
  }
}

async function provider(t: CleanupScope): Promise<Peer> {
  // Its issuer has the trailing slash the stored ones lack: what a repair fixes.
  const p = await startOidcPeer({ path: '/' })
  defer(t, () => p.close())
  return p
}

// ---- 7. a deeply nested connector config ----

function deepConfig(issuer: string, depth: number): string {
  return `{"clientID":"c","clientSecret":"s","extra":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)},"issuer":${JSON.stringify(issuer)}}`
}

test('a connector config nested 9000 levels deep (Dex reads it) is handled: doctor reports, repair fixes the others and it too', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const p = await provider(t)
  const stored = p.origin // without the trailing slash the provider answers
  createIdpDb(db, {
    connectors: [
      ...oidcConnectors([{ id: 'corp', issuer: stored }]),
      { id: 'deep', type: 'oidc', name: 'Deep', config: deepConfig(p.issuer, 9000) },
    ],
  })
  const deepBefore = rawConfigs(db).get('deep')!.bytes!

  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure'])
  assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr)
  assert.doesNotMatch(doctor.stderr, /Maximum call stack|unexpected error/)
  assert.match(doctor.stdout, /✗ issuer-matches-discovery: .*trailing slash/)
  assert.match(doctor.stdout, /connector deep[^\n]*\n(?:\s+.*\n)*?\s+✓ issuer-matches-discovery/)

  const named = await runCli([
    'repair',
    '--db',
    db,
    '--connector',
    'corp',
    '--issuer',
    p.issuer,
    '--allow-insecure',
  ])
  assert.equal(named.code, 0, named.stderr)
  const rows = readConnectors(db)
  assert.equal(connectorIssuer(rows.find((r) => r.id === 'corp')!), p.issuer)
  assert.ok(rawConfigs(db).get('deep')!.bytes!.equals(deepBefore), 'the deep config is untouched')

  // The deep one itself can be repaired: one value changes, every other byte stays.
  const h = new Database(db)
  h.prepare('update connector set config = ? where id = ?').run(
    Buffer.from(deepConfig(stored, 9000)),
    'deep',
  )
  h.close()
  const discover = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
  assert.equal(discover.code, 0, discover.stdout + discover.stderr)
  assert.match(discover.stdout, /connector deep: issuer/)
  assert.ok(
    rawConfigs(db)
      .get('deep')!
      .bytes!.equals(Buffer.from(deepConfig(p.issuer, 9000))),
  )
})

test('a connector config nested deeper than Go accepts (10001) is reported and skipped; the others still repair', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const p = await provider(t)
  createIdpDb(db, {
    connectors: [
      ...oidcConnectors([{ id: 'corp', issuer: p.origin }]),
      { id: 'deeper', type: 'oidc', name: 'Deeper', config: deepConfig(p.origin, 10_001) },
    ],
  })
  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure'])
  assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr)
  assert.match(
    doctor.stdout,
    /✗ connector-config: connector "deeper": config is nested more than 10000 levels deep/,
  )
  const repair = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
  assert.equal(repair.code, 1, repair.stdout + repair.stderr)
  assert.match(repair.stdout, /connector corp: issuer/)
  assert.match(repair.stderr, /^skipped connector deeper: .*nested more than 10000 levels deep/m)
  const named = await runCli(['repair', '--db', db, '--connector', 'deeper', '--issuer', p.issuer])
  assert.equal(named.code, 2, named.stderr)
  assert.match(named.stderr, /nested more than 10000 levels deep .*; not changing it/)
})

// ---- 8. bytes that are not UTF-8 ----

for (const storage of ['blob', 'text'] as const) {
  test(`an issuer-only repair keeps every other byte, also bytes that are not UTF-8 (${storage})`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    const p = await provider(t)
    createIdpDb(db, { connectors: oidcConnectors([{ id: 'corp', issuer: p.origin }]) })
    // 0xE9 alone (Latin-1 é) in the client secret, 0xFF and a lone continuation byte in another
    // value: none is UTF-8, all are kept by Go's []byte.
    const part = (s: string): Buffer => Buffer.from(s, 'utf8')
    const before = Buffer.concat([
      part('{"clientID":"c","clientSecret":"s'),
      Buffer.from([0xe9]),
      part('cret","issuer":'),
      part(JSON.stringify(p.origin)),
      part(',"name":"x'),
      Buffer.from([0xff, 0x80]),
      part('","redirectURI":"https://nb.example/oauth2/callback"}'),
    ])
    setRawConfig(db, 'corp', before, storage)
    const res = await runCli([
      'repair',
      '--db',
      db,
      '--connector',
      'corp',
      '--issuer',
      p.issuer,
      '--allow-insecure',
      '--json',
    ])
    assert.equal(res.code, 0, res.stderr)
    const after = rawConfigs(db).get('corp')!
    assert.equal(after.type, storage)
    const want = Buffer.from(
      before.toString('latin1').replace(JSON.stringify(p.origin), JSON.stringify(p.issuer)),
      'latin1',
    )
    assert.equal(after.bytes!.toString('hex'), want.toString('hex'))
    assert.ok(after.bytes!.includes(Buffer.from([0x73, 0xe9, 0x63])), '0xE9 is still 0xE9')
    // The backup holds the old bytes exactly.
    const backup = (JSON.parse(res.stdout) as { backup: string }).backup
    assert.ok(rawConfigs(backup).get('corp')!.bytes!.equals(before))
  })
}

// ---- 9. an issuer that is not a string ----

for (const [what, config, found] of [
  [
    'a number',
    '{"clientID":"c","clientSecret":"s","issuer":123}',
    /"issuer" in its config is a number, not a string/,
  ],
  [
    'null',
    '{"clientID":"c","clientSecret":"s","issuer":null}',
    /"issuer" in its config is null, not a string/,
  ],
  [
    'an object',
    '{"clientID":"c","clientSecret":"s","issuer":{"u":"x"}}',
    /"issuer" in its config is an object, not a string/,
  ],
  [
    'missing',
    '{"clientID":"c","clientSecret":"s"}',
    /connector "corp" has no "issuer" in its config/,
  ],
  [
    'two keys Go reads as issuer',
    '{"clientID":"c","clientSecret":"s","issuer":"https://a.example","ISSUER":"https://b.example"}',
    /its config has 2 keys that Go's JSON decoder reads as "issuer" \("issuer", "ISSUER"; Dex uses the last\)/,
  ],
  [
    'ISSUER spelt with a long s, and issuer',
    '{"iſſuer":"https://a.example","clientID":"c","clientSecret":"s","issuer":"https://b.example"}',
    /its config has 2 keys that Go's JSON decoder reads as "issuer"/,
  ],
] as const) {
  test(`an issuer that is ${what}: repair --issuer exits 2 with one message saying so, nothing written`, async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'idp.db')
    createIdpDb(db, {
      connectors: [
        { id: 'local', type: 'local', name: 'Email', config: null },
        { id: 'corp', type: 'oidc', name: 'Corp', config },
      ],
    })
    const hash = sha256(db)
    const res = await runCli([
      'repair',
      '--db',
      db,
      '--connector',
      'corp',
      '--issuer',
      'https://fixed.example/',
    ])
    assert.equal(res.code, 2, res.stdout + res.stderr)
    assert.match(res.stderr, found)
    assert.doesNotMatch(res.stderr, /rolled back/)
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr)
    assert.equal(sha256(db), hash)
    assert.deepEqual(readdirSync(dir), ['idp.db'], 'no backup: nothing was begun')

    // --discover skips it, saying the same, and exits 1; doctor fails it.
    const discover = await runCli(['repair', '--db', db, '--discover'])
    assert.equal(discover.code, 1, discover.stdout + discover.stderr)
    assert.match(discover.stderr, /^skipped connector corp: /m)
    assert.match(discover.stderr, found)
    // doctor fails a connector Dex cannot open; one with two issuer keys opens (with the last), so
    // it is reported without a failure.
    const doctor = await runCli(['doctor', '--db', db])
    assert.equal(doctor.code, /keys|long s/.test(what) ? 0 : 1, doctor.stdout)
    assert.match(doctor.stdout, found)
  })
}

test('an issuer under a key Go also reads as issuer (ISSUER) is the issuer: read and repaired in place', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const p = await provider(t)
  const config = `{"ISSUER":${JSON.stringify(p.origin)},"clientID":"c","clientSecret":"s"}`
  createIdpDb(db, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      { id: 'corp', type: 'oidc', name: 'Corp', config },
    ],
  })
  const res = await runCli(['repair', '--db', db, '--discover', '--allow-insecure'])
  assert.equal(res.code, 0, res.stdout + res.stderr)
  assert.equal(
    rawConfigs(db).get('corp')!.bytes!.toString('utf8'),
    config.replace(JSON.stringify(p.origin), JSON.stringify(p.issuer)),
  )
})

// ---- 5. terminal escapes in what came from the store, a file or the network ----

/** Raw characters a terminal would interpret or hide (line feeds end lines and are allowed). */
const rawUnsafe =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/

function assertNoRawUnsafe(text: string, where: string): void {
  const m = rawUnsafe.exec(text)
  if (m === null) return
  assert.fail(
    `a raw U+${m[0].charCodeAt(0).toString(16).padStart(4, '0')} in ${where}: ${JSON.stringify(text.slice(Math.max(0, m.index - 60), m.index + 20))}`,
  )
}

test('a connector id and name holding terminal escapes and a bidi override are escaped in every human output, exact in --json', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'idp.db')
  const p = await provider(t)
  const id = 'corp\u001b[31mRED\u001b]0;owned\u0007\u0085'
  const name = 'Corp \u202egnp.exe\u200b'
  createIdpDb(db, {
    connectors: [
      { id: 'local', type: 'local', name: 'Email', config: null },
      {
        id,
        type: 'oidc',
        name,
        config: `{"clientID":"c","clientSecret":"s","issuer":${JSON.stringify(p.origin)}}`,
      },
    ],
  })
  const backups = join(dir, 'netbird-watchdog-backups')
  const shown = 'corp\\u001b[31mRED\\u001b]0;owned\\u0007\\u0085'
  // [what, argv, exit status, the hostile value as it must appear, escaped]
  const runs: Array<[string, string[], number, string | undefined]> = [
    ['doctor', ['doctor', '--db', db, '--allow-insecure'], 1, shown],
    [
      'repair --discover --dry-run',
      ['repair', '--db', db, '--discover', '--dry-run', '--allow-insecure'],
      0,
      shown,
    ],
    [
      'repair --connector (unknown: the known ids are listed)',
      ['repair', '--db', db, '--connector', 'nope', '--issuer', p.issuer],
      2,
      shown,
    ],
    [
      'backups create --reason',
      ['backups', 'create', '--db', db, '--reason', 'x\u001b[2Jy'],
      0,
      undefined,
    ],
    ['backups list', ['backups', 'list', '--db', db], 0, 'x\\u001b[2Jy'],
  ]
  for (const [what, args, code, proof] of runs) {
    const res = await runCli(args)
    assert.equal(res.code, code, `${what}: ${res.stdout}${res.stderr}`)
    assertNoRawUnsafe(res.stdout, `${what} stdout`)
    assertNoRawUnsafe(res.stderr, `${what} stderr`)
    if (proof !== undefined) {
      assert.ok((res.stdout + res.stderr).includes(proof), `${what} shows it, escaped`)
    }
  }
  assert.ok(
    (await runCli(['doctor', '--db', db, '--allow-insecure'])).stdout.includes(
      'Corp \\u202egnp.exe\\u200b',
    ),
  )
  assert.ok(readdirSync(backups).length > 0)

  // --json: the exact values, JSON-escaped, still one valid document.
  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure', '--json'])
  assertNoRawUnsafe(doctor.stdout, 'doctor --json')
  const report = JSON.parse(doctor.stdout) as { checks: { target: string }[] }
  assert.ok(report.checks.some((c) => c.target === `connector ${id} (${name})`))
  const repair = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(repair.code, 0, repair.stderr)
  assertNoRawUnsafe(repair.stdout, 'repair --json')
  const result = JSON.parse(repair.stdout) as { changes: { connectorId: string }[] }
  assert.deepEqual(
    result.changes.map((c) => c.connectorId),
    [id],
  )
  const list = await runCli(['backups', 'list', '--db', db, '--json'])
  assertNoRawUnsafe(list.stdout, 'backups list --json')
  const listed = JSON.parse(list.stdout) as { reason: string }[]
  assert.ok(listed.some((b) => b.reason === 'x\u001b[2Jy'))
})

test('scan: issuers from a log line holding C1 controls and a bidi override are escaped', async (t) => {
  const dir = tempDir(t)
  const log = join(dir, 'management.log')
  const got = 'https://oauth.id.jumpcloud.com/\u202e\u0085\u009b31m'
  writeFileSync(
    log,
    `2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: failed to create embedded IdP provider: failed to create dex server: server: Failed to open connector d5k3c2ejl7ks73b0hq2g: failed to open connector: failed to create connector d5k3c2ejl7ks73b0hq2g: failed to get provider: oidc: issuer did not match the issuer returned by provider, expected "https://oauth.id.jumpcloud.com" got "${got}"\n`,
  )
  const text = await runCli(['scan', log])
  assert.equal(text.code, 1, text.stderr)
  assertNoRawUnsafe(text.stdout, 'scan stdout')
  assert.match(
    text.stdout,
    /provider-returns="https:\/\/oauth\.id\.jumpcloud\.com\/\\u202e\\u0085\\u009b31m"/,
  )
  const json = await runCli(['scan', log, '--json'])
  assertNoRawUnsafe(json.stdout, 'scan --json')
  const finding = JSON.parse(json.stdout.split('\n')[0]!) as { returnedIssuer: string }
  assert.equal(finding.returnedIssuer, got)
})
