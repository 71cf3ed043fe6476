// The one issuer policy (src/core/issuer-policy.ts): the pure rules, then the same verdict from every
// caller against a real provider that answers an issuer on another origin — `repair --discover`, the
// self-healing flow's drift check, and `doctor` all refuse it, and nothing is written.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { Registry } from 'prom-client'
import {
  discoveryTargets,
  judgeIssuer,
  type ConnectorDiscovery,
} from '../../src/core/issuer-policy.js'
import { quoteText, validateIssuer } from '../../src/core/issuer.js'
import { runCli } from '../helpers/cli.js'
import { removeContainers, requireDocker, runContainer, uniqueName } from '../helpers/docker.js'
import { createIdpDb, oidcConnectors } from '../helpers/idp-fixture.js'
import { startOtherOriginPeer } from '../helpers/oidc-peers.js'
import { metricValue, startTestSelfHealing } from '../helpers/selfheal.js'
import { defer } from '../helpers/cleanup.js'

const lax = { allowInsecure: true }
const strict = { allowInsecure: false }

test('validateIssuer: what Go parses and an issuer may be', () => {
  const good = [
    'https://oauth.id.jumpcloud.com/',
    'https://oauth.id.jumpcloud.com',
    'https://sso.example.com/realms/corp',
    'https://[2001:db8::1]:8443/auth',
    'https://xn--bcher-kva.example/',
    'https://bücher.example/',
    'https://login.example.com/a%20b',
  ]
  for (const v of good) assert.deepEqual(validateIssuer(v, strict), { ok: true }, v)
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['https://x.example/\n', /control character/],
    ['https://x.example/\u001b[31m', /control character/],
    ['https://x.example/a\tb', /control character/],
    ['https://x.example/a b', /whitespace/],
    ['https://x.example/#frag', /fragment/],
    ['https://x.example/?q=1', /query/],
    ['https://user:pass@x.example/', /user information/],
    ['https:x.example', /no host/],
    ['https:///path', /no host/],
    ['http://x.example/', /plain http/],
    ['ftp://x.example/', /not an http\(s\) URL/],
    ['x.example', /no scheme/],
    ['https://x.example:99999/', /port/],
    ['https://x.example:0/', /port/],
    ['https://x.example/%zz', /%-escape/],
    ['https://x{y}.example/', /host name/],
    // Go refuses an escaped ASCII byte in a host; WHATWG URL would decode it into another spelling.
    ['https://ex%61mple.com/', /%-escape/],
    ['https://b%C3%BCcher.example/', /%-escape/],
    [`https://x.example/${'a'.repeat(5000)}`, /bytes long/],
  ]
  for (const [v, why] of bad) {
    const r = validateIssuer(v, strict)
    assert.equal(r.ok, false, JSON.stringify(v))
    assert.match(r.ok ? '' : r.problem, why, JSON.stringify(v))
    // The problem never quotes the value.
    if (v.length > 12) assert.ok(!(r.ok ? '' : r.problem).includes(v.slice(8)), v)
  }
  assert.deepEqual(validateIssuer('http://127.0.0.1:8080/', lax), { ok: true })
})

test('quoteText escapes what a terminal would interpret or hide', () => {
  assert.equal(quoteText('a\u001b[31mb'), '"a\\u001b[31mb"')
  assert.equal(quoteText('a\nb\tc'), '"a\\nb\\tc"')
  assert.equal(quoteText('a\u007fb\u0085c'), '"a\\u007fb\\u0085c"')
  assert.equal(quoteText('a\u2028b\u202ec'), '"a\\u2028b\\u202ec"')
  assert.equal(quoteText('https://oauth.id.jumpcloud.com/'), '"https://oauth.id.jumpcloud.com/"')
})

const jc = 'https://oauth.id.jumpcloud.com'
const seen = (stored: string, first: string, second = first): ConnectorDiscovery => ({
  connectorId: 'c',
  stored,
  first: { ok: true, issuer: first },
  second: { ok: true, issuer: second },
})

test('judgeIssuer: a fix only on the same origin, for a valid issuer the provider stands by', () => {
  assert.equal(judgeIssuer(seen(jc, jc), strict).kind, 'match')
  assert.deepEqual(judgeIssuer(seen(jc, jc + '/'), strict), {
    kind: 'fix',
    connectorId: 'c',
    from: jc,
    to: jc + '/',
    why: 'the provider returns it with a trailing slash',
  })
  const refusal = (d: ConnectorDiscovery): string => {
    const v = judgeIssuer(d, strict)
    return v.kind === 'refuse' ? v.reason : v.kind
  }
  assert.equal(refusal(seen(jc, 'https://evil.example/')), 'other_origin')
  assert.equal(refusal(seen(jc, 'http://oauth.id.jumpcloud.com/')), 'invalid_issuer')
  assert.equal(refusal(seen(jc, jc + ':8443/')), 'other_origin')
  // The origin is compared as written (letter case aside), not after a URL parser normalised it.
  assert.equal(refusal(seen(jc, 'https://oauth.id.jumpcloud.com:443/')), 'other_origin')
  assert.equal(refusal(seen(jc, 'https://oauth.id.jumpcl%6Fud.com/')), 'invalid_issuer')
  assert.equal(refusal(seen('https://ex%61mple.com', 'https://ex%61mple.com/')), 'invalid_issuer')
  assert.equal(judgeIssuer(seen(jc, 'HTTPS://OAUTH.id.jumpcloud.com/'), strict).kind, 'fix')
  assert.equal(refusal(seen(jc, jc + '/x', jc + '/y')), 'not_self_consistent')
  assert.equal(refusal(seen(jc, jc + '/\u001b')), 'invalid_issuer')
  assert.equal(refusal(seen(jc, jc + '/#x')), 'invalid_issuer')
  assert.equal(
    judgeIssuer(
      { connectorId: 'c', stored: jc, first: { ok: false, reason: 'tcp', message: 'refused' } },
      strict,
    ).kind,
    'unreachable',
  )
  // Never fixed without the second look.
  assert.equal(
    refusal({ connectorId: 'c', stored: jc, first: { ok: true, issuer: jc + '/' } }),
    'not_self_consistent',
  )
})

test('discoveryTargets: connectors not asked are skipped with the reason', () => {
  const row = (id: string, config: Record<string, unknown> | null, configError?: string) => ({
    id,
    type: 'oidc',
    name: id,
    resourceVersion: '',
    config,
    rawConfig: config === null ? null : JSON.stringify(config),
    storage: config === null ? ('null' as const) : ('blob' as const),
    ...(configError !== undefined ? { configError } : {}),
  })
  const targets = discoveryTargets([
    row('ok', { issuer: jc }),
    row('none', null),
    row('broken', null, 'connector "broken": config is not valid JSON'),
    row('empty', { clientID: 'x' }),
    row('opaque', { issuer: 'https:x' }),
    { ...row('local', null), type: 'local' },
  ])
  assert.deepEqual(
    targets.map((t) => ('kind' in t ? [t.connectorId, t.reason] : [t.connectorId, t.stored])),
    [
      ['ok', jc],
      ['none', 'no_config'],
      ['broken', 'config_invalid'],
      ['empty', 'no_issuer'],
      ['opaque', 'stored_invalid'],
    ],
  )
})

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-policy-'))
  defer(t, () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('a provider answering another origin: repair --discover, the drift check and doctor all refuse it', async (t) => {
  await requireDocker()
  const peer = await startOtherOriginPeer({ servedPath: '/other', answerPath: '/evil' })
  defer(t, () => peer.close())
  const dir = tmp(t)
  const db = join(dir, 'idp.db')
  const id = 'd1c9q2ll0fgs73cunqsg'
  createIdpDb(db, { connectors: oidcConnectors([{ id, issuer: peer.issuer }]) })
  const before = sha(db)

  // repair --discover: not written, reported, exit 1.
  const repair = await runCli(['repair', '--db', db, '--discover', '--allow-insecure', '--json'])
  assert.equal(repair.code, 1, repair.stderr)
  const out = JSON.parse(repair.stdout) as {
    changes: unknown[]
    unresolved: Array<{ connectorId: string; reason: string }>
  }
  assert.deepEqual(out.changes, [])
  assert.equal(out.unresolved[0]?.connectorId, id)
  assert.match(out.unresolved[0]?.reason ?? '', /another origin/)
  assert.equal(sha(db), before)

  // doctor: the same verdict, with what to do about it.
  const doctor = await runCli(['doctor', '--db', db, '--allow-insecure', '--json'])
  assert.equal(doctor.code, 1)
  const check = (
    JSON.parse(doctor.stdout) as {
      checks: Array<{ id: string; status: string; message: string; remediation?: string }>
    }
  ).checks.find((c) => c.id === 'issuer-matches-discovery')
  assert.equal(check?.status, 'fail')
  assert.match(check?.message ?? '', /Not repaired automatically: .*another origin/)
  assert.match(check?.remediation ?? '', /--issuer/)

  // The self-healing flow's scheduled drift check, in repair mode, on a running target.
  const container = uniqueName('policy')
  defer(t, () => removeContainers([container]))
  await runContainer({ name: container, cmd: ['sleep', '600'] })
  const registry = new Registry()
  const heal = startTestSelfHealing(t, {
    dbPath: db,
    dir,
    registry,
    config: { mode: 'repair', targets: { names: [container], autoDetect: false } },
  })
  const drift = await heal.healer.checkDrift()
  assert.deepEqual(drift, { ok: false, drift: 1, unreachable: 0 })
  assert.equal(
    await metricValue(registry, 'netbird_watchdog_repairs_skipped_total', {
      container,
      reason: 'unsafe_issuer',
    }),
    1,
  )
  assert.equal(sha(db), before, 'idp.db untouched')
})
