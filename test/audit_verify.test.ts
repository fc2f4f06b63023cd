import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { SqliteAuditStore, type StoredExchange, verifyChain } from '../src/audit/index.js'
import { chainHash } from '../src/audit/record.js'
import { ManualClock } from '../src/clock.js'
import { BrokerError } from '../src/errors.js'
import { openDatabase, type SqliteDatabase } from '../src/storage/database.js'

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5)
const CONTENT_COLUMNS =
  'id, ts, kind, subject, auth_method, issuer, peer, cert_thumbprint, audience, scopes, ttl, secret_name, route, ' +
  'decision, reason, token_id, expires_at, latency_us, detail, prev_hash, hash'

describe('verifyChain', () => {
  let dir: string
  let path: string
  let db: SqliteDatabase
  let clock: ManualClock
  let store: SqliteAuditStore
  let rows: StoredExchange[]
  let tamper: Database.Database

  /** Ten rows, one second apart, so tests can address them by seq (1..10). */
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

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-verify-'))
    path = join(dir, 'keybroker.db')
    db = openDatabase(path)
    clock = new ManualClock(T0)
    store = new SqliteAuditStore(db, { clock })
    rows = []
    await writeRows()
    // edits come from a second connection, as an attacker with file access would make them
    tamper = new Database(path)
  })

  afterEach(() => {
    tamper.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('passes on a clean log', () => {
    expect(verifyChain(db)).to.deep.equal({ ok: true, rowsChecked: 10 })
  })

  it('passes on an empty log and fails on a database without one', () => {
    const emptyDb = openDatabase(join(dir, 'empty.db'))
    const foreignDb = openDatabase(join(dir, 'foreign.db'))
    try {
      new SqliteAuditStore(emptyDb)
      expect(verifyChain(emptyDb)).to.deep.equal({ ok: true, rowsChecked: 0 })
      expect(verifyChain(foreignDb)).to.include({ ok: false, rowsChecked: 0 })
    } finally {
      emptyDb.close()
      foreignDb.close()
    }
  })

  it('names the seq and id of an edited row', () => {
    tamper.prepare('UPDATE exchanges SET decision = ? WHERE seq = 4').run('deny')

    const result = verifyChain(db)
    expect(result).to.include({ ok: false, firstBadSeq: 4, firstBadId: row(4).id, rowsChecked: 4 })
    expect(result.problem).to.match(/hash mismatch/)
  })

  it('detects an edited row whose hash was recomputed, at the next row', () => {
    const edited = {
      ...(tamper.prepare('SELECT * FROM exchanges WHERE seq = 4').get() as object),
      subject: 'someone else',
    }
    const rehashed = chainHash(row(3).hash, edited as never)
    tamper.prepare('UPDATE exchanges SET subject = ?, hash = ? WHERE seq = 4').run('someone else', rehashed)

    expect(verifyChain(db)).to.include({ ok: false, firstBadSeq: 5, firstBadId: row(5).id })
  })

  it('names the row after a deleted middle row', () => {
    tamper.prepare('DELETE FROM exchanges WHERE seq = 5').run()

    const result = verifyChain(db)
    expect(result).to.include({ ok: false, firstBadSeq: 6, firstBadId: row(6).id })
    expect(result.problem).to.equal('seq 6 follows seq 4: 1 row(s) missing')
  })

  it('detects a deleted first row', () => {
    tamper.prepare('DELETE FROM exchanges WHERE seq = 1').run()
    expect(verifyChain(db)).to.include({ ok: false, firstBadSeq: 2, firstBadId: row(2).id })
  })

  it('detects a deleted middle row even when the later seqs were renumbered to close the gap', () => {
    tamper.exec('DELETE FROM exchanges WHERE seq = 5; UPDATE exchanges SET seq = seq - 1 WHERE seq > 5')
    tamper.prepare('UPDATE audit_head SET seq = 9').run()

    const result = verifyChain(db)
    expect(result).to.include({ ok: false, firstBadSeq: 5, firstBadId: row(6).id })
    expect(result.problem).to.match(/prev_hash/)
  })

  it('detects two rows whose contents were swapped', () => {
    const swap = tamper.transaction(() => {
      const third = tamper.prepare(`SELECT ${CONTENT_COLUMNS} FROM exchanges WHERE seq = 3`).get() as object
      const seventh = tamper.prepare(`SELECT ${CONTENT_COLUMNS} FROM exchanges WHERE seq = 7`).get() as object
      // ids are UNIQUE: park one row's id while moving the other in
      tamper.prepare(`UPDATE exchanges SET id = 'parked' WHERE seq = 7`).run()
      const assignments = CONTENT_COLUMNS.split(', ')
        .map((column) => `${column} = @${column}`)
        .join(', ')
      tamper.prepare(`UPDATE exchanges SET ${assignments} WHERE seq = 3`).run(seventh)
      tamper.prepare(`UPDATE exchanges SET ${assignments} WHERE seq = 7`).run(third)
    })
    swap()

    const result = verifyChain(db)
    expect(result).to.include({ ok: false, firstBadSeq: 3, firstBadId: row(7).id })
  })

  it('detects a truncated tail through the head row', () => {
    tamper.prepare('DELETE FROM exchanges WHERE seq > 8').run()

    const result = verifyChain(db)
    expect(result).to.include({ ok: false, rowsChecked: 8, firstBadSeq: 9 })
    expect(result.problem).to.match(/^log ends at seq 8 but head records seq 10/)
  })

  it('keeps a truncated tail visible after the broker appends again', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE seq > 8').run()
    const next = await store.append({ kind: 'revoke', decision: 'allow' })

    expect(next.seq).to.equal(11)
    expect(verifyChain(db)).to.include({ ok: false, firstBadSeq: 11, firstBadId: next.id })
  })

  describe('after retention pruned old rows', () => {
    it('still verifies, starting from the checkpoint', async () => {
      const pruned = store.prune(T0 + 5000, 2) // rows 1..5 are older

      expect(pruned).to.equal(5)
      expect(store.count()).to.equal(5)
      expect(tamper.prepare('SELECT seq, hash FROM audit_checkpoint').get()).to.deep.equal({
        seq: 5,
        hash: row(5).hash,
      })
      expect(verifyChain(db)).to.deep.equal({ ok: true, rowsChecked: 5 })

      await writeRows(2)
      expect(verifyChain(db)).to.deep.equal({ ok: true, rowsChecked: 7 })
    })

    it('still detects a removed row just after the checkpoint', () => {
      store.prune(T0 + 5000, 100)
      tamper.prepare('DELETE FROM exchanges WHERE seq = 6').run()

      expect(verifyChain(db)).to.include({ ok: false, firstBadSeq: 7, firstBadId: row(7).id })
    })

    it('prunes only a prefix of the chain, stopping at the first newer row', () => {
      // a clock step backwards left row 8 older than row 3
      tamper.prepare('UPDATE exchanges SET ts = ? WHERE seq = 3').run(T0 + 60_000)
      tamper.prepare('UPDATE exchanges SET ts = ? WHERE seq = 8').run(T0)
      const rehash = tamper.prepare('UPDATE exchanges SET prev_hash = ?, hash = ? WHERE seq = ?')
      let previous = row(2).hash
      for (let seq = 3; seq <= 10; seq++) {
        const current = tamper.prepare('SELECT * FROM exchanges WHERE seq = ?').get(seq) as never
        const hash = chainHash(previous, current)
        rehash.run(previous, hash, seq)
        previous = hash
      }
      tamper.prepare('UPDATE audit_head SET hash = ?').run(previous)
      expect(verifyChain(db).ok).to.equal(true)

      expect(store.prune(T0 + 5000, 100)).to.equal(2)
      expect(store.tail(100).map((r) => r.seq)).to.deep.equal([3, 4, 5, 6, 7, 8, 9, 10])
      expect(verifyChain(db).ok).to.equal(true)
    })

    it('can prune every row and keep appending', async () => {
      expect(store.prune(clock.now(), 3)).to.equal(10)
      expect(verifyChain(db)).to.deep.equal({ ok: true, rowsChecked: 0 })

      const next = await store.append({ kind: 'admin', decision: 'allow' })
      expect(next.seq).to.equal(11)
      expect(next.prev_hash).to.equal(row(10).hash)
      expect(verifyChain(db)).to.deep.equal({ ok: true, rowsChecked: 1 })
    })

    it('refuses to prune rows that do not verify, so tampering is not erased', () => {
      tamper.prepare(`UPDATE exchanges SET subject = 'edited' WHERE seq = 2`).run()

      expect(() => store.prune(T0 + 5000, 100))
        .to.throw(BrokerError)
        .with.property('code', 'ERR_FAILED_PRECONDITION')
      expect(store.count()).to.equal(10)
      expect(verifyChain(db)).to.include({ ok: false, firstBadSeq: 2 })
    })
  })
})
