// `npm run soak`: the fault and soak runs too long for `npm test` (see BENCHMARKS.md for figures).
//   flood   N minutes (default 30) of a restart-looping target logging 1,000 lines/s
//   fuzz    1,000,000 generated and mutated lines through a real container's log stream
//   kill    100 cycles of SIGKILL at a random moment of an automated repair, then a clean restart
// Usage: npm run soak [-- --only fuzz,kill,flood] [-- --minutes 30] [-- --lines 1000000]
//        [-- --cycles 100] [-- --seed N]
import {
  busyboxImage,
  nodeImage,
  removeStaleBenchContainers,
  requireEngine,
} from './lib/containers.js'
import { argNumber, argValue, figure, note, printMachine } from './lib/report.js'
import { soakFlood } from './soak/flood.js'
import { soakFuzz } from './soak/fuzz.js'
import { runRepairKill } from './soak/repair-kill.js'

async function soakKill(cycles: number, seed: number): Promise<{ ok: boolean }> {
  const started = Date.now()
  let discarded = 0
  const results = await runRepairKill({
    cycles,
    seed,
    onDiscard: (cycle, why) => {
      discarded++
      note(
        `cycle ${cycle + 1} voided, the container was removed from outside: ${why.split('\n')[0]}`,
      )
    },
    onCycle: (c) =>
      note(
        `cycle ${c.cycle + 1}: kill +${c.killAfterMs} ms, db ${c.afterKill}` +
          `${c.committedBeforeKill ? ' (commit logged)' : ''}` +
          `${c.rolledBackBeforeKill ? ' (rolled back before the kill)' : ''}, next start: ${c.nextStart}`,
      ),
  })
  const count = (pred: (c: (typeof results)[number]) => boolean): number =>
    results.filter(pred).length
  figure('kill_cycles', results.length)
  figure('kill_db_intact', results.length) // every cycle checked it, or the run threw
  figure(
    'kill_db_old_after_kill',
    count((c) => c.afterKill === 'old'),
  )
  figure(
    'kill_db_repaired_after_kill',
    count((c) => c.afterKill === 'repaired'),
  )
  figure(
    'kill_rolled_back_before_kill',
    count((c) => c.rolledBackBeforeKill),
  )
  figure(
    'kill_next_start_repaired',
    count((c) => c.nextStart === 'repaired'),
  )
  figure(
    'kill_next_start_nothing_to_do',
    count((c) => c.nextStart === 'nothing-to-do'),
  )
  figure(
    'kill_next_start_rolled_back',
    count((c) => c.nextStart === 'rolled-back'),
  )
  figure('kill_partial_backup_files', results.at(-1)?.partialFiles ?? 0)
  figure('kill_cycles_voided_by_outside_removal', discarded)
  figure('kill_minutes', (Date.now() - started) / 60_000, 1)
  return { ok: results.length === cycles }
}

const parts = {
  fuzz: () => soakFuzz(argNumber('lines', 1_000_000), argNumber('seed', 1)),
  kill: () => soakKill(argNumber('cycles', 100), argNumber('seed', 100)),
  flood: () => soakFlood(argNumber('minutes', 30)),
} satisfies Record<string, () => Promise<{ ok: boolean }>>
type Part = keyof typeof parts

const only = (argValue('only')?.split(',') ?? Object.keys(parts)) as Part[]
for (const p of only) {
  if (!(p in parts))
    throw new RangeError(`unknown soak part "${p}" (${Object.keys(parts).join(', ')})`)
}
await requireEngine([busyboxImage, nodeImage])
await removeStaleBenchContainers()
printMachine()
let failed = 0
for (const p of only) {
  console.log(`\n== soak:${p}`)
  const { ok } = await parts[p]()
  figure(`soak_${p}_ok`, ok ? 1 : 0)
  if (!ok) failed++
}
printMachine('machine at end')
if (failed > 0) process.exitCode = 1
