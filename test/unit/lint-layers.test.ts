// The architecture holds because lint holds it: each kind of violation is planted in a file under src/
// and the project's own ESLint configuration must reject it with the rule that guards it
// (eslint.config.js), while a probe that respects the layers passes. The probes are planted in a
// temporary copy of what ESLint reads (src/, eslint.config.js, the tsconfigs, package.json, the
// import-graph script; node_modules linked) and ESLint runs there: a killed run leaves nothing in the
// real src/, where neither CI's `git diff` nor a reviewer would see an untracked file.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { defer } from '../helpers/cleanup.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const tag = `zz-lint-probe-${process.pid}`

/** Copies the folder `from` to `to`, recursively (files and folders only). */
function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyTree(join(from, e.name), join(to, e.name))
    else if (e.isFile()) copyFileSync(join(from, e.name), join(to, e.name))
  }
}

/** A temporary copy of what ESLint reads to lint src/, with the repository's node_modules linked. */
function projectCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-lint-probes-'))
  copyTree(join(repo, 'src'), join(dir, 'src'))
  for (const f of ['eslint.config.js', 'tsconfig.json', 'tsconfig.test.json', 'package.json']) {
    copyFileSync(join(repo, f), join(dir, f))
  }
  mkdirSync(join(dir, 'scripts'))
  copyFileSync(join(repo, 'scripts', 'import-graph.mjs'), join(dir, 'scripts', 'import-graph.mjs'))
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return dir
}

interface Probe {
  /** What is planted (the test's name for it). */
  what: string
  /** Files to write, relative to the repository; the first one is the one that must fail. */
  files: Record<string, string>
  /** The rule that must report it (undefined: the probe must pass). */
  rule?: string
}

const probes: Probe[] = [
  {
    what: 'core imports an adapter (relative path)',
    files: {
      [`src/core/${tag}-a.ts`]: `import { readConnectors } from '../store/sqlite/idp-db.js'\nexport const f = readConnectors\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'core imports the heal layer',
    files: {
      [`src/core/${tag}-b.ts`]: `import type { HealOutcome } from '../heal/outcome.js'\nexport type X = HealOutcome\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'core imports an I/O module',
    files: {
      [`src/core/${tag}-c.ts`]: `import { readFileSync } from 'node:fs'\nexport const f = readFileSync\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'core imports an I/O module without the node: prefix',
    files: {
      [`src/core/${tag}-c2.ts`]: `import { lookup } from 'dns'\nexport const f = lookup\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'core imports a module at run time (dynamic import)',
    files: {
      [`src/core/${tag}-c3.ts`]: `export const f = (): Promise<unknown> => import('node:fs')\n`,
    },
    rule: 'no-restricted-syntax',
  },
  {
    what: 'core reaches a global through globalThis',
    files: {
      [`src/core/${tag}-c4.ts`]: `export const f = (): unknown => globalThis.process\n`,
    },
    rule: 'no-restricted-globals',
  },
  {
    what: 'core reads the clock (Date)',
    files: { [`src/core/${tag}-d.ts`]: `export const now = (): number => Date.now()\n` },
    rule: 'no-restricted-globals',
  },
  {
    what: 'core reads the clock (performance)',
    files: { [`src/core/${tag}-e.ts`]: `export const now = (): number => performance.now()\n` },
    rule: 'no-restricted-globals',
  },
  {
    what: 'core sets a timer',
    files: {
      [`src/core/${tag}-f.ts`]: `export const later = (f: () => void): unknown => setTimeout(f, 1)\n`,
    },
    rule: 'no-restricted-globals',
  },
  {
    what: 'an adapter imports the heal layer',
    files: {
      [`src/store/${tag}-g.ts`]: `import type { HealOutcome } from '../heal/outcome.js'\nexport type X = HealOutcome\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'an adapter imports a command',
    files: {
      [`src/docker/${tag}-h.ts`]: `import { intFlag } from '../commands/flags.js'\nexport const f = intFlag\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'the heal layer imports a command',
    files: {
      [`src/heal/${tag}-i.ts`]: `import { intFlag } from '../commands/flags.js'\nexport const f = intFlag\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'a command imports the cli',
    files: {
      [`src/commands/${tag}-j.ts`]: `import { buildProgram } from '../cli.js'\nexport const f = buildProgram\n`,
    },
    rule: 'no-restricted-imports',
  },
  {
    what: 'an import cycle',
    files: {
      [`src/scan/${tag}-k1.ts`]: `import { b } from './${tag}-k2.js'\nexport const a = (): number => b() + 1\n`,
      [`src/scan/${tag}-k2.ts`]: `import { a } from './${tag}-k1.js'\nexport const b = (): number => a() - 1\n`,
    },
    rule: 'import-x/no-cycle',
  },
  {
    what: 'process.exit outside cli.ts',
    files: {
      [`src/heal/${tag}-l.ts`]: `export const stop = (): never => process.exit(1)\n`,
    },
    rule: 'no-restricted-properties',
  },
  {
    what: 'an ES import of node:http (it loads undici: src/node-http.ts)',
    files: {
      [`src/oidc/${tag}-n.ts`]: `import { request } from 'node:http'\nexport const f = request\n`,
    },
    rule: 'no-restricted-syntax',
  },
  {
    what: 'imports that follow the layers (the control)',
    files: {
      [`src/commands/${tag}-m.ts`]: [
        `import { quoteText } from '../core/issuer.js'`,
        `import { repairIssuers } from '../heal/repair.js'`,
        `import { SqliteStore } from '../store/sqlite/store.js'`,
        `export const parts = [quoteText, repairIssuers, SqliteStore] as const`,
        '',
      ].join('\n'),
    },
  },
]

test('lint rejects every kind of layer violation and import cycle, and passes code that follows the layers', async (t) => {
  const root = projectCopy()
  defer(t, () => rmSync(root, { recursive: true, force: true }))
  for (const p of probes) {
    for (const [rel, text] of Object.entries(p.files)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true })
      writeFileSync(join(root, rel), text)
    }
  }
  const eslint = new ESLint({ cwd: root })
  const results = await eslint.lintFiles(probes.map((p) => join(root, Object.keys(p.files)[0]!)))
  for (const p of probes) {
    const file = join(root, Object.keys(p.files)[0]!)
    const result = results.find((r) => r.filePath === file)
    assert.ok(result, `linted ${file}`)
    const rules = result.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`)
    if (p.rule === undefined) {
      assert.deepEqual(rules, [], `${p.what}: ${JSON.stringify(result.messages)}`)
    } else {
      assert.ok(
        rules.includes(p.rule),
        `${p.what}: expected ${p.rule}, got ${JSON.stringify(rules)}`,
      )
    }
  }
})

test('the import graph: a cycle of type-only imports, which ESLint cannot see, is rejected', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-import-graph-'))
  try {
    mkdirSync(join(dir, 'src', 'heal'), { recursive: true })
    writeFileSync(
      join(dir, 'src', 'heal', 'a.ts'),
      "import type { B } from './b.js'\nexport interface A { b?: B }\n",
    )
    writeFileSync(
      join(dir, 'src', 'heal', 'b.ts'),
      "import type { A } from './a.js'\nexport interface B { a?: A }\n",
    )
    const run = (root: string) =>
      spawnSync(
        process.execPath,
        [join(root === dir ? repo : root, 'scripts/import-graph.mjs'), '--root', root],
        {
          encoding: 'utf8',
        },
      )
    const planted = run(dir)
    assert.equal(planted.status, 1, planted.stderr)
    assert.match(
      planted.stderr,
      /import cycle \(type-only imports count too\): src\/heal\/a\.ts <-> src\/heal\/b\.ts/,
    )
    // The project itself has none.
    const own = run(repo)
    assert.equal(own.status, 0, own.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
