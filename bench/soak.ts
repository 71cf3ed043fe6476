// `npm run soak`: the fault and soak runs too long for `npm test` (see BENCHMARKS.md for figures).
//   flood   N minutes (default 30) of a restart-looping target logging 1,000 lines/s
//   fuzz    1,000,000 generated and mutated lines through a real container's log stream
// Usage: npm run soak [-- --only flood,fuzz] [-- --minutes 30] [-- --lines 1000000] [-- --seed 1]
import { removeStaleBenchContainers, requireEngine } from './lib/containers.js'
import { argNumber, argValue, figure, printMachine } from './lib/report.js'
import { soakFlood } from './soak/flood.js'
import { soakFuzz } from './soak/fuzz.js'

const parts = {
  fuzz: () => soakFuzz(argNumber('lines', 1_000_000), argNumber('seed', 1)),
  flood: () => soakFlood(argNumber('minutes', 30)),
} satisfies Record<string, () => Promise<{ ok: boolean }>>
type Part = keyof typeof parts

const only = (argValue('only')?.split(',') ?? Object.keys(parts)) as Part[]
for (const p of only) {
  if (!(p in parts))
    throw new RangeError(`unknown soak part "${p}" (${Object.keys(parts).join(', ')})`)
}
await requireEngine()
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
