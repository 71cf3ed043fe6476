// fetchDiscovery against real peers: raw issuers (the JumpCloud trailing-slash case that openid-client
// alone would accept), and one distinct reason per failure.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as client from 'openid-client'
import { discoveryUrl, issuersMatch } from '../../src/core/issuer.js'
import { classifyNetworkError, fetchDiscovery } from '../../src/oidc/discovery.js'
import {
  closedPort,
  startFailurePeer,
  startOidcPeer,
  startSelfSignedPeer,
} from '../helpers/oidc-peers.js'
import { defer } from '../helpers/cleanup.js'

const lab = { timeoutMs: 3000, allowInsecure: true }

test('a provider whose issuer ends with "/" returns it raw; stored without the slash, go-oidc would fail', async (t) => {
  const peer = await startOidcPeer({ path: '/' })
  defer(t, () => peer.close())
  const stored = peer.origin // what the JumpCloud guide warns about: no trailing slash
  const d = await fetchDiscovery(stored, lab)
  assert.equal(d.ok, true)
  assert.ok(d.ok)
  assert.equal(d.url, `${peer.origin}/.well-known/openid-configuration`)
  assert.equal(d.url, discoveryUrl(stored))
  assert.equal(d.issuer, peer.origin + '/')
  assert.equal(issuersMatch(stored, d.issuer), false)
  // The gotcha this guards against: openid-client alone accepts the pair (it normalises both to a URL).
  const cfg = await client.discovery(new URL(stored), 'x', undefined, undefined, {
    execute: [client.allowInsecureRequests],
  })
  assert.equal(cfg.serverMetadata().issuer, peer.origin + '/')
})

test('a provider whose issuer has no trailing slash: stored with one, the raw values differ', async (t) => {
  const peer = await startOidcPeer({ path: '' })
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.origin + '/', lab)
  assert.ok(d.ok)
  assert.equal(d.url, `${peer.origin}/.well-known/openid-configuration`)
  assert.equal(d.issuer, peer.origin)
  assert.equal(issuersMatch(peer.origin + '/', d.issuer), false)
  assert.equal(issuersMatch(peer.origin, d.issuer), true)
})

test('a realm-path issuer: exact match, and the trailing-slash variant is reported raw, not thrown', async (t) => {
  const peer = await startOidcPeer({ path: '/realms/corp/' })
  defer(t, () => peer.close())
  const exact = await fetchDiscovery(peer.issuer, lab)
  assert.ok(exact.ok)
  assert.equal(exact.issuer, `${peer.origin}/realms/corp/`)
  assert.equal(exact.url, `${peer.origin}/realms/corp/.well-known/openid-configuration`)
  // openid-client throws OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED for this pair; we return the raw value.
  const stored = `${peer.origin}/realms/corp`
  await assert.rejects(
    client.discovery(new URL(stored), 'x', undefined, undefined, {
      execute: [client.allowInsecureRequests],
    }),
    (err: unknown) =>
      err instanceof client.ClientError && err.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
  )
  const d = await fetchDiscovery(stored, lab)
  assert.ok(d.ok)
  assert.equal(d.issuer, `${peer.origin}/realms/corp/`)
  assert.ok(typeof d.document.token_endpoint === 'string')
})

test('HTTP 500 -> http-status with the status', async (t) => {
  const peer = await startFailurePeer('500')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, lab)
  assert.equal(d.ok, false)
  assert.ok(!d.ok)
  assert.equal(d.reason, 'http-status')
  assert.equal(d.status, 500)
  assert.match(d.message, /HTTP 500/)
})

test('an HTML page -> not-json', async (t) => {
  const peer = await startFailurePeer('html')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, lab)
  assert.ok(!d.ok)
  assert.equal(d.reason, 'not-json')
  assert.match(d.message, /not JSON \(text\/html/)
})

test('JSON without an issuer -> invalid-document', async (t) => {
  const peer = await startFailurePeer('no-issuer')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, lab)
  assert.ok(!d.ok)
  assert.equal(d.reason, 'invalid-document')
  assert.match(d.message, /no "issuer"/)
})

test('a server that accepts and never answers -> timeout, within the deadline', async (t) => {
  const peer = await startFailurePeer('hang')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, { timeoutMs: 300, allowInsecure: true })
  assert.ok(!d.ok)
  assert.equal(d.reason, 'timeout')
  assert.match(d.message, /within 300 ms/)
  assert.equal(peer.requests, 1)
})

test('a closed port -> tcp (connection refused)', async () => {
  const origin = await closedPort()
  const d = await fetchDiscovery(origin, lab)
  assert.ok(!d.ok)
  assert.equal(d.reason, 'tcp')
  assert.match(d.message, /connection refused.*ECONNREFUSED/)
})

test('a self-signed certificate -> tls', async (t) => {
  const peer = await startSelfSignedPeer()
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, { timeoutMs: 3000, allowInsecure: false })
  assert.ok(!d.ok)
  assert.equal(d.reason, 'tls')
  assert.match(d.message, /TLS with 127\.0\.0\.1:\d+ failed: .*self.signed/i)
})

test('plain http is refused (no request made) unless allowed', async (t) => {
  const peer = await startFailurePeer('500')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, { timeoutMs: 3000, allowInsecure: false })
  assert.ok(!d.ok)
  assert.equal(d.reason, 'insecure')
  assert.equal(peer.requests, 0)
  const notUrl = await fetchDiscovery('oauth.id.jumpcloud.com', lab)
  assert.ok(!notUrl.ok)
  assert.equal(notUrl.reason, 'insecure')
})

test('a redirect to another host is not followed', async (t) => {
  const peer = await startFailurePeer('redirect-elsewhere')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, lab)
  assert.ok(!d.ok)
  assert.equal(d.reason, 'http-status')
  assert.equal(d.status, 302)
  assert.match(d.message, /127\.0\.0\.2:9.*not followed/)
})

test("a redirect on the same host is followed, as go-oidc's net/http client does", async (t) => {
  const peer = await startFailurePeer('redirect-same-host')
  defer(t, () => peer.close())
  const d = await fetchDiscovery(peer.issuer, lab)
  assert.ok(d.ok)
  assert.equal(d.url, `${peer.origin}/.well-known/openid-configuration`)
  assert.equal(d.issuer, peer.origin)
  assert.equal(peer.requests, 2)
})

test("DNS failures are classified from undici's error shape (resolving a name would leave 127.0.0.1)", () => {
  // undici's fetch rejects with TypeError('fetch failed', { cause: <getaddrinfo error> }).
  const sysErr = Object.assign(new Error('getaddrinfo ENOTFOUND idp.invalid'), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname: 'idp.invalid',
  })
  const err = new TypeError('fetch failed', { cause: sysErr })
  const c = classifyNetworkError(
    err,
    new URL('https://idp.invalid/.well-known/openid-configuration'),
    false,
    5000,
  )
  assert.equal(c.reason, 'dns')
  assert.equal(c.message, 'cannot resolve host idp.invalid (ENOTFOUND)')
  const again = classifyNetworkError(
    new TypeError('fetch failed', {
      cause: Object.assign(new Error('getaddrinfo EAI_AGAIN x'), { code: 'EAI_AGAIN' }),
    }),
    new URL('https://x/'),
    false,
    5000,
  )
  assert.equal(again.reason, 'dns')
})
