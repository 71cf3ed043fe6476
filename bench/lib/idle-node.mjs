// A reference process for bench/footprint.ts: imports the modules named on its command line (resolved
// from this repository's node_modules; none for a bare node), then idles. A module file started as
// `node <file>`, the way the daemon starts (`node dist/cli.js`): V8 settles the memory of such a
// process the same way as the daemon's, which a `node -e` script does not (see BENCHMARKS.md).
import process from 'node:process'
import { setInterval } from 'node:timers'

await Promise.all(process.argv.slice(2).map((m) => import(m)))
setInterval(() => {}, 1 << 30)
