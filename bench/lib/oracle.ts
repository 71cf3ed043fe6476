// The reference for "no missed findings": what the engine itself serves for a container
// (`docker logs`, stdout and stderr demultiplexed by the CLI), classified in-process by the same
// rule catalogue. The watchdog must count exactly these lines and findings from its live stream.
import { spawn } from 'node:child_process'
import type { RuleId } from '../../src/core/rules.js'
import { LineScanner } from '../../src/scan/scan-stream.js'

export interface OracleCounts {
  lines: number
  findings: number
  byRule: Map<RuleId, number>
}

export async function classifyContainerLogs(container: string): Promise<OracleCounts> {
  const byRule = new Map<RuleId, number>()
  const scanners = [0, 1].map(
    () => new LineScanner((f) => byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1)),
  )
  await new Promise<void>((resolve, reject) => {
    const child = spawn('docker', ['logs', container], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (b: Buffer) => scanners[0]!.push(b))
    child.stderr.on('data', (b: Buffer) => scanners[1]!.push(b))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`docker logs ${container} exited ${code}`)),
    )
  })
  const stats = scanners.map((s) => s.end())
  return {
    lines: stats.reduce((a, s) => a + s.lines, 0),
    findings: stats.reduce((a, s) => a + s.findings, 0),
    byRule,
  }
}
