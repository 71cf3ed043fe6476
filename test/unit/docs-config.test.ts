// docs/configuration.md describes exactly the configuration the code reads: every key of the config
// schema (src/config/schema.ts, walked through zod's JSON Schema export) with its default, no key the
// schema does not have, the environment overrides of src/config/load.ts and every other variable it
// reads. A key added to the schema without a line in the doc fails here.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { envOverrides } from '../../src/config/load.js'
import { configSchema } from '../../src/config/schema.js'

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
const loadSource = readFileSync(new URL('../../src/config/load.ts', import.meta.url), 'utf8')

/** The text of the `## title` section, up to the next level-2 heading. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`)
  assert.notEqual(start, -1, `docs/configuration.md has no "## ${title}" section`)
  const end = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, end === -1 ? undefined : end)
}

/** Table rows whose first cell is one code span: [first cell, second cell, the whole row]. */
function rows(text: string): Array<[string, string, string]> {
  return text.split('\n').flatMap((line): Array<[string, string, string]> => {
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]*?)\s*\|/.exec(line)
    return m === null ? [] : [[m[1]!, m[2]!, line]]
  })
}

interface JsonSchema {
  readonly type?: string
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly items?: JsonSchema
  readonly required?: readonly string[]
  readonly default?: unknown
}

type KeyKind = 'default' | 'optional' | 'required'

/** Every configurable key: `section.key`, and `list[].key` for the fields of list entries. */
function schemaKeys(): Map<string, KeyKind> {
  const keys = new Map<string, KeyKind>()
  const walk = (node: JsonSchema, prefix: string): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const path = prefix === '' ? name : `${prefix}.${name}`
      if (child.type === 'object' && child.properties !== undefined) {
        walk(child, path)
        continue
      }
      const kind: KeyKind =
        'default' in child ? 'default' : node.required?.includes(name) ? 'required' : 'optional'
      keys.set(path, kind)
      if (child.type === 'array' && child.items?.properties !== undefined) {
        walk(child.items, `${path}[]`)
      }
    }
  }
  walk(z.toJSONSchema(configSchema(), { io: 'input' }) as JsonSchema, '')
  return keys
}

/** The value `configSchema().parse({})` gives a key (undefined for optional keys and list fields). */
function defaultOf(path: string): unknown {
  let node: unknown = configSchema().parse({})
  for (const part of path.split('.')) {
    node =
      node !== null && typeof node === 'object'
        ? (node as Record<string, unknown>)[part]
        : undefined
  }
  return node
}

test('every key of the config schema is documented with its default, and every documented key exists', () => {
  const keys = schemaKeys()
  assert.ok(keys.size > 30, `the schema walk found only ${keys.size} keys`)
  const documented = new Map(rows(section('Keys')).map(([key, dflt]) => [key, dflt]))
  const missing = [...keys.keys()].filter((k) => !documented.has(k))
  assert.deepEqual(missing, [], 'keys of src/config/schema.ts missing from docs/configuration.md')
  const unknown = [...documented.keys()].filter((k) => !keys.has(k))
  assert.deepEqual(unknown, [], 'keys in docs/configuration.md that the schema does not have')
  for (const [key, kind] of keys) {
    const cell = documented.get(key)!
    if (kind === 'required') {
      assert.equal(cell, 'required', `${key}: a list entry's field is documented as "required"`)
    } else if (kind === 'optional') {
      assert.equal(cell, 'unset', `${key} has no default: documented as "unset"`)
    } else {
      const m = /^`([^`]*)`$/.exec(cell)
      assert.ok(m !== null, `${key}: the default is one code span, got ${cell}`)
      assert.deepEqual(parseYaml(m[1]!), defaultOf(key), `${key}: documented default`)
    }
  }
})

test('the environment overrides are exactly those of src/config/load.ts', () => {
  const table = rows(section('Environment overrides'))
  const documented = table.map(([env, key]) => `${env} -> ${key.replace(/`/g, '')}`).sort()
  const actual = envOverrides.map((o) => `${o.env} -> ${o.path.join('.')}`).sort()
  assert.deepEqual(documented, actual)
  for (const o of envOverrides.filter((e) => e.list === true)) {
    const row = table.find(([env]) => env === o.env)!
    assert.match(row[2], /comma-separated/, `${o.env} is a list: say it is comma-separated`)
  }
})

test('every secret (and its _FILE form) and every other variable load.ts reads is documented, and no other', () => {
  const secrets = [...loadSource.matchAll(/secret\('([A-Z_]+)'\)/g)].map((m) => m[1]!)
  assert.ok(secrets.length >= 2, 'load.ts reads its secrets through secret(NAME)')
  const secretSection = section('Secrets')
  for (const name of secrets) {
    assert.ok(secretSection.includes(`\`${name}\``), `${name} in the Secrets section`)
    assert.ok(secretSection.includes(`\`${name}_FILE\``), `${name}_FILE in the Secrets section`)
  }
  const readDirectly = [...loadSource.matchAll(/env\.([A-Z_]+)/g)].map((m) => m[1]!)
  for (const name of readDirectly) assert.ok(doc.includes(`\`${name}\``), `${name} is documented`)
  const known = new Set([
    ...envOverrides.map((o) => o.env),
    ...secrets.flatMap((s) => [s, `${s}_FILE`]),
    ...readDirectly,
  ])
  const mentioned = new Set([...doc.matchAll(/NETBIRD_WATCHDOG_[A-Z_]+/g)].map((m) => m[0]))
  assert.deepEqual(
    [...mentioned].filter((name) => !known.has(name)),
    [],
    'variables in docs/configuration.md that src/config/load.ts does not read',
  )
})
