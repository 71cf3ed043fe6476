// Lint: type-aware rules, and the architecture as rules — every import points down the floors of the
// house (`floors` below, docs/architecture.md): the leaves, pure core, then the adapters in their own
// order (config; store | oidc | scan | metrics; docker; netbird), then the use cases (locate; doctor |
// bundle), heal/ and daemon.ts, commands/, cli.ts — and no import cycle anywhere, type-only included. test/unit/lint-layers.test.ts plants
// each kind of violation in a temporary file and shows lint rejecting it.
import js from '@eslint/js'
import { importX } from 'eslint-plugin-import-x'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import tseslint from 'typescript-eslint'

/** Node and library modules that do I/O: never in core. */
const nodeIoModules = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'tls',
  'dns',
  'dns/promises',
  'dgram',
  'child_process',
  'cluster',
  'worker_threads',
  'os',
  'process',
  'perf_hooks',
  'readline',
  'crypto',
  'timers',
  'timers/promises',
]
const ioModules = [
  ...nodeIoModules,
  ...nodeIoModules.map((name) => `node:${name}`),
  'dockerode',
  'better-sqlite3',
  'pg',
  'openid-client',
  'pino',
  'prom-client',
  'node-cron',
]

/**
 * The floors of the house, bottom to top (docs/architecture.md). A room is a group of modules: its
 * files (globs from the repository root) and how an import names them (gitignore-style, matched
 * against the import string). A room may import its own modules and any room on a LOWER floor —
 * never a room on its own floor (siblings stay apart) nor one above. `errors.ts` is below everything;
 * core has stricter rules of its own (purity, below).
 */
const floors = [
  [
    {
      room: 'leaves',
      files: [
        'src/log.ts',
        'src/delay.ts',
        'src/version.ts',
        'src/crash.ts',
        'src/files.ts',
        'src/node-http.ts',
      ],
      specs: [
        '**/log.js',
        '**/delay.js',
        '**/version.js',
        '**/crash.js',
        '**/files.js',
        '**/node-http.js',
      ],
    },
  ],
  [{ room: 'core', files: ['src/core/**/*.ts'], specs: ['**/core/**'] }],
  [{ room: 'config', files: ['src/config/**/*.ts'], specs: ['**/config/**'] }],
  [
    { room: 'store', files: ['src/store/**/*.ts'], specs: ['**/store/**'] },
    { room: 'oidc', files: ['src/oidc/**/*.ts'], specs: ['**/oidc/**'] },
    { room: 'scan', files: ['src/scan/**/*.ts'], specs: ['**/scan/**'] },
    {
      room: 'metrics',
      files: ['src/metrics.ts', 'src/http-server.ts'],
      specs: ['**/metrics.js', '**/http-server.js'],
    },
  ],
  [{ room: 'docker', files: ['src/docker/**/*.ts'], specs: ['**/docker/**'] }],
  [{ room: 'netbird', files: ['src/netbird/**/*.ts'], specs: ['**/netbird/**'] }],
  [{ room: 'locate', files: ['src/locate/**/*.ts'], specs: ['**/locate/**'] }],
  [
    { room: 'doctor', files: ['src/doctor/**/*.ts'], specs: ['**/doctor/**'] },
    { room: 'bundle', files: ['src/bundle/**/*.ts'], specs: ['**/bundle/**'] },
  ],
  [
    {
      room: 'heal',
      files: ['src/heal/**/*.ts', 'src/daemon.ts'],
      specs: ['**/heal/**', '**/daemon.js'],
    },
  ],
  [{ room: 'commands', files: ['src/commands/**/*.ts'], specs: ['**/commands/**'] }],
  [{ room: 'cli', files: ['src/cli.ts'], specs: ['**/cli.js'] }],
]

const direction =
  'imports point down the floors: leaves ← core ← config ← store | oidc | scan | metrics ← docker ← netbird ← locate ← doctor | bundle ← heal/daemon ← commands ← cli (docs/architecture.md)'

/** One config block per room: its siblings and every room above it are off limits. */
function floorRules() {
  return floors.flatMap((floor, level) =>
    floor
      .filter((r) => r.room !== 'core')
      .map((r) => {
        const above = floors.slice(level + 1).flat()
        const siblings = floor.filter((o) => o !== r)
        return {
          files: r.files,
          rules: {
            'no-restricted-imports': [
              'error',
              {
                paths: [],
                patterns: [
                  ...(above.length > 0
                    ? [
                        {
                          group: above.flatMap((o) => o.specs),
                          message: `${r.room} may not import a room above it: ${direction}`,
                        },
                      ]
                    : []),
                  ...(siblings.length > 0
                    ? [
                        {
                          group: siblings.flatMap((o) => o.specs),
                          message: `${r.room} may not import its sibling on the same floor (${siblings.map((o) => o.room).join(', ')}): ${direction}`,
                        },
                      ]
                    : []),
                ],
              },
            ],
          },
        }
      }),
  )
}

/** What core may never import: every room but core (and node's I/O, below). */
const notCore = floors
  .flat()
  .filter((r) => r.room !== 'core')
  .flatMap((r) => r.specs)

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/out/**', 'test/fixtures/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // How import-x reads the modules it follows: TypeScript sources behind `.js` specifiers.
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({
            name,
            message: 'src/core is pure: do I/O in an adapter.',
          })),
          patterns: [
            {
              group: notCore,
              message: `src/core is pure and imports only core (and errors): ${direction}`,
            },
          ],
        },
      ],
      // Dynamic import() would pass every import rule above.
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'src/core is pure: no dynamic import().' },
      ],
      'no-restricted-globals': [
        'error',
        'process',
        'fetch',
        'setTimeout',
        'setInterval',
        'setImmediate',
        'queueMicrotask',
        'crypto',
        'globalThis',
        'require',
        { name: 'Date', message: 'src/core is pure: take the time as an argument.' },
        { name: 'performance', message: 'src/core is pure: take the time as an argument.' },
      ],
    },
  },
  ...floorRules(),
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Only src/cli.ts exits the process.' },
      ],
    },
  },
  {
    // An ES import of node:http loads Node's bundled undici into every process (src/node-http.ts).
    files: ['src/**/*.ts'],
    ignores: ['src/core/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[importKind!='type'][source.value=/^(node:)?http$/]",
          message: 'Take node:http from src/node-http.ts: an ES import of it loads undici.',
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    ignores: ['test/helpers/cleanup.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.type='MemberExpression'][callee.property.name='after']",
          message:
            'Tear down with defer(t, fn) from test/helpers/cleanup.ts: t.after runs first-registered-first and stops at the first that throws.',
        },
      ],
    },
  },
)
