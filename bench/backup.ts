// Benchmark: our idp.db backup against the sqlite3 CLI's `.backup` on the same file.
// Builds idp.db files of ~10 MB and ~200 MB (Dex schema, many refresh_token / auth_request rows), then
// times, median of 7 warm runs each, interleaved, with `sync` before
// each timed run so that one run's dirty pages are not flushed on the next one's clock:
//   sqlite3     `sqlite3 SRC ".backup DST"` (the reference; needs the sqlite3 CLI on PATH)
//   copy        our copy step and its fsync (copySnapshot in src/store/sqlite/backup.ts: VACUUM INTO
//               below 32 MB, the file under its read lock from 32 MB on; sqlite3 syncs its copy too)
//   verified    backupDb(): copy + integrity_check + connector comparison + sha256 + fsync + manifest
// and prints `backup_vs_sqlite3_ratio: R` (copy / sqlite3) and `verified_backup_vs_sqlite3_ratio: R`.
// The timing runs in a child node with the image's NODE_OPTIONS; with a second runtime set
// (bench/lib/runtime.ts) a child on it times the same files too: the `_node20` figures.
// Run: npm run bench:backup [-- --quick]   (--quick: the 10 MB file only, 3 runs: a smoke run)
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { fsyncFile } from '../src/files.js'
import { copySnapshot } from '../src/store/sqlite/backup.js'
import { backupDb } from '../test/helpers/store.js'
import { createIdpDb } from '../test/helpers/idp-fixture.js'
import { figure, note, printMachine } from './lib/report.js'
import { named, nodeEnv, runtimes } from './lib/runtime.js'

const quick = process.argv.includes('--quick')
const runs = quick ? 3 : 7

function build(path: string, targetBytes: number): void {
  createIdpDb(path)
  const db = new Database(path)
  const rt = db.prepare(`insert into refresh_token (id, client_id, scopes, nonce, claims_user_id,
    claims_username, claims_email, claims_email_verified, claims_groups, connector_id, connector_data,
    token, created_at, last_used, claims_preferred_username)
    values (?, 'netbird-dashboard', ?, '', ?, ?, ?, 1, ?, 'd1c9q2ll0fgs73cunqsg', ?, ?, ?, ?, ?)`)
  const ar =
    db.prepare(`insert into auth_request (id, client_id, response_types, scopes, redirect_uri,
    nonce, state, force_approval_prompt, logged_in, claims_user_id, claims_username, claims_email,
    claims_email_verified, claims_groups, connector_id, connector_data, expiry)
    values (?, 'netbird-dashboard', '["code"]', '["openid","profile","email","groups"]',
    'https://netbird.example.com/nb-auth', ?, ?, 0, 1, ?, ?, ?, 1, '["netbird-users"]',
    'd1c9q2ll0fgs73cunqsg', ?, '2026-06-30 12:00:00')`)
  const scopes = Buffer.from('["openid","profile","email","groups","offline_access"]')
  const groups = Buffer.from('["netbird-users","admins"]')
  let n = 0
  while (statSync(path).size < targetBytes) {
    db.transaction(() => {
      for (let i = 0; i < 1000; i++, n++) {
        const user = `user-${n}@example.com`
        const id = randomBytes(16).toString('hex')
        rt.run(
          id,
          scopes,
          `uid-${n}`,
          user,
          user,
          groups,
          randomBytes(200),
          randomBytes(24).toString('base64url'),
          '2026-06-01 00:00:00',
          '2026-06-02 00:00:00',
          user,
        )
        if (n % 2 === 0) {
          ar.run(
            id,
            randomBytes(12).toString('hex'),
            randomBytes(32).toString('hex'),
            `uid-${n}`,
            user,
            user,
            randomBytes(120),
          )
        }
      }
    })()
  }
  db.close()
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function time(fn: () => Promise<void> | void): Promise<number> {
  execFileSync('sync')
  const start = performance.now()
  await fn()
  return performance.now() - start
}

interface Medians {
  sqlite3: number
  copy: number
  verified: number
}

/** The timed runs on one source (in the measuring child). */
async function measure(src: string, runs: number): Promise<Medians> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-backup-run-'))
  try {
    const sqlite3: number[] = []
    const copy: number[] = []
    const verified: number[] = []
    for (let r = 0; r < runs; r++) {
      const a = join(dir, `sqlite3-${r}.db`)
      sqlite3.push(await time(() => void execFileSync('sqlite3', [src, `.backup ${a}`])))
      rmSync(a)
      const b = join(dir, `copy-${r}.db`)
      const h = new Database(src, { readonly: true })
      copy.push(
        await time(async () => {
          await copySnapshot(h, b, src)
          fsyncFile(b)
        }),
      )
      h.close()
      rmSync(b)
      const out = join(dir, `verified-${r}`)
      verified.push(
        await time(
          async () =>
            void (await backupDb(src, { backupDir: out, reason: 'bench', version: 'bench' })),
        ),
      )
      rmSync(out, { recursive: true })
    }
    return { sqlite3: median(sqlite3), copy: median(copy), verified: median(verified) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-backup-'))
  printMachine()
  try {
    const sizes = [
      ['10MB', 10 * 1024 * 1024],
      ['200MB', 200 * 1024 * 1024],
    ] as const
    for (const [label, bytes] of quick ? sizes.slice(0, 1) : sizes) {
      const src = join(dir, `idp-${label}.db`)
      build(src, bytes)
      const size = statSync(src).size
      console.log(`size: ${label} (${size} bytes)`)
      for (const runtime of runtimes()) {
        // A child node per runtime, with the image's NODE_OPTIONS, times the same file.
        const child = spawnSync(
          runtime.node,
          [
            '--import',
            'tsx',
            join(runtime.root, 'bench/backup.ts'),
            '--measure',
            src,
            String(runs),
          ],
          { cwd: runtime.root, env: nodeEnv(), encoding: 'utf8', maxBuffer: 1 << 20 },
        )
        if (child.status !== 0) throw new Error(`${runtime.label} measuring child: ${child.stderr}`)
        const ms = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Medians
        const f = (name: string, value: number, decimals: number): void =>
          figure(`  ${named(name, runtime)}`, value, decimals)
        f('sqlite3_backup_ms', ms.sqlite3, 1)
        f('our_backup_copy_ms', ms.copy, 1)
        f('our_verified_backup_ms', ms.verified, 1)
        f('backup_vs_sqlite3_ratio', ms.copy / ms.sqlite3, 2)
        f('verified_backup_vs_sqlite3_ratio', ms.verified / ms.sqlite3, 2)
      }
    }
    note('target: backup_vs_sqlite3_ratio <= 1.0 at 10MB and 200MB')
    printMachine('machine at end')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const measuring = process.argv.indexOf('--measure')
if (measuring > 0) {
  const src = process.argv[measuring + 1]!
  console.log(JSON.stringify(await measure(src, Number(process.argv[measuring + 2]))))
} else {
  main()
}
