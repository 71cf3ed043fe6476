// Fault test: hostile log lines through the live pipeline. 200,000 generated and mutated lines
// (NetBird failure lines and benign lines with byte flips, invalid UTF-8, control characters,
// splices, repeats, lines up to ~200 KB) are written by a real container to stdout and stderr; the
// daemon follows its multiplexed log stream. It must not crash, must keep answering /healthz, and must
// count exactly the lines and per-rule findings that the engine's own record of the container's output
// holds (`docker logs`, classified in-process). The million-line run is `npm run soak -- --only fuzz`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { busyboxImage, requireDocker } from '../helpers/docker.js'
import { testSeed } from '../helpers/seed.js'
import { runFuzz } from '../../bench/soak/fuzz.js'
import { defer } from '../helpers/cleanup.js'

test('200,000 fuzzed lines from a real container: no crash, every line and finding counted', async (t) => {
  await requireDocker([busyboxImage])
  const dir = await mkdtemp(join(tmpdir(), 'nbw-fault-fuzz-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const r = await runFuzz({
    lines: 200_000,
    seed: testSeed(t, 7),
    dir,
    labels: ['netbird-watchdog.test=1'],
    image: busyboxImage,
  })
  assert.equal(r.crashed, false, 'the watchdog exited')
  assert.equal(r.healthFailures, 0, '/healthz stopped answering')
  assert.equal(r.linesEngine, 200_000, 'the engine stored every generated line')
  assert.equal(r.linesSeen, r.linesEngine, 'lines counted by the watchdog')
  assert.deepEqual(r.ruleMismatches, [], 'findings per rule')
  assert.equal(r.findingsSeen, r.findingsEngine)
  assert.ok(r.findingsEngine > 10_000, 'the corpus holds findings')
  assert.deepEqual(
    r.errorRecords.map((rec) => rec.msg),
    [],
    'no error or fatal log records from the watchdog',
  )
})
