import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import {
  ChainAppender,
  type ExchangeRecord,
  GENESIS_HASH,
  rowHash,
  type StoredExchange,
  toStoredExchange,
  verifyChain,
} from '../src/audit/index.js'
import { ManualClock } from '../src/clock.js'
import { BrokerError } from '../src/errors.js'
import { type ExchangeRow, type Storage, StorageError } from '../src/storage/ports.js'
import { openSqliteStorage, type SqliteDatabase, sqliteHandle } from '../src/storage/sqlite/index.js'

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5)
const NODE = 'node-a'
const OWNER = 'test-process'

function issue(overrides: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return {
    kind: 'issue',
    decision: 'allow',
    subject: 'spiffe://example.org/api',
    audience: 'billing',
    ...overrides,
  }
}

async function rejection(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError)
    return err as BrokerError
  }
  throw new Error('expected the promise to reject')
}

/** A migrated SQLite storage on `path` whose chain `nodeId` is leased to this test. */
async function openLeased(path: string, busyTimeoutMs: number, nodeId = NODE): Promise<Storage> {
  const storage = await openSqliteStorage({ driver: 'sqlite', path, busyTimeoutMs })
  await storage.migrate('0.2.0')
  await storage.leases.acquire(nodeId, OWNER, 60_000)
  return storage
}

/**
 * Counts updates of this chain's audit_heads row, which happen exactly once per committed batch.
 * The triggers live in the file's schema (not TEMP), so they also fire for the writer thread's connection.
 */
function countHeadWrites(db: SqliteDatabase): () => number {
  db.exec(`
    CREATE TABLE head_writes (n INTEGER);
    CREATE TRIGGER head_updated AFTER UPDATE OF seq, hash ON audit_heads BEGIN INSERT INTO head_writes VALUES (1); END;
  `)
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM head_writes')
  return () => count.get()!.n
}

describe('ChainAppender on the SQLite storage', () => {
  let dir: string
  let path: string
  let storage: Storage
  let db: SqliteDatabase
  let clock: ManualClock
  let store: ChainAppender
  const others: Database.Database[] = []

  function otherConnection(): Database.Database {
    const connection = new Database(path)
    others.push(connection)
    return connection
  }

  function appender(options: { maxBatch?: number; writeTimeoutMs?: number } = {}): ChainAppender {
    return new ChainAppender(storage.chains, { nodeId: NODE, clock, writeTimeoutMs: 5000, ...options })
  }

  async function tail(n: number): Promise<StoredExchange[]> {
    return (await storage.reader.listPage({}, n)).reverse().map(toStoredExchange)
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-audit-'))
    path = join(dir, 'keybroker.db')
    storage = await openLeased(path, 200)
    db = sqliteHandle(storage)!
    clock = new ManualClock(T0)
    store = appender()
  })

  afterEach(async () => {
    for (const connection of others.splice(0)) connection.close() // releases any lock a test left
    await store.close()
    await storage.close() // stops its writer thread
    rmSync(dir, { recursive: true, force: true })
  })

  it('appends a row and reads it back with every field', async () => {
    const written = await store.append({
      kind: 'fetch',
      decision: 'allow',
      subject: 'spiffe://example.org/worker',
      auth_method: 'mtls',
      issuer: 'spiffe://example.org',
      peer: '10.0.0.7:51234',
      cert_thumbprint: 'q2Xk7yC0Zt',
      scopes: 'read write',
      ttl: 300,
      secret_name: 'stripe',
      reason: 'granted by grant "payments"',
      token_id: 'jti-1',
      expires_at: T0 / 1000 + 300,
      latency_us: 812,
      detail: { provider: 'vault', version: 3, stale: false },
      run_id: 'run-7',
      grant_name: 'payments',
    })

    expect(written.seq).to.equal(1)
    expect(written.node_id).to.equal(NODE)
    expect(written.id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(written.ts).to.equal(T0)
    const [readBack] = await tail(1)
    expect(readBack).to.deep.equal(written)
    expect(readBack!.detail).to.deep.equal({ provider: 'vault', version: 3, stale: false })
    expect(readBack!.audience).to.equal(null)
    expect(readBack!.run_id).to.equal('run-7')
    expect((await storage.reader.byTokenId('jti-1')).map((row) => row.id)).to.deep.equal([written.id])
    expect(await storage.reader.byTokenId('jti-unknown')).to.deep.equal([])
    expect(await storage.reader.count()).to.equal(1)
  })

  it('links each row to the previous one, starting from genesis', async () => {
    const rows: StoredExchange[] = []
    for (const subject of ['a', 'b', 'c']) {
      clock.advance(1000)
      rows.push(await store.append(issue({ subject })))
    }

    expect(rows.map((row) => row.seq)).to.deep.equal([1, 2, 3])
    expect(rows[0]!.prev_hash).to.equal(GENESIS_HASH)
    expect(rows[1]!.prev_hash).to.equal(rows[0]!.hash)
    expect(rows[2]!.prev_hash).to.equal(rows[1]!.hash)
    const raw = db.prepare('SELECT * FROM exchanges WHERE node_id = ? AND seq = 2').get(NODE) as ExchangeRow
    expect(raw.form).to.equal(2)
    expect(rowHash(rows[0]!.hash, raw)).to.equal(rows[1]!.hash)
    expect((await storage.reader.chainRows(NODE, 1, 10)).map((row) => row.subject)).to.deep.equal(['b', 'c'])
    expect((await tail(2)).map((row) => row.subject)).to.deep.equal(['b', 'c'])
    expect(await storage.reader.heads()).to.deep.equal([{ nodeId: NODE, seq: 3, hash: rows[2]!.hash }])
  })

  it('writes 500 appends made in one turn in one transaction, in call order', async () => {
    const headWrites = countHeadWrites(db)
    const batches: number[] = []
    store.onAppend((rows) => batches.push(rows.length))

    const rows = await Promise.all(
      Array.from({ length: 500 }, (_, i) => store.append(issue({ subject: `s${i}` }))),
    )

    expect(headWrites()).to.equal(1)
    expect(batches).to.deep.equal([500])
    expect(rows.map((row) => row.seq)).to.deep.equal(Array.from({ length: 500 }, (_, i) => i + 1))
    expect(rows.map((row) => row.subject)).to.deep.equal(Array.from({ length: 500 }, (_, i) => `s${i}`))
    expect(await storage.reader.count()).to.equal(500)
    expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 500, chainsChecked: 1 })
  })

  it('splits a turn into transactions of at most maxBatch appends', async () => {
    await store.close()
    store = appender({ maxBatch: 100 })
    const headWrites = countHeadWrites(db)
    const batches: number[] = []
    store.onAppend((rows) => batches.push(rows.length))

    await Promise.all(Array.from({ length: 500 }, () => store.append(issue())))

    expect(batches).to.deep.equal([100, 100, 100, 100, 100])
    expect(headWrites()).to.equal(5)
    expect((await verifyChain(storage.reader)).ok).to.equal(true)
  })

  it('makes the row visible to another connection once append resolves, not before', async () => {
    const reader = otherConnection()
    const countRows = reader.prepare<[], { n: number }>('SELECT count(*) AS n FROM exchanges')

    const pending = store.append(issue({ token_id: 'jti-visible' }))
    expect(countRows.get()!.n).to.equal(0)
    const written = await pending

    const seen = reader.prepare('SELECT id, token_id FROM exchanges WHERE id = ?').get(written.id)
    expect(seen).to.deep.equal({ id: written.id, token_id: 'jti-visible' })
  })

  it('rejects the whole batch while the database is locked, then recovers without restart', async () => {
    const first = await store.append(issue({ subject: 'before' }))
    const locker = otherConnection()
    locker.exec('BEGIN EXCLUSIVE')

    const errors = await Promise.all([store.append(issue()), store.append(issue())].map(rejection))
    for (const err of errors) {
      expect(err.code).to.equal('ERR_AUDIT_UNAVAILABLE')
      expect(err.message).to.equal('audit log unavailable: SQLITE_BUSY; no credential was issued')
      expect(err.cause).to.be.instanceOf(StorageError)
      expect((err.cause as StorageError).code).to.equal('UNAVAILABLE')
      expect((err.cause as StorageError).message).to.match(/^SQLITE_BUSY: /)
    }
    expect(store.health.lastError).to.include({ code: 'SQLITE_BUSY' }) // the driver's code, for readiness

    locker.exec('ROLLBACK')
    const next = await store.append(issue({ subject: 'after' }))
    expect(next.seq).to.equal(first.seq + 1)
    expect(next.prev_hash).to.equal(first.hash)
    expect(store.health.lastError).to.equal(undefined)
    expect(await storage.reader.count()).to.equal(2)
    expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 2, chainsChecked: 1 })
  })

  it('keeps the event loop turning while a write waits on a lock (the commit runs in the writer thread)', async () => {
    const locker = otherConnection()
    locker.exec('BEGIN EXCLUSIVE')
    const order: string[] = []

    const append = store.append(issue()).then(
      () => order.push('append settled'),
      () => order.push('append settled'),
    )
    // the batch is sent at the end of this turn; two turns later the loop must still be free
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    order.push('event loop turned')
    await append
    locker.exec('ROLLBACK')

    expect(order).to.deep.equal(['event loop turned', 'append settled'])
  })

  it('fails appends not committed within the per-append deadline, then recovers', async () => {
    // the writer thread waits on the lock far longer than the appender's deadline, as a write stuck
    // in the kernel would (the writer thread's stall hook is not reachable through the Storage port)
    await store.close()
    await storage.close()
    storage = await openLeased(path, 1000)
    store = appender({ writeTimeoutMs: 300 })
    const first = await store.append(issue({ subject: 'before' }))
    const locker = otherConnection()
    locker.exec('BEGIN IMMEDIATE')

    const errors = await Promise.all([store.append(issue()), store.append(issue())].map(rejection))
    for (const err of errors) {
      expect(err.code).to.equal('ERR_AUDIT_UNAVAILABLE')
      // the appender's deadline and the writer thread's (the time the batch had left) coincide: either may report
      expect(err.message).to.match(
        /^audit log unavailable: write not (committed within audit\.write_timeout \(300 ms\)|confirmed within (2\d\d|300) ms: the audit writer thread did not answer); no credential was issued$/,
      )
    }
    expect(store.health.lastError).to.include({ code: 'TIMEOUT' })
    // let the abandoned writer thread give up on the lock (its busy timeout is 750 ms) before releasing it
    await new Promise((resolve) => setTimeout(resolve, 1500))
    locker.exec('ROLLBACK')
    // the abandoned thread is not reused: a readiness ping starts its replacement (from source, under
    // tsx, starting a thread takes longer than this test's 300 ms write timeout)
    await storage.ping(10_000)

    // the new writer thread takes over: the chain continues from the last committed row
    const next = await store.append(issue({ subject: 'after' }))
    expect(next.seq).to.equal(first.seq + 1)
    expect(next.prev_hash).to.equal(first.hash)
    expect(await storage.reader.count()).to.equal(2)
    expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 2, chainsChecked: 1 })
  })

  it('rejects with ERR_AUDIT_UNAVAILABLE when the storage is closed', async () => {
    await storage.close()
    const err = await rejection(store.append(issue()))
    expect(err.code).to.equal('ERR_AUDIT_UNAVAILABLE')
    expect(err.message).to.match(/^audit log unavailable: .+; no credential was issued$/)
  })

  it('writes nothing once the storage is closed, even with the chain head already known', async () => {
    await store.append(issue())
    await storage.close()

    const err = await rejection(store.append(issue()))
    expect(err.code).to.equal('ERR_AUDIT_UNAVAILABLE')
    const check = otherConnection()
    expect(check.prepare('SELECT count(*) AS n FROM exchanges').get()).to.deep.equal({ n: 1 })
  })

  it('continues the chain from the database after reopening', async () => {
    const first = await store.append(issue())
    await store.close()
    await storage.leases.release(NODE, OWNER)
    await storage.close()
    storage = await openLeased(path, 200)
    store = appender()

    const second = await store.append(issue())
    expect(second.seq).to.equal(2)
    expect(second.prev_hash).to.equal(first.hash)
    expect((await verifyChain(storage.reader)).ok).to.equal(true)
  })

  it('truncates oversized fields on a character boundary and still verifies', async () => {
    const huge = 'é'.repeat(5000) // 2 bytes each
    const written = await store.append(
      issue({ subject: huge, reason: 'x'.repeat(100_000), detail: { a: 'y'.repeat(3000), b: 1 } }),
    )

    expect(Buffer.byteLength(written.subject!)).to.be.at.most(2048)
    expect(written.subject!.startsWith('é'.repeat(1000))).to.equal(true)
    expect(written.subject!.endsWith('é…')).to.equal(true)
    expect(Buffer.byteLength(written.reason!)).to.be.at.most(2048)
    const rawDetail = db.prepare<[], { detail: string }>('SELECT detail FROM exchanges').get()!.detail
    expect(Buffer.byteLength(rawDetail)).to.be.at.most(2048)
    expect(written.detail).to.deep.equal({ _truncated: true })
    expect((await verifyChain(storage.reader)).ok).to.equal(true)
  })

  it('stores strings that do not survive UTF-8 as they read back, so the hash still holds', async () => {
    const written = await store.append(issue({ subject: 'bad\uD800surrogate', reason: 'nul\u0000inside' }))
    expect(written.subject).to.equal('bad\uFFFDsurrogate')
    expect((await tail(1))[0]!.reason).to.equal('nul\u0000inside')
    expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 1, chainsChecked: 1 })
  })

  it('fails only the append whose caller-supplied id is a duplicate', async () => {
    const first = await store.append(issue({ id: '01JGZ0000000000000000000AA' }))
    const [duplicate, fine] = await Promise.allSettled([
      store.append(issue({ id: first.id })),
      store.append(issue({ subject: 'fine' })),
    ])

    expect(duplicate.status).to.equal('rejected')
    expect((duplicate as PromiseRejectedResult).reason.code).to.equal('ERR_AUDIT_UNAVAILABLE')
    expect(fine.status).to.equal('fulfilled')
    expect((fine as PromiseFulfilledResult<StoredExchange>).value.seq).to.equal(2)
    expect((await verifyChain(storage.reader)).ok).to.equal(true)
  })

  it('refuses a record with an unknown kind without writing anything', async () => {
    const err = await rejection(store.append({ kind: 'steal' as never, decision: 'allow' }))
    expect(err.code).to.equal('ERR_INTERNAL')
    expect(await storage.reader.count()).to.equal(0)
  })

  it('close() commits pending appends, then refuses new ones', async () => {
    const pending = store.append(issue())
    await store.close()
    expect(await storage.reader.count()).to.equal(1)
    expect((await pending).seq).to.equal(1)
    expect((await rejection(store.append(issue()))).code).to.equal('ERR_AUDIT_UNAVAILABLE')
  })

  it('keeps a committed append successful when an onAppend listener throws', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.message)
    process.on('warning', onWarning)
    try {
      const unsubscribe = store.onAppend(() => {
        throw new Error('listener broke')
      })
      expect((await store.append(issue())).seq).to.equal(1)
      unsubscribe()
      await store.append(issue())
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.filter((message) => message.includes('listener broke'))).to.have.length(1)
    } finally {
      process.off('warning', onWarning)
    }
  })
})
