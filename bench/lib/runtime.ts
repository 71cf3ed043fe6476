// Which node runs what a bench measures. Every node process a bench starts runs with the image's
// NODE_OPTIONS (the Dockerfile's `ENV NODE_OPTIONS=…`), as the shipped daemon does. A second runtime
// can be measured beside the shipped one in the same run, on the same code, to tell a runtime's
// effect from the machine's:
//   NBW_BENCH_COMPARE_NODE=/usr/bin/node NBW_BENCH_COMPARE_ROOT=<tree> npm run bench
// where <tree> is a copy of this checkout at the same commit, built (`npm run build`), whose
// node_modules were rebuilt for that node (`npm rebuild better-sqlite3` with it first on PATH):
// BENCHMARKS.md, "How to run". The bench refuses a tree whose dist/ differs from this one's.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

export interface Runtime {
  /** `node26`: what figures of this runtime are suffixed with. */
  readonly label: string
  readonly node: string
  /** The checkout whose dist/ and node_modules this node runs. */
  readonly root: string
  readonly version: string
}

/** The image's `ENV NODE_OPTIONS=…` (Dockerfile): the options the shipped daemon runs with. */
export function imageNodeOptions(): string {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
  const m = /^ENV NODE_OPTIONS=(?:"([^"]*)"|(\S*))\s*$/m.exec(dockerfile)
  return m?.[1] ?? m?.[2] ?? ''
}

/** The environment of every node process a bench starts. */
export function nodeEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: imageNodeOptions(), ...extra }
}

function runtimeOf(node: string, root: string): Runtime {
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
  return { label: `node${version.replace(/^v/, '').split('.')[0]}`, node, root, version }
}

/** The node running the bench, on this checkout. */
export const shippedRuntime: Runtime = {
  label: `node${process.versions.node.split('.')[0]}`,
  node: process.execPath,
  root: repoRoot,
  version: process.version,
}

/** Hash of every file under dist/: the same build, whichever tree it sits in. */
function distHash(root: string): string {
  const hash = createHash('sha256')
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.js')) {
        hash.update(relative(root, path))
        hash.update(readFileSync(path))
      }
    }
  }
  walk(join(root, 'dist'))
  return hash.digest('hex')
}

let compare: Runtime | null | undefined

/** The runtime to compare with (NBW_BENCH_COMPARE_NODE / _ROOT), or undefined when none is set. */
export function compareRuntime(): Runtime | undefined {
  if (compare !== undefined) return compare ?? undefined
  const node = process.env.NBW_BENCH_COMPARE_NODE
  const root = process.env.NBW_BENCH_COMPARE_ROOT
  if (!node || !root) {
    compare = null
    return undefined
  }
  if (!existsSync(join(root, 'dist/cli.js'))) {
    throw new Error(`NBW_BENCH_COMPARE_ROOT=${root}: no dist/cli.js (run npm run build there)`)
  }
  if (distHash(root) !== distHash(repoRoot)) {
    throw new Error(
      `NBW_BENCH_COMPARE_ROOT=${root}: its dist/ is not this checkout's build (same commit, npm run build in both)`,
    )
  }
  compare = runtimeOf(node, root)
  return compare
}

/** The shipped runtime, then the compared one when set. */
export function runtimes(): Runtime[] {
  const other = compareRuntime()
  return other ? [shippedRuntime, other] : [shippedRuntime]
}

/** A figure name for a runtime: unchanged for the shipped one, suffixed for the other. */
export function named(name: string, runtime: Runtime): string {
  return runtime === shippedRuntime ? name : `${name}_${runtime.label}`
}
