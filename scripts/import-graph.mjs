#!/usr/bin/env node
// The import graph of src/, every import counted — type-only ones too, which ESLint's import-x/no-cycle
// skips — checked for cycles. Run by `npm run lint` after ESLint (which holds the floors, eslint.config.js);
// test/unit/lint-layers.test.ts plants a type-only cycle and shows this rejecting it.
// Imports are read by TypeScript's own pre-processor (ts.preProcessFile: every `import`, `export … from`,
// `import type`, `import()`), so comments and strings cannot fool it; relative specifiers ending in
// `.js` name the `.ts` beside them (NodeNext).
//
//   node scripts/import-graph.mjs [--root DIR]   exit 0: no cycle; 1: cycles, each listed; 2: usage
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const args = process.argv.slice(2)
const at = args.indexOf('--root')
if (args.length > 0 && (at === -1 || args[at + 1] === undefined)) {
  process.stderr.write('usage: node scripts/import-graph.mjs [--root DIR]\n')
  process.exit(2)
}
const root = resolve(at >= 0 ? args[at + 1] : join(dirname(fileURLToPath(import.meta.url)), '..'))
const src = join(root, 'src')

/** Every .ts file under `dir`. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return files(path)
    return e.name.endsWith('.ts') ? [path] : []
  })
}

/** The project files a module imports (external packages and node: modules left out). */
function importsOf(file) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    .filter((path) => existsSync(path))
}

const graph = new Map(files(src).map((f) => [f, importsOf(f)]))

// Tarjan's strongly connected components: a component of more than one file, or a file that imports
// itself, is a cycle.
let index = 0
const stack = []
const meta = new Map()
const cycles = []
function visit(v) {
  meta.set(v, { index, low: index, onStack: true })
  index++
  stack.push(v)
  for (const w of graph.get(v) ?? []) {
    if (!meta.has(w)) {
      visit(w)
      meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low)
    } else if (meta.get(w).onStack) {
      meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index)
    }
  }
  if (meta.get(v).low === meta.get(v).index) {
    const component = []
    let w
    do {
      w = stack.pop()
      meta.get(w).onStack = false
      component.push(w)
    } while (w !== v)
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component)
  }
}
for (const v of graph.keys()) if (!meta.has(v)) visit(v)

if (cycles.length === 0) {
  process.stdout.write(
    `import graph: ${graph.size} modules, no cycle (type-only imports included)\n`,
  )
  process.exit(0)
}
for (const c of cycles) {
  process.stderr.write(
    `import cycle (type-only imports count too): ${c
      .map((f) => relative(root, f))
      .sort()
      .join(' <-> ')}\n`,
  )
}
process.exit(1)
