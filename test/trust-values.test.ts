// Hostile values, round two: what the store, a config file or the network hands the watchdog is
// checked and shown as data — issuers validated as Go and DNS see them, terminal escapes escaped in
// human output, connector configs of any nesting handled without recursion, other bytes of a config
// kept exactly, and a non-string issuer reported as bad input. Real idp.db files, real providers on
// 127.0.0.1, the real CLI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validateIssuer } from '../src/core/issuer.js'
import { runCli } from './helpers/cli.js'
import { createIdpDb, jumpcloudId } from './helpers/idp-fixture.js'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-trust-values-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
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
