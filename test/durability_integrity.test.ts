import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { pino } from 'pino'
import { GENESIS_HASH, rowHash } from '../src/audit/canonical.js'
import { checkDatabaseIntegrity } from '../src/server/database_integrity.js'
import { BINARY_VERSION } from '../src/storage/migrations.js'
import { openStorage } from '../src/storage/open.js'
import type { ExchangeRow } from '../src/storage/ports.js'
import { openDatabase } from '../src/storage/sqlite/connection.js'
import { quickCheckInBackground } from '../src/storage/sqlite/integrity_thread.js'
import { eventually } from './fixtures/net.js'

/** A log of `n` rows on chain "node-a", written straight through the storage port. */
async function writeLog(path: string, n: number): Promise<void> {
  const storage = await openStorage({ driver: 'sqlite', path, busyTimeoutMs: 5000 })
  try {
    await storage.migrate(BINARY_VERSION)
    await storage.leases.acquire('node-a', 'test', 60_000)
    let head = { seq: 0, hash: GENESIS_HASH }
    for (let from = 1; from <= n; from += 500) {
      const rows: ExchangeRow[] = []
      for (let seq = from; seq < from + 500 && seq <= n; seq++) {
        const row = {
          node_id: 'node-a',
          seq,
          form: 2,
          id: `01J${String(seq).padStart(23, '0')}`,
          ts: 1_700_000_000_000 + seq,
          kind: 'issue',
          subject: `spiffe://example.org/ns/prod/sa/svc-${seq % 50}`,
          auth_method: 'mtls',
          issuer: null,
          peer: '127.0.0.1:40000',
          cert_thumbprint: null,
          audience: 'payments-api',
          scopes: 'payments:read',
          ttl: 900,
          secret_name: null,
          route: null,
          decision: 'allow',
          reason: null,
          token_id: `tok-${seq}`,
          expires_at: null,
          latency_us: 1000,
          detail: '{"padding":"' + 'x'.repeat(200) + '"}',
          run_id: null,
          tool_call_id: null,
          approval_id: null,
          trace_id: null,
          grant_name: 'billing',
          prev_hash: head.hash,
          hash: '',
        } as ExchangeRow
        row.hash = rowHash(head.hash, row)
        head = { seq, hash: row.hash }
        rows.push(row)
      }
      const expected = { seq: from - 1, hash: rows[0]!.prev_hash }
      await storage.chains.commit('node-a', expected, rows, 10_000)
    }
  } finally {
    await storage.close()
  }
}

describe('durability: integrity check of a large SQLite file', function () {
  this.timeout(120_000)
  let dir: string
  let path: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-integrity-'))
    path = join(dir, 'keybroker.db')
    await writeLog(path, 6000)
    // damage an early leaf of the audit rows: old pages, which the cheap start check does not read
    const db = openDatabase(path)
    db.pragma('wal_checkpoint(TRUNCATE)')
    const pageSize = db.pragma('page_size', { simple: true }) as number
    const page = db
      .prepare(
        `SELECT pageno FROM dbstat WHERE name = 'exchanges' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 3`,
      )
      .pluck()
      .get() as number
    db.close()
    const fd = openSync(path, 'r+')
    writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (page - 1) * pageSize)
    closeSync(fd)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('the whole-file quick_check on its own thread names the damage', async () => {
    const result = await quickCheckInBackground(path)
    expect(result.problems).to.not.deep.equal([])
    expect(result.where).to.match(/^(page \d+|seq \d+ of chain node-a)$/)
  })

  it('a file above the synchronous limit starts (recent pages are sound), then reports the damage found in the background', async () => {
    const storage = await openStorage({ driver: 'sqlite', path, busyTimeoutMs: 5000 })
    try {
      const state = checkDatabaseIntegrity(storage, pino({ level: 'silent' }), { syncMaxBytes: 0 })
      await eventually(() => state.problem() !== undefined, 60_000, 'the background check to find the damage')
      expect(state.problem()).to.match(
        /^the audit database .* is damaged at (page \d+|seq \d+ of chain node-a) \(PRAGMA quick_check: /,
      )
    } finally {
      await storage.close()
    }
  })

  it('the same file under the limit is refused at once', async () => {
    const storage = await openStorage({ driver: 'sqlite', path, busyTimeoutMs: 5000 })
    try {
      expect(() => checkDatabaseIntegrity(storage, pino({ level: 'silent' }))).to.throw(/is damaged at/)
    } finally {
      await storage.close()
    }
  })
})
