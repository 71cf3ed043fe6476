// Lint: type-aware rules, and the architecture as rules — every import points down the layers
//   core  ←  adapters  ←  heal/daemon  ←  commands  ←  cli
// (core is pure; adapters do the I/O; heal/ and daemon.ts compose them; commands/ are the CLI's
// verbs; cli.ts is the entry point), and no import cycle anywhere. test/lint-layers.test.ts plants
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

/** Import specifiers (gitignore-style, matched against the import string) of each layer's modules. */
const layer = {
  adapters: [
    '**/store/**',
    '**/docker/**',
    '**/oidc/**',
    '**/netbird/**',
    '**/scan/**',
    '**/doctor/**',
    '**/bundle/**',
    '**/config/load.js',
    '**/config/schema.js',
    '**/config/yaml.js',
    '**/log.js',
    '**/metrics.js',
    '**/http-server.js',
    '**/version.js',
    '**/crash.js',
    '**/delay.js',
  ],
  heal: ['**/heal/**', '**/daemon.js'],
  commands: ['**/commands/**'],
  cli: ['**/cli.js'],
}

/** A rule that forbids importing the given layers, naming the direction. */
function importsFrom(message, ...layers) {
  return {
    'no-restricted-imports': [
      'error',
      {
        paths: [],
        patterns: [{ group: layers.flatMap((l) => layer[l]), message }],
      },
    ],
  }
}

const direction = 'imports point down the layers: core ← adapters ← heal/daemon ← commands ← cli'

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
              group: [...layer.adapters, ...layer.heal, ...layer.commands, ...layer.cli],
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
  {
    files: [
      'src/store/**/*.ts',
      'src/docker/**/*.ts',
      'src/oidc/**/*.ts',
      'src/netbird/**/*.ts',
      'src/scan/**/*.ts',
      'src/doctor/**/*.ts',
      'src/bundle/**/*.ts',
      'src/config/**/*.ts',
      'src/log.ts',
      'src/metrics.ts',
      'src/http-server.ts',
      'src/errors.ts',
      'src/version.ts',
      'src/crash.ts',
    ],
    rules: importsFrom(
      `adapters import core and adapters only: ${direction}`,
      'heal',
      'commands',
      'cli',
    ),
  },
  {
    files: ['src/heal/**/*.ts', 'src/daemon.ts'],
    rules: importsFrom(
      `heal/ and daemon.ts do not import commands or the cli: ${direction}`,
      'commands',
      'cli',
    ),
  },
  {
    files: ['src/commands/**/*.ts'],
    rules: importsFrom(`commands do not import the cli: ${direction}`, 'cli'),
  },
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
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
)
