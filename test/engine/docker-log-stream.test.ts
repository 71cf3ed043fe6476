// docker/log-stream.ts on bytes from the real engine (`GET /containers/{id}/logs?timestamps=1`):
// the demultiplexer and line gate give the same lines and findings however the bytes are chunked,
// and a resumed attachment neither loses nor repeats a line.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { getRule } from '../../src/core/rules.js'
import { DockerEngine, dockerConnection } from '../../src/docker/engine.js'
import { LogLineGate, type ResumePoint } from '../../src/docker/log-stream.js'
import {
  inspectState,
  removeContainers,
  requireDocker,
  runContainer,
  uniqueName,
  waitFor,
} from '../helpers/docker.js'

const fatalLine = getRule('oidc-issuer-mismatch').examples[0]!
const name = uniqueName('logbytes')
const longName = uniqueName('longline')
let raw: Buffer

before(async () => {
  await requireDocker()
  const script =
    'for i in 1 2 3 4 5; do echo "out $i"; echo "err $i" >&2; done; ' +
    'printf "%s\\n" "$1" >&2; printf "partial-no-newline-then "; echo done; ' +
    "head -c 70000 /dev/zero | tr '\\000' x; echo"
  await runContainer({ name, cmd: ['sh', '-c', script, 'sh', fatalLine] })
  await waitFor('exited', async () => (await inspectState(name)).Status === 'exited')
  raw = await engineLog(name)
})

after(async () => {
  await removeContainers([name, longName])
})

/** The container's whole log as the engine sends it (`docker logs --timestamps`, framed). */
async function engineLog(container: string): Promise<Buffer> {
  const engine = new DockerEngine(
    dockerConnection({ socketPath: '/var/run/docker.sock' }, process.env),
  )
  const stream = await engine.logs(container, { follow: false })
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

function feed(
  chunks: readonly Buffer[],
  resume?: ResumePoint,
): { lines: number; findings: string[]; truncated: number; resume: ResumePoint | undefined } {
  const findings: string[] = []
  const gate = new LogLineGate({ tty: false, resume, onFinding: (f) => findings.push(f.rule) })
  for (const c of chunks) gate.push(c)
  return { lines: gate.lines, findings, truncated: gate.truncatedLines, resume: gate.resumePoint }
}

function split(buf: Buffer, sizes: () => number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < buf.length;) {
    const n = Math.max(1, sizes())
    out.push(buf.subarray(i, i + n))
    i += n
  }
  return out
}

test('the same lines and findings whatever the chunking', () => {
  const whole = feed([raw])
  assert.equal(whole.lines, 13)
  assert.deepEqual(whole.findings, ['oidc-issuer-mismatch'])
  assert.equal(whole.truncated, 1)
  let seed = 7
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed
  }
  for (const sizes of [() => 1, () => 3, () => 8, () => 9, () => (rand() % 200) + 1]) {
    const r = feed(split(raw, sizes))
    assert.equal(r.lines, whole.lines)
    assert.deepEqual(r.findings, whole.findings)
    assert.deepEqual(r.resume, whole.resume)
  }
})

test('a resumed attachment (the engine replays from the resume timestamp) neither loses nor repeats', () => {
  const whole = feed([raw])
  for (let cut = 1; cut < raw.length; cut += 97) {
    const first = feed([raw.subarray(0, cut)])
    // The engine's `since` replays every entry at or after the resume timestamp; here: all of it.
    const second = feed([raw], first.resume)
    assert.equal(first.lines + second.lines, whole.lines, `cut at ${cut}`)
    assert.deepEqual([...first.findings, ...second.findings], whole.findings, `cut at ${cut}`)
  }
})

test('lines sharing one timestamp, and stdout/stderr entries out of time order, are resumed exactly', () => {
  const frame = (stream: 1 | 2, text: string): Buffer => {
    const payload = Buffer.from(text)
    const h = Buffer.alloc(8)
    h[0] = stream
    h.writeUInt32BE(payload.length, 4)
    return Buffer.concat([h, payload])
  }
  const ts = '2026-11-29T08:00:00.000000000Z'
  const bytes = Buffer.concat([
    frame(1, `${ts} a\n`),
    frame(2, `${ts} b\n`),
    frame(1, `${ts} c\n`),
    frame(1, '2026-11-29T08:00:01.000000000Z d\n'),
    // stderr's copier wrote this one later, with an earlier time.
    frame(2, '2026-11-29T08:00:00.500000000Z e\n'),
  ])
  const first = feed([bytes.subarray(0, 2 * (8 + ts.length + 3))])
  assert.equal(first.resume?.maxTs, ts)
  assert.deepEqual(
    [...(first.resume?.seen ?? [])],
    [
      [`1|${ts}`, 1],
      [`2|${ts}`, 1],
    ],
  )
  const second = feed([bytes], first.resume)
  assert.equal(second.lines, 3)
  // A second resume carries what the first attachment read within the window.
  const third = feed([bytes], feed([bytes.subarray(0, 8 + ts.length + 3)], second.resume).resume)
  assert.equal(third.lines, 0)
})

test('a finding carries the engine timestamp of its own line (stdout and stderr interleaved)', () => {
  const frame = (stream: 1 | 2, text: string): Buffer => {
    const payload = Buffer.from(text)
    const head = Buffer.alloc(8)
    head[0] = stream
    head.writeUInt32BE(payload.length, 4)
    return Buffer.concat([head, payload])
  }
  const seen: Array<[string, number | undefined]> = []
  const gate = new LogLineGate({
    tty: false,
    resume: undefined,
    onFinding: (f, at) => seen.push([f.rule, at]),
  })
  const bytes = Buffer.concat([
    frame(1, '2026-11-29T09:00:00.000000001Z benign line\n'),
    frame(2, `2026-11-29T09:00:01.500000000Z ${fatalLine}\n`),
    frame(1, '2026-11-29T09:00:02.000000000Z panic: runtime error\n'),
  ])
  // Byte by byte: timestamps and lines split across every possible chunk boundary.
  for (let i = 0; i < bytes.length; i++) gate.push(bytes.subarray(i, i + 1))
  assert.deepEqual(seen, [
    ['oidc-issuer-mismatch', Date.parse('2026-11-29T09:00:01.500Z')],
    ['panic', Date.parse('2026-11-29T09:00:02.000Z')],
  ])
})

test("NetBird's own zone offsets (v0.65.3+ under TZ) never stand in for the engine time of a line", () => {
  const frame = (stream: 1 | 2, text: string): Buffer => {
    const payload = Buffer.from(text)
    const head = Buffer.alloc(8)
    head[0] = stream
    head.writeUInt32BE(payload.length, 4)
    return Buffer.concat([head, payload])
  }
  const login = getRule('login-failed').examples[0]!.replace(
    '2026-08-20T10:07:40.002Z',
    '2026-11-29T11:00:00.250+02:00',
  )
  const store = getRule('store-failed').examples[0]!.replace(
    '2026-08-01T11:00:00.000+02:00',
    '2026-11-29T04:00:03.000-05:00',
  )
  const seen: Array<[string, boolean, number | undefined]> = []
  const gate = new LogLineGate({
    tty: false,
    resume: undefined,
    onFinding: (f, at) => seen.push([f.rule, f.fatal, at]),
  })
  const bytes = Buffer.concat([
    frame(2, `2026-11-29T09:00:00.250000000Z ${login}\n`),
    frame(2, `2026-11-29T09:00:03.000000000Z ${store}\n`),
  ])
  for (let i = 0; i < bytes.length; i++) gate.push(bytes.subarray(i, i + 1))
  assert.deepEqual(seen, [
    ['login-failed', false, Date.parse('2026-11-29T09:00:00.250Z')],
    ['store-failed', true, Date.parse('2026-11-29T09:00:03.000Z')],
  ])
})

test('a line over 16 KiB (several engine entries, each with its own timestamp) is classified as written', async () => {
  // The engine cuts the line into 16 KiB entries; put that cut inside the rule's anchor text.
  const anchor = fatalLine.indexOf('did not match the issuer') + 5
  const pad = 16 * 1024 - anchor
  const script =
    `head -c ${pad} /dev/zero | tr '\\000' x; printf "%s\\n" "$1"; ` +
    "head -c 40000 /dev/zero | tr '\\000' y; echo ' tail'; echo after"
  await runContainer({ name: longName, cmd: ['sh', '-c', script, 'sh', fatalLine] })
  await waitFor('exited', async () => (await inspectState(longName)).Status === 'exited')
  const bytes = await engineLog(longName)
  // The engine really did split it: more frames than lines, each starting with a timestamp.
  const frames: string[] = []
  for (let p = 0; p < bytes.length; p += 8 + bytes.readUInt32BE(p + 4)) {
    frames.push(bytes.toString('latin1', p + 8, p + 8 + 31))
  }
  assert.ok(frames.length >= 6, `frames: ${frames.length}`)
  assert.ok(frames.every((f) => /^\d{4}-\d\d-\d\dT[\d:.]+Z /.test(f)))
  for (const sizes of [bytes.length, 1, 7, 4096]) {
    const r = feed(split(bytes, () => sizes))
    assert.equal(r.lines, 3, `chunks of ${sizes}`)
    assert.deepEqual(r.findings, ['oidc-issuer-mismatch'], `chunks of ${sizes}`)
  }
  // Resuming after the long lines replays nothing of them.
  const first = feed([bytes])
  assert.equal(feed([bytes], first.resume).lines, 0)
})
