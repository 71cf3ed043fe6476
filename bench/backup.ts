// Benchmark: our idp.db backup against the sqlite3 CLI's `.backup` on the same file.
// Builds idp.db files of ~10 MB and ~200 MB (Dex schema, many refresh_token / auth_request rows), then
// times, median of 7 warm runs each, interleaved, with `sync` before
// each timed run so that one run's dirty pages are not flushed on the next one's clock:
//   sqlite3     `sqlite3 SRC ".backup DST"` (the reference; needs the sqlite3 CLI on PATH)
//   copy        our online-backup step alone (better-sqlite3 backup(), large steps)
//   verified    backupDb(): copy + integrity_check + connector comparison + sha256 + fsync + manifest
// and prints `backup_vs_sqlite3_ratio: R` (copy / sqlite3) and `verified_backup_vs_sqlite3_ratio: R`.
// Run: npm run bench:backup [-- --quick]   (--quick: the 10 MB file only, 3 runs: a smoke run)
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { backupDb } from '../test/helpers/store.js'
import { createIdpDb } from '../test/helpers/idp-fixture.js'

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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nbw-bench-backup-'))
  try {
    const sizes = [
      ['10MB', 10 * 1024 * 1024],
      ['200MB', 200 * 1024 * 1024],
    ] as const
    for (const [label, bytes] of quick ? sizes.slice(0, 1) : sizes) {
      const src = join(dir, `idp-${label}.db`)
      build(src, bytes)
      const size = statSync(src).size
      const sqlite3: number[] = []
      const copy: number[] = []
      const verified: number[] = []
      for (let r = 0; r < runs; r++) {
        const a = join(dir, `sqlite3-${label}-${r}.db`)
        sqlite3.push(await time(() => void execFileSync('sqlite3', [src, `.backup ${a}`])))
        rmSync(a)
        const b = join(dir, `copy-${label}-${r}.db`)
        const h = new Database(src, { readonly: true })
        h.pragma('cache_size = 0') // as src/store/sqlite/backup.ts does
        copy.push(await time(async () => void (await h.backup(b, { progress: () => 1 << 14 }))))
        h.close()
        rmSync(b)
        const out = join(dir, `verified-${label}-${r}`)
        verified.push(
          await time(
            async () =>
              void (await backupDb(src, { backupDir: out, reason: 'bench', version: 'bench' })),
          ),
        )
        rmSync(out, { recursive: true })
      }
      const ms = { sqlite3: median(sqlite3), copy: median(copy), verified: median(verified) }
      console.log(`size: ${label} (${size} bytes)`)
      console.log(`  sqlite3_backup_ms: ${ms.sqlite3.toFixed(1)}`)
      console.log(`  our_backup_copy_ms: ${ms.copy.toFixed(1)}`)
      console.log(`  our_verified_backup_ms: ${ms.verified.toFixed(1)}`)
      console.log(`  backup_vs_sqlite3_ratio: ${(ms.copy / ms.sqlite3).toFixed(2)}`)
      console.log(`  verified_backup_vs_sqlite3_ratio: ${(ms.verified / ms.sqlite3).toFixed(2)}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
