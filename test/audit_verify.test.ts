import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import {
  AuditRetention,
  ChainAppender,
  GENESIS_HASH,
  rowHash,
  type StoredExchange,
  verifyChain,
} from '../src/audit/index.js'
import { ManualClock } from '../src/clock.js'
import { BrokerError } from '../src/errors.js'
import { MIGRATIONS } from '../src/storage/migrations.js'
import type { ExchangeRow, Storage } from '../src/storage/ports.js'
import { openSqliteStorage } from '../src/storage/sqlite/index.js'

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5)
const DAY_MS = 86_400_000
const NODE = 'node-a'
const OTHER = 'node-b'
const OWNER = 'test-process'
const CONTENT_COLUMNS =
  'id, ts, kind, subject, auth_method, issuer, peer, cert_thumbprint, audience, scopes, ttl, secret_name, route, ' +
  'decision, reason, token_id, expires_at, latency_us, detail, run_id, tool_call_id, approval_id, trace_id, ' +
  'grant_name, prev_hash, hash'

async function openMigrated(path: string): Promise<Storage> {
  const storage = await openSqliteStorage({ driver: 'sqlite', path, busyTimeoutMs: 2000 })
  await storage.migrate('0.2.0')
  return storage
}

describe('verifyChain', () => {
  let dir: string
  let path: string
  let storage: Storage
  let clock: ManualClock
  let store: ChainAppender
  let rows: StoredExchange[]
  let tamper: Database.Database

  async function chainAppender(nodeId: string): Promise<ChainAppender> {
    await storage.leases.acquire(nodeId, OWNER, 60_000)
    return new ChainAppender(storage.chains, { nodeId, clock, writeTimeoutMs: 5000 })
  }

  /** Rows one second apart, so tests can address them by seq (1..10). */
  async function writeRows(n = 10): Promise<void> {
    for (let i = 1; i <= n; i++) {
      rows.push(
        await store.append({ kind: 'issue', decision: 'allow', subject: `spiffe://example.org/w${i}` }),
      )
      clock.advance(1000)
    }
  }

  function row(seq: number): StoredExchange {
    return rows.find((r) => r.seq === seq)!
  }

  /** Retention as the broker runs it, with a clock `retentionDays` after `cutoffMs`. */
  function prune(cutoffMs: number, batchSize: number): Promise<number> {
    const retentionClock = new ManualClock(cutoffMs + DAY_MS)
    return new AuditRetention(storage.reader, storage.pruner, {
      clock: retentionClock,
      retentionDays: 1,
      batchSize,
    }).run()
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-verify-'))
    path = join(dir, 'keybroker.db')
    storage = await openMigrated(path)
    clock = new ManualClock(T0)
    store = await chainAppender(NODE)
    rows = []
    await writeRows()
    // edits come from a second connection, as an attacker with file access would make them
    tamper = new Database(path)
  })

  afterEach(async () => {
    tamper.close()
    await store.close()
    await storage.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('passes on a clean log', async () => {
    expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 10, chainsChecked: 1 })
  })

  it('passes on an empty log and fails on a database without one', async () => {
    const empty = await openMigrated(join(dir, 'empty.db'))
    const foreign = await openSqliteStorage({
      driver: 'sqlite',
      path: join(dir, 'foreign.db'),
      busyTimeoutMs: 200,
    })
    try {
      expect(await verifyChain(empty.reader)).to.deep.equal({ ok: true, rowsChecked: 0, chainsChecked: 0 })
      let failure: unknown
      await verifyChain(foreign.reader).catch((err: unknown) => {
        failure = err
      })
      expect(failure).to.be.instanceOf(Error)
      expect((failure as Error).message).to.match(/no such table/)
    } finally {
      await empty.close()
      await foreign.close()
    }
  })

  it('names the chain, seq and id of an edited row', async () => {
    tamper.prepare('UPDATE exchanges SET decision = ? WHERE node_id = ? AND seq = 4').run('deny', NODE)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({
      ok: false,
      firstBadNodeId: NODE,
      firstBadSeq: 4,
      firstBadId: row(4).id,
      rowsChecked: 4,
    })
    expect(result.problem).to.match(/hash mismatch/)
  })

  it('detects an edited row whose hash was recomputed, at the next row', async () => {
    const edited = {
      ...(tamper.prepare('SELECT * FROM exchanges WHERE node_id = ? AND seq = 4').get(NODE) as ExchangeRow),
      subject: 'someone else',
    }
    const rehashed = rowHash(row(3).hash, edited)
    tamper
      .prepare('UPDATE exchanges SET subject = ?, hash = ? WHERE node_id = ? AND seq = 4')
      .run('someone else', rehashed, NODE)

    expect(await verifyChain(storage.reader)).to.include({ ok: false, firstBadSeq: 5, firstBadId: row(5).id })
  })

  it('names the row after a deleted middle row', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq = 5').run(NODE)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, firstBadNodeId: NODE, firstBadSeq: 6, firstBadId: row(6).id })
    expect(result.problem).to.equal('seq 6 follows seq 4: 1 row(s) missing')
  })

  it('detects a deleted first row', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq = 1').run(NODE)
    expect(await verifyChain(storage.reader)).to.include({ ok: false, firstBadSeq: 2, firstBadId: row(2).id })
  })

  it('detects a deleted middle row even when the later seqs were renumbered to close the gap', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq = 5').run(NODE)
    tamper.prepare('UPDATE exchanges SET seq = seq - 1 WHERE node_id = ? AND seq > 5').run(NODE)
    tamper.prepare('UPDATE audit_heads SET seq = 9 WHERE node_id = ?').run(NODE)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, firstBadSeq: 5, firstBadId: row(6).id })
    expect(result.problem).to.match(/prev_hash/)
  })

  it('detects two rows whose contents were swapped', async () => {
    const swap = tamper.transaction(() => {
      const select = tamper.prepare(`SELECT ${CONTENT_COLUMNS} FROM exchanges WHERE node_id = ? AND seq = ?`)
      const third = select.get(NODE, 3) as object
      const seventh = select.get(NODE, 7) as object
      // ids are UNIQUE: park one row's id while moving the other in
      tamper.prepare(`UPDATE exchanges SET id = 'parked' WHERE node_id = ? AND seq = 7`).run(NODE)
      const assignments = CONTENT_COLUMNS.split(', ')
        .map((column) => `${column} = @${column}`)
        .join(', ')
      const update = tamper.prepare(
        `UPDATE exchanges SET ${assignments} WHERE node_id = @node AND seq = @seq`,
      )
      update.run({ ...seventh, node: NODE, seq: 3 })
      update.run({ ...third, node: NODE, seq: 7 })
    })
    swap()

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, firstBadSeq: 3, firstBadId: row(7).id })
  })

  it('detects a truncated tail through the head row', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq > 8').run(NODE)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, rowsChecked: 8, firstBadNodeId: NODE, firstBadSeq: 9 })
    expect(result.problem).to.match(/^chain ends at seq 8 but its head records seq 10/)
  })

  it('keeps a truncated tail visible after the broker appends again', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq > 8').run(NODE)
    const next = await store.append({ kind: 'revoke', decision: 'allow' })

    expect(next.seq).to.equal(11)
    expect(await verifyChain(storage.reader)).to.include({ ok: false, firstBadSeq: 11, firstBadId: next.id })
  })

  describe('with two chains in one file', () => {
    let second: ChainAppender
    let others: StoredExchange[]

    beforeEach(async () => {
      second = await chainAppender(OTHER)
      others = []
      for (let i = 1; i <= 5; i++) {
        others.push(
          await second.append({ kind: 'fetch', decision: 'allow', subject: `spiffe://example.org/b${i}` }),
        )
        rows.push(
          await store.append({ kind: 'issue', decision: 'allow', subject: `spiffe://example.org/a${i}` }),
        )
      }
    })

    afterEach(() => second.close())

    it('numbers each chain on its own and verifies both', async () => {
      expect(others.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4, 5])
      expect(others.every((r) => r.node_id === OTHER)).to.equal(true)
      expect(others[0]!.prev_hash).to.equal(GENESIS_HASH)
      expect(rows.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 20, chainsChecked: 2 })
    })

    it('names the second chain when one of its rows was edited', async () => {
      tamper.prepare(`UPDATE exchanges SET subject = 'edited' WHERE node_id = ? AND seq = 3`).run(OTHER)

      const result = await verifyChain(storage.reader)
      expect(result).to.include({
        ok: false,
        firstBadNodeId: OTHER,
        firstBadSeq: 3,
        firstBadId: others[2]!.id,
      })
      expect(result.problem).to.match(/hash mismatch/)
    })

    it('detects a row moved from one chain to the other', async () => {
      // a row cannot be re-homed into another chain, even at that chain's next free position
      tamper
        .prepare('UPDATE exchanges SET node_id = ?, seq = 6 WHERE node_id = ? AND seq = 15')
        .run(OTHER, NODE)
      tamper.prepare(`UPDATE audit_heads SET seq = 6, hash = ? WHERE node_id = ?`).run(row(15).hash, OTHER)
      tamper.prepare(`UPDATE audit_heads SET seq = 14, hash = ? WHERE node_id = ?`).run(row(14).hash, NODE)

      expect(await verifyChain(storage.reader)).to.include({
        ok: false,
        firstBadNodeId: OTHER,
        firstBadSeq: 6,
      })
    })

    it('reports the rows of a chain whose head row was deleted', async () => {
      tamper.prepare('DELETE FROM audit_heads WHERE node_id = ?').run(OTHER)

      const result = await verifyChain(storage.reader)
      expect(result).to.include({ ok: false, rowsChecked: 15, firstBadNodeId: OTHER })
      expect(result.problem).to.equal('5 row(s) belong to no chain with a head (a head row was removed)')
    })
  })

  it('names a headless chain even behind more than one page of newer rows of a live chain', async () => {
    const orphan = await chainAppender(OTHER)
    const lost = await orphan.append({ kind: 'fetch', decision: 'allow' })
    await orphan.close()
    clock.advance(1000)
    await Promise.all(Array.from({ length: 5001 }, () => store.append({ kind: 'issue', decision: 'allow' })))
    tamper.prepare('DELETE FROM audit_heads WHERE node_id = ?').run(OTHER)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, rowsChecked: 5011, firstBadNodeId: OTHER, firstBadId: lost.id })
  })

  it('reports a lone chain whose head row was deleted', async () => {
    tamper.prepare('DELETE FROM audit_heads WHERE node_id = ?').run(NODE)

    const result = await verifyChain(storage.reader)
    expect(result).to.include({ ok: false, rowsChecked: 0, firstBadNodeId: NODE })
    expect(result.problem).to.equal('10 row(s) belong to no chain with a head (a head row was removed)')
  })

  describe('after retention pruned old rows', () => {
    it('still verifies, starting from the checkpoint', async () => {
      const pruned = await prune(T0 + 5000, 2) // rows 1..5 are older

      expect(pruned).to.equal(5)
      expect(await storage.reader.count()).to.equal(5)
      expect(
        tamper.prepare('SELECT seq, hash FROM audit_retention WHERE node_id = ?').get(NODE),
      ).to.deep.equal({
        seq: 5,
        hash: row(5).hash,
      })
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 5, chainsChecked: 1 })

      await writeRows(2)
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 7, chainsChecked: 1 })
    })

    it('still detects a removed row just after the checkpoint', async () => {
      await prune(T0 + 5000, 100)
      tamper.prepare('DELETE FROM exchanges WHERE node_id = ? AND seq = 6').run(NODE)

      expect(await verifyChain(storage.reader)).to.include({
        ok: false,
        firstBadSeq: 7,
        firstBadId: row(7).id,
      })
    })

    it('prunes only a prefix of the chain, stopping at the first newer row', async () => {
      // a clock step backwards left row 8 older than row 3
      tamper.prepare('UPDATE exchanges SET ts = ? WHERE node_id = ? AND seq = 3').run(T0 + 60_000, NODE)
      tamper.prepare('UPDATE exchanges SET ts = ? WHERE node_id = ? AND seq = 8').run(T0, NODE)
      const rehash = tamper.prepare(
        'UPDATE exchanges SET prev_hash = ?, hash = ? WHERE node_id = ? AND seq = ?',
      )
      const read = tamper.prepare('SELECT * FROM exchanges WHERE node_id = ? AND seq = ?')
      let previous = row(2).hash
      for (let seq = 3; seq <= 10; seq++) {
        const hash = rowHash(previous, read.get(NODE, seq) as ExchangeRow)
        rehash.run(previous, hash, NODE, seq)
        previous = hash
      }
      tamper.prepare('UPDATE audit_heads SET hash = ? WHERE node_id = ?').run(previous, NODE)
      expect((await verifyChain(storage.reader)).ok).to.equal(true)

      expect(await prune(T0 + 5000, 100)).to.equal(2)
      expect((await storage.reader.chainRows(NODE, 0, 100)).map((r) => r.seq)).to.deep.equal([
        3, 4, 5, 6, 7, 8, 9, 10,
      ])
      expect((await verifyChain(storage.reader)).ok).to.equal(true)
    })

    it('can prune every row and keep appending', async () => {
      expect(await prune(clock.now(), 3)).to.equal(10)
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 0, chainsChecked: 1 })

      const next = await store.append({ kind: 'admin', decision: 'allow' })
      expect(next.seq).to.equal(11)
      expect(next.prev_hash).to.equal(row(10).hash)
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 1, chainsChecked: 1 })
    })

    it('refuses to prune rows that do not verify, so tampering is not erased', async () => {
      tamper.prepare(`UPDATE exchanges SET subject = 'edited' WHERE node_id = ? AND seq = 2`).run(NODE)

      let failure: unknown
      await prune(T0 + 5000, 100).catch((err: unknown) => {
        failure = err
      })
      expect(failure).to.be.instanceOf(BrokerError)
      expect(failure).to.have.property('code', 'ERR_FAILED_PRECONDITION')
      expect(await storage.reader.count()).to.equal(10)
      expect(await verifyChain(storage.reader)).to.include({ ok: false, firstBadSeq: 2 })
    })
  })
})

describe('verifyChain on a keybroker 0.1 file', () => {
  let dir: string
  let path: string
  let v1Rows: ExchangeRow[]

  /** The 0.1 schema (migration 1, unversioned) with rows 1..5 hashed in canonical form 1; 1..2 pruned. */
  function writeV1File(): void {
    const db = new Database(path)
    db.exec(MIGRATIONS[0]!.sqlite)
    v1Rows = []
    let previous = GENESIS_HASH
    for (let seq = 1; seq <= 5; seq++) {
      const row = {
        node_id: '',
        seq,
        form: 1,
        id: `01JGZ00000000000000000000${seq}`,
        ts: T0 + seq * 1000,
        kind: seq === 3 ? 'revoke' : 'issue',
        subject: `spiffe://example.org/v1-${seq}`,
        auth_method: 'mtls',
        issuer: null,
        peer: '127.0.0.1:5000',
        cert_thumbprint: null,
        audience: 'billing',
        scopes: null,
        ttl: 300,
        secret_name: null,
        route: null,
        decision: 'allow',
        reason: null,
        token_id: `jti-${seq}`,
        expires_at: Math.floor(T0 / 1000) + 300,
        latency_us: 100 + seq,
        detail: seq === 2 ? '{"provider":"vault"}' : null,
        run_id: null,
        tool_call_id: null,
        approval_id: null,
        trace_id: null,
        grant_name: null,
        prev_hash: previous,
        hash: '',
      } satisfies ExchangeRow
      row.hash = rowHash(previous, row)
      previous = row.hash
      v1Rows.push(row)
    }
    const insert = db.prepare(
      `INSERT INTO exchanges (${CONTENT_COLUMNS}, seq) VALUES (@id, @ts, @kind, @subject, @auth_method, @issuer,
       @peer, @cert_thumbprint, @audience, @scopes, @ttl, @secret_name, @route, @decision, @reason, @token_id,
       @expires_at, @latency_us, @detail, @prev_hash, @hash, @seq)`.replace(
        ', run_id, tool_call_id, approval_id, trace_id, grant_name',
        '',
      ),
    )
    // 0.1 retention already pruned rows 1..2 behind its checkpoint
    for (const row of v1Rows.slice(2)) insert.run(row)
    db.prepare('INSERT INTO audit_checkpoint (id, seq, hash, pruned_at) VALUES (1, 2, ?, ?)').run(
      v1Rows[1]!.hash,
      T0,
    )
    db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, 5, ?)').run(v1Rows[4]!.hash)
    db.close()
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-v1-'))
    path = join(dir, 'keybroker.db')
    writeV1File()
  })

  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('migrates to v2 and still verifies, then carries a new chain beside it', async () => {
    const storage = await openSqliteStorage({ driver: 'sqlite', path, busyTimeoutMs: 2000 })
    try {
      expect(await storage.schema()).to.deep.equal({ version: 1, minBinary: '0.1.0' })
      expect(await storage.migrate('0.2.0')).to.deep.equal(MIGRATIONS.slice(1).map((m) => m.version))
      expect((await storage.schema()).version).to.equal(MIGRATIONS[MIGRATIONS.length - 1]!.version)
      expect(await storage.migrate('0.2.0'), 'a second run has nothing to do').to.deep.equal([])

      const migrated = await storage.reader.chainRows('', 0, 10)
      expect(migrated.map((r) => [r.seq, r.form, r.hash])).to.deep.equal(
        v1Rows.slice(2).map((r) => [r.seq, 1, r.hash]),
      )
      expect(await storage.reader.retentionCheckpoints()).to.deep.equal([
        { nodeId: '', seq: 2, hash: v1Rows[1]!.hash },
      ])
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 3, chainsChecked: 1 })

      await storage.leases.acquire(NODE, OWNER, 60_000)
      const appender = new ChainAppender(storage.chains, { nodeId: NODE, writeTimeoutMs: 5000 })
      const first = await appender.append({ kind: 'admin', decision: 'allow' })
      await appender.close()
      expect(first).to.include({ node_id: NODE, seq: 1, prev_hash: GENESIS_HASH })
      expect(await verifyChain(storage.reader)).to.deep.equal({ ok: true, rowsChecked: 4, chainsChecked: 2 })
    } finally {
      await storage.close()
    }
  })

  it('still detects an edit to a migrated form-1 row', async () => {
    const storage = await openMigrated(path)
    const tamper = new Database(path)
    try {
      tamper.prepare(`UPDATE exchanges SET audience = 'payroll' WHERE node_id = '' AND seq = 4`).run()

      const result = await verifyChain(storage.reader)
      expect(result).to.include({ ok: false, firstBadNodeId: '', firstBadSeq: 4, firstBadId: v1Rows[3]!.id })
      expect(result.problem).to.match(/hash mismatch/)
    } finally {
      tamper.close()
      await storage.close()
    }
  })
})
