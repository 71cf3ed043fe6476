// The project image for the tests that run it (test/engine/image.test.ts, test/engine/e2e-selfheal.test.ts):
// built from the working tree by scripts/build-image.sh, as operators and CI build it. The test
// runner (scripts/test-tiers.mjs) builds it once per run, beside the engine tier's other files, and
// names it in NBW_TEST_IMAGE, with NBW_TEST_IMAGE_STATUS the file its build's exit code and log are
// written to when it ends (.ci/run starts that build earlier and sets both itself); a file run on its
// own builds one under a tag of its own and removes it when done. A build takes minutes on the test
// machines (vfs storage copies every layer), hence once per run.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { run } from './compose.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))

export interface ProjectImage {
  readonly tag: string
  /** Removes the image if this test built it; leaves the run's shared image alone. */
  release(): Promise<void>
}

/**
 * The image to test: NBW_TEST_IMAGE (it must exist), or a new build carrying `labels` as well as
 * `netbird-watchdog.test=1`.
 */
export async function projectImage(labels: readonly string[] = []): Promise<ProjectImage> {
  const shared = process.env.NBW_TEST_IMAGE
  if (shared !== undefined && shared !== '') {
    const status = process.env.NBW_TEST_IMAGE_STATUS
    if (status !== undefined && status !== '') await buildFinished(shared, status)
    const found = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', shared])
    if (found.code !== 0) {
      throw new Error(
        `NBW_TEST_IMAGE=${shared} names no image (the test runner's build failed, or it was removed): ${found.stderr.trim()}`,
      )
    }
    return { tag: shared, release: () => Promise.resolve() }
  }
  const tag = `netbird-watchdog:test-${randomBytes(4).toString('hex')}`
  const labelArgs = ['--label', 'netbird-watchdog.test=1', ...labels]
  const built = await run('bash', [`${repo}scripts/build-image.sh`, tag, '--', ...labelArgs], {
    timeoutMs: 30 * 60_000,
  })
  if (built.code !== 0) throw new Error(`scripts/build-image.sh ${tag} failed:\n${built.stderr}`)
  return {
    tag,
    release: async () => {
      await run('docker', ['image', 'rm', '-f', tag])
    },
  }
}

/** Waits for the test runner's build of `tag` to end (its status file); throws if it failed. */
async function buildFinished(tag: string, statusFile: string): Promise<void> {
  const deadline = Date.now() + 30 * 60_000
  for (;;) {
    let text: string | undefined
    try {
      text = await readFile(statusFile, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (text !== undefined) {
      const newline = text.indexOf('\n')
      const code = text.slice(0, newline === -1 ? undefined : newline)
      if (code === '0') return
      throw new Error(
        `the test runner's build of ${tag} failed (exit ${code}):\n${text.slice(newline + 1)}`,
      )
    }
    if (Date.now() > deadline) {
      throw new Error(`the test runner's build of ${tag} did not end within 30 minutes`)
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
