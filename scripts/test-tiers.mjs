#!/usr/bin/env node
// Runs the test tiers (CONTRIBUTING.md, "Running the tests"): each tier is a folder of test/, sorted by
// what its files need from the machine, and runs with node's own test runner (`node --import tsx
// --test`), the files of one tier side by side up to the tier's concurrency. Node 20's `--test` takes
// no globs, so the files are listed here; this script runs on every Node the project supports.
//
//   unit    in-process only: src/ imported directly, servers on 127.0.0.1 in the test's own process
//           (oidc-provider, HTTP), temporary SQLite files, short-lived tools (promtool); no build
//   cli     the compiled CLI (dist/, so `npm run build` first) run as a child process, as an operator
//           runs it, against temporary files and in-process peers
//   store   a real PostgreSQL server (each file starts a throw-away cluster, test/helpers/postgres.ts)
//   engine  the Docker engine (and the test images, the project image, a private dockerd, PostgreSQL)
//   soak    long fault runs (hundreds of kills); no engine
//
//   node scripts/test-tiers.mjs [--parallel] TIER...    run the tiers (all: every tier), in order; with
//                                                       --parallel the engine tier (which mostly
//                                                       waits on containers) runs beside the others,
//                                                       which still run in order (each tier's output
//                                                       printed when it ends)
//   node scripts/test-tiers.mjs --list TIER...          print their files
//
// Prints each tier's duration and exits 1 if any file failed (every tier still runs), then the failed
// tests again, one line each (scripts/test-failures-reporter.mjs), so that the end of the output names
// them. On SIGTERM or SIGINT (e.g. .ci/run's timeout), the running tiers are stopped, their output so
// far is printed with the files node's runner names as interrupted, no further tier starts, and the
// exit code is 128 + the signal's number. Not --test-force-exit: on Node 26 it can end a file before
// the results of its last tests reach the runner, which then silently does not count them;
// test/helpers/cleanup.ts is what keeps a file from outliving its tests.
//
// The engine tier's image tests use one project image for the whole run: when the engine tier runs and
// NBW_TEST_IMAGE does not name one already, this script builds it from the working tree
// (scripts/build-image.sh, started at once), hands its tag to the tests in NBW_TEST_IMAGE and removes
// it at the end. The tier does not wait for the build: the files that import test/helpers/image.ts
// start last, and each waits for the build's status file (NBW_TEST_IMAGE_STATUS: the build's exit code,
// then its log). A caller that builds the image itself sets both (.ci/run starts its build earlier). A
// file run on its own builds its own.
// NBW_TEST_CONCURRENCY=N runs every tier N files at a time (1: one after another). NBW_TEST_SEED
// replays the randomness of a failed fault test (each prints the seed it used). NBW_TEST_TIMES=FILE
// appends each tier's duration to FILE (for .ci/run's summary).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

const repo = fileURLToPath(new URL('..', import.meta.url))

/**
 * Files run at once per tier, on a 2-core machine. unit and cli are CPU-bound (each spawned CLI loads
 * every module); store files each run a PostgreSQL server; engine files mostly wait on containers and
 * the `for:` of alert rules, and share the engine (unique names, labels) without sharing state.
 */
const tiers = { unit: 3, cli: 3, store: 2, engine: 3, soak: 1 }

const args = process.argv.slice(2)
const list = args.includes('--list')
const parallel = args.includes('--parallel')
let names = args.filter((a) => !a.startsWith('--'))
if (names.includes('all')) names = Object.keys(tiers)
const unknown = names.filter((n) => !(n in tiers))
if (
  names.length === 0 ||
  unknown.length > 0 ||
  args.some((a) => a.startsWith('--') && a !== '--list' && a !== '--parallel')
) {
  process.stderr.write(
    `usage: node scripts/test-tiers.mjs [--list | --parallel] TIER... (tiers: ${Object.keys(tiers).join(', ')}, all)\n`,
  )
  process.exit(2)
}

/**
 * The tier's test files, sorted, as paths relative to the repository; those that run the project image
 * (they import its helper) last, so that the build has the time the other files take.
 */
function filesOf(tier) {
  const dir = join(repo, 'test', tier)
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => relative(repo, join(dir, f)))
  const runsImage = (f) =>
    /from '\.\.\/helpers\/image\.js'/.test(readFileSync(join(repo, f), 'utf8'))
  return [...files.filter((f) => !runsImage(f)), ...files.filter(runsImage)]
}

if (list) {
  for (const tier of names) for (const f of filesOf(tier)) process.stdout.write(`${f}\n`)
  process.exit(0)
}

const forced = process.env.NBW_TEST_CONCURRENCY
if (forced !== undefined && !/^[1-9][0-9]*$/.test(forced)) {
  process.stderr.write(`NBW_TEST_CONCURRENCY must be a positive integer (got '${forced}')\n`)
  process.exit(2)
}

const started = Date.now()
/** The signal that stopped the run (SIGTERM, SIGINT), if one did; the node runners it was passed to. */
let interrupted
const runners = new Set()
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (interrupted !== undefined) return
    interrupted = signal
    say(`==> ${signal}: stopping the tiers that run; no further tier starts`)
    for (const child of runners) child.kill(signal)
  })
}
const seconds = (since) => Math.round((Date.now() - since) / 1000)
const say = (line) => process.stdout.write(`${line}\n`)

/** Runs a command; resolves with its exit code. Output inherited, or written to the file `out`. */
function run(cmd, argv, { env = process.env, out } = {}) {
  return new Promise((resolve) => {
    const fd = out === undefined ? undefined : openSync(out, 'w')
    const stdio = fd === undefined ? 'inherit' : ['ignore', fd, fd]
    const child = spawn(cmd, argv, { cwd: repo, env, stdio })
    runners.add(child)
    child.on('error', (err) => {
      process.stderr.write(`${cmd}: ${err.message}\n`)
      resolve(127)
    })
    child.on('close', (code, signal) => {
      runners.delete(child)
      if (fd !== undefined) closeSync(fd)
      resolve(code ?? (signal ? 128 : 1))
    })
  })
}

// One project image for the run, built while the first tiers run.
let image
if (names.includes('engine') && !process.env.NBW_TEST_IMAGE) {
  const runId = randomBytes(4).toString('hex')
  const tag = `netbird-watchdog:test-run-${runId}`
  const labels = [
    '--label',
    'netbird-watchdog.test=1',
    '--label',
    `netbird-watchdog.test.run=${runId}`,
  ]
  const logDir = mkdtempSync(join(tmpdir(), 'nbw-test-image-'))
  const log = join(logDir, 'build.log')
  const status = join(logDir, 'status')
  const t0 = Date.now()
  say(`==> the project image ${tag}: building from the working tree (scripts/build-image.sh)`)
  image = {
    tag,
    status,
    logDir,
    built: run('bash', [join(repo, 'scripts/build-image.sh'), tag, '--', ...labels], {
      out: log,
    }).then((code) => {
      const text = readFileSync(log, 'utf8')
      // Written whole, then renamed: a test never reads half of it.
      writeFileSync(`${status}.tmp`, `${code}\n${text}`)
      renameSync(`${status}.tmp`, status)
      if (code !== 0) say(`==> the project image: build FAILED (exit ${code}):\n${text}`)
      else say(`==> the project image ${tag}: built in ${seconds(t0)}s`)
      return code
    }),
  }
}

async function runTier(tier, { buffered }) {
  if (interrupted !== undefined)
    return { tier, seconds: 0, ok: false, note: 'not run', failures: [] }
  const files = filesOf(tier)
  const concurrency = Number(forced ?? tiers[tier])
  const env = { ...process.env }
  if (tier === 'engine' && image !== undefined) {
    env.NBW_TEST_IMAGE = image.tag
    env.NBW_TEST_IMAGE_STATUS = image.status
  }
  const t0 = Date.now()
  const header = `==> test:${tier}: ${files.length} files, ${concurrency} at a time`
  const outDir = mkdtempSync(join(tmpdir(), `nbw-test-${tier}-`))
  const out = buffered ? join(outDir, 'out.txt') : undefined
  const failuresFile = join(outDir, 'failures.txt')
  if (!buffered) say(header)
  const code = await run(
    process.execPath,
    [
      // A failure's file:line is the TypeScript source's, not tsx's output's.
      '--enable-source-maps',
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(repo, 'scripts/test-failures-reporter.mjs')}`,
      `--test-reporter-destination=${failuresFile}`,
      ...files,
    ],
    { env, out },
  )
  const stoppedBy = interrupted
  const imageFailed = tier === 'engine' && image !== undefined && (await image.built) !== 0
  const ok = code === 0 && !imageFailed && stoppedBy === undefined
  const note = stoppedBy !== undefined ? `INTERRUPTED by ${stoppedBy}` : ok ? 'pass' : 'FAIL'
  const line = `==> test:${tier}: ${seconds(t0)}s (${note})`
  let failures = []
  try {
    failures = readFileSync(failuresFile, 'utf8').split('\n').filter(Boolean)
  } catch {
    // No file: the runner ended before its reporters started.
  }
  if (imageFailed) failures.push('the project image did not build (its log is above)')
  const output = buffered ? readFileSync(out, 'utf8') : ''
  if (stoppedBy !== undefined) {
    // The files node's runner had not reported yet when it stopped (its spec reporter lists them).
    const list = output.split('Interrupted while running:')[1] ?? ''
    for (const m of list.matchAll(/^\u26a0 (\S+)/gmu))
      failures.push(`${m[1]}  interrupted before node's runner reported it`)
  }
  if (buffered) say(`${header}\n${output}${line}`)
  else say(line)
  rmSync(outDir, { recursive: true, force: true })
  return { tier, seconds: seconds(t0), ok, note: ok ? '' : note, failures }
}

let results
if (parallel) {
  const inOrder = async (list) => {
    const done = []
    for (const tier of list) done.push(await runTier(tier, { buffered: true }))
    return done
  }
  const beside = names.filter((n) => n === 'engine')
  const rest = names.filter((n) => n !== 'engine')
  results = (await Promise.all([inOrder(beside), inOrder(rest)])).flat()
} else {
  results = []
  for (const tier of names) results.push(await runTier(tier, { buffered: false }))
}

if (image !== undefined) {
  await image.built
  rmSync(image.logDir, { recursive: true, force: true })
  await run('docker', ['image', 'rm', '-f', image.tag], { out: '/dev/null' })
}

const lines = results.map(
  (r) => `${String(r.seconds).padStart(5)}s  test:${r.tier}${r.note ? `  ${r.note}` : ''}`,
)
const failed = results.flatMap((r) => r.failures.map((f) => `FAILED test:${r.tier}  ${f}`))
say(`\n==> test tiers (${seconds(started)}s in all)`)
for (const line of lines) say(line)
if (failed.length > 0) {
  say(`\n==> failed tests (${failed.length})`)
  for (const line of failed) say(line)
}
// .ci/run prints these with its own step durations.
if (process.env.NBW_TEST_TIMES) {
  appendFileSync(process.env.NBW_TEST_TIMES, `${[...lines, ...failed].join('\n')}\n`)
}
process.exit(
  interrupted !== undefined
    ? 128 + constants.signals[interrupted]
    : results.every((r) => r.ok)
      ? 0
      : 1,
)
