// A node:test reporter that scripts/test-tiers.mjs runs beside the usual one (spec), into a file of
// its own: one line per failed test, `file:line  name: the first line of its error`, which the
// runner prints again at the very end of its output (and .ci/run after its step durations), so that
// a failure is named where a log cut to its last lines still shows it.
import { relative } from 'node:path'
import process from 'node:process'

/** The first line of what went wrong: node:test wraps a test's own error as the `cause`. */
function firstLine(error) {
  const inner = error?.cause ?? error
  const text =
    inner instanceof Error || typeof inner?.message === 'string'
      ? `${inner.name && inner.name !== 'Error' ? `${inner.name}: ` : ''}${inner.message}`
      : String(inner)
  // An assertion's first line ends with a colon; what it means is on the next.
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  const line = (lines[0]?.endsWith(':') ? lines.slice(0, 2).join(' ') : (lines[0] ?? '')).trim()
  return line.length > 240 ? `${line.slice(0, 240)}…` : line
}

export default async function* failures(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue
    const { name, file, line, details } = event.data
    // A parent that failed only because a subtest did: the subtest has its own line.
    if (details?.error?.failureType === 'subtestsFailed') continue
    const where = file ? `${relative(process.cwd(), file)}${line ? `:${line}` : ''}` : '?'
    yield `${where}  ${name}: ${firstLine(details?.error)}\n`
  }
}
