import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  detectBlock,
  detectLine,
  maxLineLength,
  scanLiterals,
  type Finding,
} from '../../src/core/detect.js'
import { ruleIds, rules } from '../../src/core/rules.js'
import { testSeed } from '../helpers/seed.js'

const jumpcloud = {
  id: 'd5k3c2ejl7ks73b0hq2g',
  expected: 'https://oauth.id.jumpcloud.com',
  returned: 'https://oauth.id.jumpcloud.com/',
}
const fatalLine = rules[0]!.examples[0]!

describe('rule catalogue', () => {
  test('rule ids are the public contract, unique and all present', () => {
    assert.deepEqual(
      rules.map((r) => r.id),
      [...ruleIds],
    )
    assert.equal(new Set(ruleIds).size, ruleIds.length)
  })

  for (const rule of rules) {
    test(`${rule.id}: every example is classified as ${rule.id}`, () => {
      assert.ok(rule.examples.length > 0, 'each rule carries examples')
      assert.ok(rule.remediation.length > 20 && rule.meaning.length > 20)
      for (const example of rule.examples) {
        const finding = detectLine(example)
        assert.equal(finding?.rule, rule.id, `line: ${example.slice(0, 160)}`)
        assert.equal(finding.severity, rule.severity)
      }
    })
  }
})

describe('extraction', () => {
  test('the JumpCloud fatal line (v0.62–v0.65.1) yields connector, both issuers, fatal', () => {
    assert.deepEqual(detectLine(fatalLine, 7), {
      line: 7,
      rule: 'oidc-issuer-mismatch',
      severity: 'critical',
      fatal: true,
      connectorId: jumpcloud.id,
      expectedIssuer: jumpcloud.expected,
      returnedIssuer: jumpcloud.returned,
    })
  })

  test('the v0.65.2+ ERRO form with go-oidc v3.17+ text, fields in either order', () => {
    const err = `failed to open connector: failed to create connector ${jumpcloud.id}: failed to get provider: oidc: issuer URL provided to client ("${jumpcloud.expected}") did not match the issuer URL returned by provider ("${jumpcloud.returned}")`
    for (const fields of [`id: ${jumpcloud.id}, err: ${err}`, `err: ${err}, id: ${jumpcloud.id}`]) {
      const line = `2026-08-20T10:00:00.123Z ERRO [${fields}] idp/dex/logrus_handler.go:83: server: Failed to open connector`
      assert.deepEqual(detectLine(line), {
        line: 0,
        rule: 'oidc-issuer-mismatch',
        severity: 'critical',
        fatal: false,
        connectorId: jumpcloud.id,
        expectedIssuer: jumpcloud.expected,
        returnedIssuer: jumpcloud.returned,
      })
    }
  })

  test('field block with the id first and no connector id in the error text', () => {
    const line =
      '2026-08-20T10:00:00.123Z ERRO [id: okta-cs2gpbulh1g073b4vqlg, err: failed to get provider: 404 Not Found: nope] idp/dex/logrus_handler.go:83: server: Failed to open connector'
    const f = detectLine(line)
    assert.equal(f?.rule, 'connector-open-failed')
    assert.equal(f.connectorId, 'okta-cs2gpbulh1g073b4vqlg')
  })

  test('logrus JSON (NB_LOG_FORMAT=json) and slog text unescape the quoted issuers', () => {
    const json = rules[0]!.examples.find((e) => e.startsWith('{'))!
    const slog = rules[0]!.examples.find((e) => e.startsWith('time='))!
    for (const line of [json, slog]) {
      const f = detectLine(line)
      assert.equal(f?.connectorId, jumpcloud.id)
      assert.equal(f.expectedIssuer, jumpcloud.expected)
      assert.equal(f.returnedIssuer, jumpcloud.returned)
    }
    assert.equal(detectLine(json.replace('"level":"error"', '"level":"fatal"'))?.fatal, true)
  })

  test('every prefix NetBird logs can carry is understood', () => {
    const variants = [
      fatalLine,
      `netbird-management  | ${fatalLine}`,
      `2026-01-19T08:38:55.482913374Z ${fatalLine}`,
      `netbird-server-1  | 2026-01-19T08:38:55.482913374Z ${fatalLine}`,
      `${fatalLine}\r`,
      fatalLine.replace('2026-01-19T08:38:55Z', '2026-02-19T10:00:00.123Z'),
      fatalLine.replace(' FATL ', ' FATA '),
      fatalLine.replace('2026-01-19T08:38:55Z', '2026-01-19T08:38:55+01:00'),
    ]
    for (const line of variants) {
      const f = detectLine(line)
      assert.equal(f?.rule, 'oidc-issuer-mismatch', line.slice(0, 80))
      assert.equal(f.fatal, true, line.slice(0, 80))
      assert.equal(f.returnedIssuer, jumpcloud.returned)
      assert.equal(f.connectorId, jumpcloud.id)
    }
  })

  test('the most specific rule wins over the generic wrappers', () => {
    const storage = detectLine(rules.find((r) => r.id === 'idp-storage-failed')!.examples[0]!)
    assert.equal(storage?.rule, 'idp-storage-failed')
    const fatalOther =
      '2026-01-19T08:38:55Z FATL management/internals/server/modules.go:107: failed to create embedded IDP manager: issuer is required'
    assert.equal(detectLine(fatalOther)?.rule, 'embedded-idp-failed')
    assert.equal(
      detectLine(fatalOther.replace('embedded IDP manager', 'IDP manager'))?.rule,
      'idp-manager-failed',
    )
  })

  test('an ordinary ERRO line is not a finding, the same text at FATL is', () => {
    const line =
      '2026-01-19T08:38:55Z ERRO management/server/dns.go:201: failed to update DNS settings'
    assert.equal(detectLine(line), undefined)
    assert.equal(detectLine(line.replace(' ERRO ', ' FATL '))?.rule, 'fatal')
  })
})

describe('benign lines', () => {
  const corpus = readFileSync(new URL('../fixtures/benign.log', import.meta.url), 'utf8')
    .split('\n')
    .filter((l, i, all) => i < all.length - 1 || l !== '')

  test('the corpus is large enough to mean something', () => {
    assert.ok(corpus.length >= 200, `${corpus.length} lines`)
  })

  test('no benign line produces a finding', () => {
    const hits = corpus.map((l) => [l, detectLine(l)] as const).filter(([, f]) => f !== undefined)
    assert.deepEqual(hits, [])
  })

  test('the block search lets every rule example through', () => {
    const examples = rules.flatMap((r) => r.examples.map((e) => [r.id, e] as const))
    const found: Finding[] = []
    detectBlock(Buffer.from(examples.map(([, e]) => e).join('\n')), 1, (f) => found.push(f))
    assert.deepEqual(
      found.map((f) => f.rule),
      examples.map(([id]) => id),
    )
  })

  test('block scanning agrees with line-by-line classification and numbers lines', () => {
    const text = [...corpus.slice(0, 50), fatalLine, ...corpus.slice(50, 120), fatalLine].join('\n')
    const found: Finding[] = []
    const { lines, longLines } = detectBlock(Buffer.from(text), 1, (f) => found.push(f))
    assert.equal(lines, 122)
    assert.equal(longLines, 0)
    assert.deepEqual(
      found.map((f) => f.line),
      [51, 122],
    )
    assert.deepEqual(
      detectBlock(Buffer.from(''), 1, () => assert.fail('no finding expected')),
      { lines: 0, longLines: 0 },
    )
    assert.deepEqual(
      detectBlock(Buffer.from('a\nb\n'), 1, () => undefined),
      { lines: 2, longLines: 0 },
    )
    assert.deepEqual(
      detectBlock(Buffer.from(`a\n${'y'.repeat(maxLineLength + 1)}\n${fatalLine}`), 1, (f) =>
        found.push(f),
      ),
      { lines: 3, longLines: 1 },
    )
    assert.equal(found.at(-1)?.line, 3)
  })
})

test('the block search never drops a line that line-by-line classification would report', (t) => {
  // Lines assembled from every anchor, every fatal-level spelling the classifier knows, near
  // misses and random text, in every order: detectBlock must report exactly what detectLine does
  // (the literal search may skip only lines in which detectLine finds nothing).
  const pieces = [
    ...rules.flatMap((r) => r.anchors),
    ...rules.flatMap((r) => r.examples.map((e) => e.slice(0, 60))),
    'FATL ',
    'FATA ',
    'PANC ',
    'ERRO ',
    'Error: ',
    'panic: ',
    '2026-01-19T08:38:55Z ',
    'level=fatal',
    'level="panic"',
    'level=FATAL',
    'level=PANIC',
    ' level=fatal ',
    '"level":"fatal"',
    '"level": "panic"',
    'netbird-management  | ',
    'listing connectors from storage',
    'does not match',
    'fatal',
    'panic',
    'storage ',
  ]
  const line = fc
    .array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 6 })), { maxLength: 6 })
    .map((parts) => parts.join(''))
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
      const block: Finding[] = []
      detectBlock(Buffer.from(lines.join('\n')), 1, (f) => block.push(f))
      const single = lines.flatMap((l, i) => detectLine(l, i + 1) ?? [])
      assert.deepEqual(block, single)
    }),
    { numRuns: 5000, seed: testSeed(t) },
  )
})

describe('hostile input', () => {
  test('random strings never throw and classify to a known rule or nothing', (t) => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000, unit: 'binary' }), (s) => {
        const f = detectLine(s)
        assert.ok(f === undefined || (ruleIds as readonly string[]).includes(f.rule))
      }),
      { numRuns: 3000, seed: testSeed(t) },
    )
  })

  test('mutated real lines never throw', (t) => {
    const seeds = rules.flatMap((r) => r.examples)
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.nat(20), fc.string({ maxLength: 8, unit: 'binary' })), {
          maxLength: 6,
        }),
        (seed, edits) => {
          let line = seed
          for (const [at, del, ins] of edits) {
            const i = at % (line.length + 1)
            line = line.slice(0, i) + ins + line.slice(i + del)
          }
          detectLine(line)
          detectBlock(Buffer.from(line + '\n' + line), 1, () => undefined)
        },
      ),
      { numRuns: 3000, seed: testSeed(t) },
    )
  })

  test('pathological lines (repeated prefixes and quotes) stay bounded by the line cap', () => {
    const nasty = [
      'expected "'.repeat(20_000),
      'issuer did not match the issuer returned by provider, expected \\"'.repeat(2_000),
      'netbird-management  | '.repeat(5_000),
      '2026-01-19T08:38:55Z '.repeat(10_000) + 'FATL x',
      '[id: , id: , '.repeat(20_000),
      'Failed to open connector '.repeat(10_000),
      'JumpCloud API request ' + 'x'.repeat(3000) + ' failed with status',
    ]
    for (const line of nasty) {
      // Completes (the suite's own timeout is the guard); the result must be well-formed.
      const f = detectLine(line)
      assert.ok(f === undefined || (ruleIds as readonly string[]).includes(f.rule))
    }
    assert.ok(nasty.some((l) => l.length > maxLineLength))
  })
})

test('the scan literals come from the catalogue: every anchor contains one, every example an anchor', () => {
  for (const rule of rules) {
    for (const anchor of rule.anchors) {
      assert.ok(
        scanLiterals.some((l) => anchor.includes(l)),
        `${rule.id}: anchor "${anchor}" has no scan literal`,
      )
    }
    if (rule.id === 'fatal') continue
    for (const example of rule.examples) {
      assert.ok(
        rule.anchors.some((a) => example.includes(a)),
        `${rule.id}: ${example.slice(0, 80)}`,
      )
    }
  }
  for (const fatal of [
    'FATL',
    'FATA',
    'PANC',
    'Error: ',
    'level=fatal',
    'level="PANIC',
    '"level": "panic"',
  ]) {
    assert.ok(
      scanLiterals.some((l) => fatal.includes(l)),
      fatal,
    )
  }
})

test('anchors are matched on the raw line: printable ASCII that JSON logs do not escape', () => {
  // NB_LOG_FORMAT=json writes the message as a JSON string: Go's encoder escapes '"', '\\', control
  // characters and (logrus's default) '<', '>' and '&'. An anchor without them reads the same in a
  // JSON line as in a text line, and its bytes are its characters.
  for (const rule of rules) {
    for (const anchor of rule.anchors) {
      assert.match(anchor, /^[\x20-\x7e]+$/, `${rule.id}: "${anchor}"`)
      assert.doesNotMatch(anchor, /["\\<>&]/, `${rule.id}: "${anchor}"`)
    }
  }
})

describe('login-time and startup failures of NetBird v0.66+', () => {
  const example = (id: string, i = 0): string => rules.find((r) => r.id === id)!.examples[i]!
  const keycloak = {
    expected: 'https://sso.example.com/realms/corp',
    returned: 'https://keycloak.internal:8443/realms/corp',
  }

  test('login-issuer-mismatch yields both issuers, no connector, and is not fatal', () => {
    const viaBridge = example('login-issuer-mismatch')
    const viaSlog = rules.find((r) => r.id === 'login-issuer-mismatch')!.examples.at(-1)!
    assert.ok(viaSlog.startsWith('time='))
    for (const line of [viaBridge, viaSlog]) {
      assert.deepEqual(detectLine(line, 3), {
        line: 3,
        rule: 'login-issuer-mismatch',
        severity: 'error',
        fatal: false,
        expectedIssuer: keycloak.expected,
        returnedIssuer: keycloak.returned,
      })
    }
  })

  test('each new rule is recognised behind every prefix and zone NetBird logs can carry', () => {
    const txt = [
      'login-issuer-mismatch',
      'login-failed',
      'authorization-request-invalid',
      'datastore-key-mismatch',
      'geolocation-failed',
      'store-failed',
      'tls-failed',
    ]
    for (const id of txt) {
      const line = example(id)
      const ts = /^\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)/.exec(line)?.[0]
      assert.ok(ts !== undefined, `${id}: the first example starts with NetBird's timestamp`)
      const bare = line.slice(ts.length)
      const variants = [
        line,
        `netbird-server  | ${line}`,
        `netbird-management-1  | ${line}`,
        `2026-08-01T09:00:00.123456789Z ${line}`,
        `netbird-server  | 2026-08-01T09:00:00.123456789Z ${line}`,
        `${line}\r`,
        `2026-08-01T11:00:00.000+02:00${bare}`,
        `2026-08-01T04:00:00.000-05:00${bare}`,
        `2026-08-01T09:00:00Z${bare}`,
      ]
      for (const v of variants) assert.equal(detectLine(v)?.rule, id, v.slice(0, 120))
    }
    const config = example('config-invalid')
    for (const v of [config, `netbird-server  | ${config}`, `2026-08-01T09:00:00.1Z ${config}`]) {
      const f = detectLine(v)
      assert.equal(f?.rule, 'config-invalid', v)
      assert.equal(f.fatal, true, v)
    }
  })

  test('a field block in either order classifies the same', () => {
    const a =
      '2026-02-24T10:00:00.123Z ERRO [context: HTTP, requestID: 7d1e, accountID: cs2gpbulh1g073b4vqlg] management/server/http/middleware/auth_middleware.go:90: Error when validating JWT: decrypt user: decrypt email: decrypt: cipher: message authentication failed'
    const b = a.replace(
      'context: HTTP, requestID: 7d1e, accountID: cs2gpbulh1g073b4vqlg',
      'accountID: cs2gpbulh1g073b4vqlg, context: HTTP, requestID: 7d1e',
    )
    for (const line of [a, b]) {
      assert.deepEqual(detectLine(line), {
        line: 0,
        rule: 'datastore-key-mismatch',
        severity: 'critical',
        fatal: false,
      })
    }
  })

  test('fatal follows the line level: FATL, logrus JSON and stock text are fatal, ERRO is not', () => {
    const cases: Array<[string, string, boolean]> = [
      [example('store-failed'), 'store-failed', true],
      [example('store-failed', 3), 'store-failed', true],
      [example('store-failed', 4), 'store-failed', true],
      [example('geolocation-failed', 3), 'geolocation-failed', true],
      [example('config-invalid', 5), 'config-invalid', true],
      [example('tls-failed', 4), 'tls-failed', false],
      [example('datastore-key-mismatch', 3), 'datastore-key-mismatch', false],
      [example('login-failed'), 'login-failed', false],
      [example('authorization-request-invalid'), 'authorization-request-invalid', false],
    ]
    for (const [line, rule, fatal] of cases) {
      const f = detectLine(line)
      assert.equal(f?.rule, rule, line.slice(0, 120))
      assert.equal(f.fatal, fatal, line.slice(0, 120))
      assert.equal(f.connectorId, undefined, 'these lines name no connector')
    }
  })

  test('the more specific rule wins where causes nest', () => {
    const cases: Array<[string, string]> = [
      [
        '2026-08-01T09:00:00.000Z FATL management/internals/server/boot.go:89: failed to create store: decrypt user: decrypt email: decrypt: cipher: message authentication failed',
        'datastore-key-mismatch',
      ],
      [
        '2026-08-01T09:00:00.000Z FATL combined/main.go:11: failed to execute command: failed to setup TLS config: tls: failed to find any PEM data in certificate input',
        'tls-failed',
      ],
      [
        '2026-08-01T09:00:00.000Z FATL combined/main.go:11: failed to execute command: failed to create management config: authStore.dsn is required when authStore.engine is postgres',
        'config-invalid',
      ],
      [
        // Dex's storage is opened inside the embedded IdP: an invalid auth-store DSN is a storage failure.
        '2026-08-01T09:00:00.000Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: failed to create embedded IdP provider: failed to open storage: invalid postgres DSN: cannot parse `postgres://netbird@db:5432/idp?sslmode=maybe`: sslmode is invalid',
        'idp-storage-failed',
      ],
      [example('login-issuer-mismatch'), 'login-issuer-mismatch'],
      [
        example('login-issuer-mismatch').replace('id token issued by a different provider', 'x'),
        'login-failed',
      ],
    ]
    for (const [line, rule] of cases) assert.equal(detectLine(line)?.rule, rule, line)
  })

  test('a wrong password, the old geolocation warning and newer Dex companion lines are no finding', () => {
    const notFindings = [
      '2026-08-20T10:09:00.000Z ERRO [user: alice@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.',
      'netbird-server  | 2026-08-20T12:09:00.000+02:00 ERRO [user: alice@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.',
      'time=2026-01-08T09:12:44.120Z level=ERROR msg="failed login attempt: Invalid credentials." user=alice@example.com',
      '2025-06-01T08:00:00Z WARN management/cmd/management.go:201: could not initialize geolocation service. proceeding without geolocation support: failed to get database filename: unexpected EOF',
      '2026-08-20T10:01:02.344Z ERRO [redirect_uri: https://netbird.example.com/nb-auth, client_id: netbird-dashboard] idp/dex/logrus_handler.go:83: unregistered redirect_uri',
      '2026-08-20T10:01:02.344Z ERRO [client_id: netbird-dashbord] idp/dex/logrus_handler.go:83: invalid client_id provided',
    ]
    for (const line of notFindings) assert.equal(detectLine(line), undefined, line)
  })

  test("x/oauth2's two-line token error is one login-failed finding, on the line with the message", () => {
    const text = [
      '2026-08-20T10:07:40.002Z ERRO [err: oidc: failed to get token: oauth2: cannot fetch token: 401 Unauthorized',
      'Response: {"error":"unauthorized_client"}] idp/dex/logrus_handler.go:83: failed to authenticate',
    ].join('\n')
    const found: Finding[] = []
    detectBlock(Buffer.from(text), 1, (f) => found.push(f))
    assert.deepEqual(found, [{ line: 2, rule: 'login-failed', severity: 'error', fatal: false }])
  })

  test('a mixed stream (NB_LOG_FORMAT=json for NetBird, text for Dex) is classified line by line', () => {
    const stream = [
      '{"level":"info","msg":"running with the embedded IdP: https://netbird.example.com/oauth2","source":"management/cmd/management.go:306","time":"2026-08-20T12:00:00+02:00"}',
      example('login-failed'),
      '{"context":"HTTP","level":"error","msg":"Error when validating JWT: token is expired","requestID":"7d1e","source":"management/server/http/middleware/auth_middleware.go:90","time":"2026-08-20T12:00:01+02:00"}',
      '2026-08-20T10:09:00.000Z ERRO [user: alice@example.com] idp/dex/logrus_handler.go:83: failed login attempt: Invalid credentials.',
      example('datastore-key-mismatch', 3),
      example('authorization-request-invalid'),
      example('store-failed', 3),
      example('login-issuer-mismatch'),
    ]
    const found: Finding[] = []
    detectBlock(Buffer.from(stream.join('\n')), 1, (f) => found.push(f))
    assert.deepEqual(
      found.map((f) => [f.line, f.rule, f.fatal]),
      [
        [2, 'login-failed', false],
        [5, 'datastore-key-mismatch', false],
        [6, 'authorization-request-invalid', false],
        [7, 'store-failed', true],
        [8, 'login-issuer-mismatch', false],
      ],
    )
    assert.equal(found.at(-1)?.returnedIssuer, keycloak.returned)
  })
})

describe('the embedded IdP configuration failures of NetBird v0.66–v0.79', () => {
  const rule = (id: string) => rules.find((r) => r.id === id)!
  const fatalIds = [
    'idp-storage-config-invalid',
    'session-cookie-key-invalid',
    'local-auth-disable-refused',
  ]

  test('each is recognised behind every prefix and zone, fatal, and never as the generic wrapper', () => {
    for (const id of [...fatalIds, 'post-logout-redirect-unregistered']) {
      const line = rule(id).examples[0]!
      const ts = /^\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)/.exec(line)?.[0]
      assert.ok(ts !== undefined, `${id}: the first example starts with NetBird's timestamp`)
      const bare = line.slice(ts.length)
      const variants = [
        line,
        `netbird-server  | ${line}`,
        `netbird-management-1  | ${line}`,
        `2026-08-01T09:00:00.123456789Z ${line}`,
        `netbird-server  | 2026-08-01T09:00:00.123456789Z ${line}`,
        `${line}\r`,
        `2026-08-01T11:00:00.000+02:00${bare}`,
        `2026-08-01T09:00:00Z${bare}`,
      ]
      for (const v of variants) {
        const f = detectLine(v)
        assert.equal(f?.rule, id, v.slice(0, 140))
        assert.equal(f.fatal, fatalIds.includes(id), v.slice(0, 140))
        assert.equal(f.connectorId, undefined, 'these lines name no connector')
      }
    }
  })

  test('the three storage causes of the v0.77.1 source are one rule; other IdP causes stay generic', () => {
    const wrap = (cause: string): string =>
      `2026-08-20T10:00:00.123Z FATL management/internals/server/modules.go:129: failed to create embedded IDP service: ${cause}`
    const cases: Array<[string, string]> = [
      [
        'invalid IdP storage config: unsupported IdP storage type: sqlite',
        'idp-storage-config-invalid',
      ],
      [
        'invalid IdP storage config: unsupported IdP storage type: mysql',
        'idp-storage-config-invalid',
      ],
      ['storage DSN is required for postgres', 'idp-storage-config-invalid'],
      ['storage file is required for sqlite3', 'idp-storage-config-invalid'],
      [
        'invalid embedded IdP session cookie encryption key:NB_IDP_SESSION_COOKIE_ENCRYPTION_KEY (or sessionCookieEncryptionKey) must be 16, 24, or 32 bytes as a raw string or base64-encoded to one of those lengths; got 7 raw bytes',
        'session-cookie-key-invalid',
      ],
      [
        'cannot disable local authentication: no other identity providers configured',
        'local-auth-disable-refused',
      ],
      ['failed to check connectors: sql: database is closed', 'embedded-idp-failed'],
      ['issuer is required', 'embedded-idp-failed'],
      // Dex's own storage errors stay the storage rule: the store was named correctly but would not open.
      [
        'failed to create embedded IdP provider: failed to open storage: invalid postgres DSN: missing host',
        'idp-storage-failed',
      ],
    ]
    for (const [cause, id] of cases) assert.equal(detectLine(wrap(cause))?.rule, id, cause)
    // The combined server reports a postgres auth store without DSN from its command: config-invalid.
    assert.equal(
      detectLine(
        'time="2026-08-01T09:00:00Z" level=fatal msg="failed to execute command: failed to create management config: authStore.dsn is required when authStore.engine is postgres"',
      )?.rule,
      'config-invalid',
    )
  })

  test('the logout line yields no connector whatever the order of its fields', () => {
    const [a] = rule('post-logout-redirect-unregistered').examples
    const b = a!.replace(
      'client_id: netbird-dashboard, uri: https://dashboard.example.com/',
      'uri: https://dashboard.example.com/, client_id: netbird-dashboard',
    )
    for (const line of [a!, b]) {
      assert.deepEqual(detectLine(line), {
        line: 0,
        rule: 'post-logout-redirect-unregistered',
        severity: 'warning',
        fatal: false,
      })
    }
  })

  test('healthy and neighbouring lines of the same code are no finding', () => {
    const notFindings = [
      // embedded.go, after a successful start with localAuthDisabled
      '2026-08-20T10:00:01.000Z INFO management/server/idp/embedded.go:416: local authentication disabled - only external identity providers can be used',
      '2026-08-20T10:00:01.000Z INFO management/server/idp/embedded.go:419: embedded Dex IDP initialized with issuer: https://netbird.example.com/oauth2',
      // combined/cmd/config.go EnsureEncryptionKey: the cause of #5567, not yet a failure
      "2026-08-20T10:00:00.500Z WARN combined/cmd/config.go:795: DataStoreEncryptionKey generated (q2Vx3bPa...); add it to your config file under 'server.store.encryptionKey' to persist across restarts",
      // Dex logout: other outcomes of the same handler
      '2026-09-08T10:00:00.123Z ERRO [err: oidc: malformed jwt: go-jose/go-jose: compact JWS format must have three parts] idp/dex/logrus_handler.go:83: logout: invalid id_token_hint',
      '2026-09-08T10:00:00.123Z ERRO [err: parse "%zz": invalid URL escape "%zz"] idp/dex/logrus_handler.go:83: logout: failed to parse post_logout_redirect_uri',
    ]
    for (const line of notFindings) assert.equal(detectLine(line), undefined, line)
  })
})
