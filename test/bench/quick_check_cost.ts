/**
 * What `PRAGMA quick_check` (run at every SQLite start) costs on a large log.
 * Builds (once) a database of ROWS realistic audit rows with the real schema, then times
 * quick_check on it, and the cheap start check used for files too large to check whole.
 *
 *   node --import tsx test/bench/quick_check_cost.ts [rows=2000000] [file=/tmp/kb-quickcheck.db]
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { BINARY_VERSION } from '../../src/storage/migrations.js'
import { openDatabase } from '../../src/storage/sqlite/connection.js'
import { checkRecentPages, quickCheck } from '../../src/storage/sqlite/integrity.js'
import { migrateSqlite } from '../../src/storage/sqlite/migrate.js'
import { ROW_COLUMNS } from '../../src/storage/sqlite/write_jobs.js'

const rows = Number(process.argv[2] ?? 2_000_000)
const file = process.argv[3] ?? '/tmp/kb-quickcheck.db'

if (!existsSync(file)) {
  const db = openDatabase(file)
  migrateSqlite(db, BINARY_VERSION, Date.now())
  const insert = db.prepare(
    `INSERT INTO exchanges (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map((c) => `@${c}`).join(', ')})`,
  )
  const started = performance.now()
  let prev = '0'.repeat(64)
  const batch = db.transaction((from: number, to: number) => {
    for (let seq = from; seq < to; seq++) {
      const hash = createHash('sha256').update(prev).update(String(seq)).digest('hex')
      insert.run({
        node_id: 'bench-node',
        seq,
        form: 2,
        id: `01J${String(seq).padStart(23, '0')}`,
        ts: 1_700_000_000_000 + seq * 10,
        kind: 'issue',
        subject: `spiffe://example.org/ns/prod/sa/svc-${seq % 500}`,
        auth_method: 'mtls',
        issuer: null,
        peer: `127.0.0.1:${40000 + (seq % 20000)}`,
        cert_thumbprint: hash.slice(0, 43),
        audience: 'payments-api',
        scopes: 'payments:read payments:write',
        ttl: 900,
        secret_name: null,
        route: null,
        decision: 'allow',
        reason: null,
        token_id: hash.slice(10, 36),
        expires_at: 1_700_000_900 + seq,
        latency_us: 900 + (seq % 300),
        detail: '{"grant":"billing"}',
        run_id: null,
        tool_call_id: null,
        approval_id: null,
        trace_id: null,
        grant_name: 'billing',
        prev_hash: prev,
        hash,
      })
      prev = hash
    }
  })
  for (let from = 1; from <= rows; from += 10_000) batch(from, Math.min(rows + 1, from + 10_000))
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  process.stdout.write(`built ${rows} rows in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
}

{
  const db = openDatabase(file, { readonly: true })
  const started = performance.now()
  const problems = checkRecentPages(db)
  process.stdout.write(
    `start check of a large file (small tables, schema, last 2000 rows per chain): ${(performance.now() - started).toFixed(0)} ms, ${problems.length === 0 ? 'ok' : problems.join('; ')}\n`,
  )
  db.close()
}

for (const label of ['whole file']) {
  const db = openDatabase(file, { readonly: true })
  const pages = db.pragma('page_count', { simple: true }) as number
  const pageSize = db.pragma('page_size', { simple: true }) as number
  const started = performance.now()
  const problems = quickCheck(db)
  const ms = performance.now() - started
  process.stdout.write(
    `${label}: quick_check on ${rows} rows (${((pages * pageSize) / 2 ** 20).toFixed(0)} MiB): ${ms.toFixed(0)} ms, ${problems.length === 0 ? 'ok' : problems.join('; ')}\n`,
  )
  db.close()
}
