import { expect } from 'chai'
import pg from 'pg'
import { GENESIS_HASH } from '../src/audit/canonical.js'
import { BINARY_VERSION, MIGRATIONS } from '../src/storage/migrations.js'
import type { PostgresStorageOptions } from '../src/storage/options.js'
import type { Storage } from '../src/storage/ports.js'
import { openPostgresStorage } from '../src/storage/postgres/index.js'
import {
  createTestDatabase,
  type FaultProxy,
  PG_HOST,
  PG_PORT,
  PG_USER,
  psql,
  startFaultProxy,
  type TestDatabase,
} from './fixtures/postgres.js'
import { append, chainRows, rejectsWith } from './storage_conformance/harness.js'

function options(url: string, extra: Partial<PostgresStorageOptions> = {}): PostgresStorageOptions {
  return { driver: 'postgres', url, poolSize: 4, statementTimeoutMs: 2000, connectTimeoutMs: 2000, ...extra }
}

describe('storage postgres: faults, timeouts, schema versions', () => {
  let db: TestDatabase
  const opened: Storage[] = []
  const open = async (extra: Partial<PostgresStorageOptions> = {}, url = db.url) => {
    const storage = await openPostgresStorage(options(url, extra))
    opened.push(storage)
    return storage
  }

  beforeEach(async function () {
    db = await createTestDatabase(this)
  })
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    await db?.drop()
  })

  it('two processes migrating an empty database at once: one migrates, the other waits, both succeed', async () => {
    const [a, b] = await Promise.all([open(), open()])
    const results = await Promise.all([a.migrate(BINARY_VERSION), b.migrate(BINARY_VERSION)])
    const all = MIGRATIONS.map((m) => m.version)
    expect(results).to.deep.include(all)
    expect(results).to.deep.include([])
    const rows = await psql(db.name, 'SELECT version FROM schema_migrations ORDER BY version')
    expect(rows.map((r) => r.version)).to.deep.equal(all)
  })

  it('a database that needs a newer binary is refused, naming both versions; a compatible newer one is not', async () => {
    const storage = await open()
    await storage.migrate(BINARY_VERSION)
    await psql(db.name, `INSERT INTO schema_migrations VALUES (50, 'additive', '0.1.0', 0)`)
    expect(await storage.migrate(BINARY_VERSION)).to.deep.equal([])
    await psql(db.name, `INSERT INTO schema_migrations VALUES (99, 'future', '9.0.0', 0)`)
    expect(await storage.schema()).to.deep.equal({ version: 99, minBinary: '9.0.0' })
    const err = await rejectsWith(storage.migrate(BINARY_VERSION), 'SCHEMA_TOO_NEW')
    expect(err.message).to.contain('version 99').and.to.contain('9.0.0').and.to.contain(BINARY_VERSION)
  })

  it('a statement over statement_timeout is TIMEOUT (known outcome), and the store works once the lock goes', async () => {
    const storage = await open({ statementTimeoutMs: 300 })
    await storage.migrate(BINARY_VERSION)
    await storage.leases.acquire('n1', 'o', 60_000)
    const head = await storage.chains.readHead('n1')
    const locker = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: db.name })
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE exchanges IN ACCESS EXCLUSIVE MODE')
      const read = await rejectsWith(storage.reader.count(), 'TIMEOUT')
      expect(read.message).to.contain('statement_timeout (300 ms)')
      const write = await rejectsWith(
        storage.chains.commit('n1', head, chainRows('n1', head, [{}]), 5000),
        'TIMEOUT',
      )
      expect(write.outcomeUnknown).to.equal(false)
    } finally {
      await locker.query('ROLLBACK')
      await locker.end()
    }
    expect(await storage.chains.readHead('n1')).to.deep.equal(head)
    await append(storage, 'n1', [{}])
    expect(await storage.reader.count()).to.equal(1)
  })

  it('commit to a chain without a head row creates it from genesis; any other expectation is HEAD_MOVED', async () => {
    const storage = await open()
    await storage.migrate(BINARY_VERSION)
    await rejectsWith(
      storage.chains.commit(
        'fresh',
        { seq: 4, hash: 'f'.repeat(64) },
        chainRows('fresh', { seq: 4, hash: 'f'.repeat(64) }, [{}]),
        5000,
      ),
      'HEAD_MOVED',
    )
    const rows = await append(storage, 'fresh', [{}, {}])
    expect(await storage.chains.readHead('fresh')).to.deep.equal({ seq: 2, hash: rows[1]!.hash })
    const genesis = { seq: 0, hash: GENESIS_HASH }
    await rejectsWith(
      storage.chains.commit('fresh', genesis, chainRows('fresh', genesis, [{}]), 5000),
      'HEAD_MOVED',
    )
  })

  it('a batch that does not continue the expected head is INVALID and never sent', async () => {
    const storage = await open()
    await storage.migrate(BINARY_VERSION)
    const genesis = { seq: 0, hash: GENESIS_HASH }
    const rows = chainRows('n1', genesis, [{}, {}])
    rows[1]!.prev_hash = 'a'.repeat(64)
    await rejectsWith(storage.chains.commit('n1', genesis, rows, 5000), 'INVALID')
    await rejectsWith(storage.chains.commit('n2', genesis, chainRows('n1', genesis, [{}]), 5000), 'INVALID')
    expect(await storage.reader.count()).to.equal(0)
  })

  it('prunePrefix with a checkpoint that names no row deletes nothing', async () => {
    const storage = await open()
    await storage.migrate(BINARY_VERSION)
    await append(storage, 'n1', [{}, {}, {}])
    await rejectsWith(storage.pruner.prunePrefix('n1', { seq: 2, hash: 'b'.repeat(64) }), 'INVALID')
    expect(await storage.reader.count()).to.equal(3)
  })

  describe('through a fault proxy', () => {
    let proxy: FaultProxy
    beforeEach(async () => {
      proxy = await startFaultProxy(PG_PORT)
    })
    afterEach(() => proxy.close())

    it('cut while a commit is in flight: UNAVAILABLE with unknown outcome; a fresh readHead and commit recover without reopening', async () => {
      const storage = await open({}, db.urlVia(proxy.port))
      await storage.migrate(BINARY_VERSION)
      await storage.leases.acquire('n1', 'o', 60_000)
      await append(storage, 'n1', [{}, {}])
      const head = await storage.chains.readHead('n1')
      proxy.pause()
      const inFlight = storage.chains.commit('n1', head, chainRows('n1', head, [{}, {}, {}]), 10_000)
      await new Promise((resolve) => setTimeout(resolve, 100))
      proxy.cut()
      const err = await rejectsWith(inFlight, 'UNAVAILABLE')
      expect(err.outcomeUnknown).to.equal(true)
      expect(err.message).to.contain(`127.0.0.1:${proxy.port}`)
      proxy.resume()
      const now = await storage.chains.readHead('n1')
      await storage.chains.commit('n1', now, chainRows('n1', now, [{ kind: 'revoke' }]), 5000)
      const rows = await storage.reader.chainRows('n1', 0, 100)
      expect(rows.map((r) => r.seq)).to.deep.equal(rows.map((_, i) => i + 1))
      expect(rows.at(-1)!.kind).to.equal('revoke')
    })

    it('a stalled server: commit and ping time out (commit outcome unknown) within slack, and recover on resume', async () => {
      const storage = await open({}, db.urlVia(proxy.port))
      await storage.migrate(BINARY_VERSION)
      await storage.leases.acquire('n1', 'o', 60_000)
      const head = await storage.chains.readHead('n1')
      proxy.pause()
      const started = Date.now()
      const err = await rejectsWith(
        storage.chains.commit('n1', head, chainRows('n1', head, [{}]), 500),
        'TIMEOUT',
      )
      expect(err.outcomeUnknown).to.equal(true)
      await rejectsWith(storage.ping(300), 'TIMEOUT')
      expect(Date.now() - started).to.be.below(5000)
      proxy.resume()
      await storage.ping(2000)
      await append(storage, 'n1', [{}])
      expect(await storage.reader.count()).to.equal(1)
    })

    it('a server that never answers the connection: open is refused within the connect timeout', async () => {
      proxy.pause()
      const started = Date.now()
      let caught: unknown
      await openPostgresStorage(options(db.urlVia(proxy.port), { connectTimeoutMs: 500 })).catch((err) => {
        caught = err
      })
      expect((caught as { code?: string }).code).to.be.oneOf(['UNAVAILABLE', 'TIMEOUT'])
      expect((caught as Error).message).to.contain(`127.0.0.1:${proxy.port}`)
      expect(Date.now() - started).to.be.below(5000)
    })
  })
})
