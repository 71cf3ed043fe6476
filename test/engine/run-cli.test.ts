// `netbird-watchdog run` as an operator starts it (node dist/cli.js run): defaults without a config
// file, JSON logs on stderr, a clean exit 0 on SIGTERM and SIGINT, exit 2 on an invalid config.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { before, test } from 'node:test'
import { runCli, cliPath } from '../helpers/cli.js'
import { requireDocker, waitFor } from '../helpers/docker.js'
import { parseMetrics, valueOf } from '../helpers/metrics-text.js'
import { freePort } from '../helpers/net.js'

before(async () => {
  await requireDocker()
})

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`run without a config file: defaults, /metrics, JSON logs; ${signal} stops it with exit 0`, async () => {
    const port = await freePort()
    const env: Record<string, string | undefined> = {
      ...process.env,
      NETBIRD_WATCHDOG_METRICS_ADDRESS: `127.0.0.1:${port}`,
    }
    delete env.NETBIRD_WATCHDOG_CONFIG
    const child = spawn(process.execPath, [cliPath, 'run'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')))
    let code: number | null | undefined
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (c) => {
        code = c
        resolve(c)
      }),
    )
    try {
      const url = `http://127.0.0.1:${port}`
      await waitFor('/healthz', async () => {
        if (code !== undefined) throw new Error(`run exited ${code}`)
        return (await fetch(`${url}/healthz`)).ok
      }).catch((err: unknown) => {
        throw new Error(`no /healthz; stderr: ${stderr}`, { cause: err })
      })
      await waitFor('the engine connected', async () => {
        const samples = parseMetrics(await (await fetch(`${url}/metrics`)).text())
        return valueOf(samples, 'netbird_watchdog_docker_up') === 1
      })
    } finally {
      child.kill(signal)
    }
    assert.equal(await exited, 0, stderr)
    const records = stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; level: string; [k: string]: unknown })
    const startedRecord = records.find((r) => r.msg === 'watchdog started')
    assert.ok(startedRecord)
    assert.deepEqual(
      (startedRecord.targets as { autoDetect: boolean }).autoDetect,
      true,
      'auto-detection by default',
    )
    assert.ok(records.some((r) => r.msg === 'docker engine connected'))
    assert.equal(records.at(-1)?.msg, 'stopped')
  })
}

test('run with an invalid config exits 2 and lists every problem with its path', async () => {
  const file = fileURLToPath(new URL('../fixtures/config/invalid-run.yml', import.meta.url))
  const r = await runCli(['run', '--config', file])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /detection\.loopDeaths/)
  assert.match(r.stderr, /metrics\.address/)
  assert.match(r.stderr, /targets\.bogus/)
})

test('run --help documents the defaults', async () => {
  const r = await runCli(['run', '--help'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /--config <file>/)
  assert.match(r.stdout, /:9464/)
  assert.match(r.stdout, /SIGTERM/)
})

test('no command, an incomplete one, or a name that is not a command: usage (2); asked-for help: 0', async () => {
  for (const args of [[], ['backups'], ['toString'], ['constructor']]) {
    const r = await runCli(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
    assert.match(r.stderr, /Usage: netbird-watchdog|unknown command/, args.join(' '))
    assert.doesNotMatch(
      r.stderr,
      /netbird-watchdog: internal error|is not a function/,
      args.join(' '),
    )
  }
  for (const args of [['--help'], ['backups', '--help'], ['help'], ['--version']]) {
    const r = await runCli(args)
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  }
})
