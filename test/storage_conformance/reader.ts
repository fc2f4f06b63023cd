import { expect } from 'chai'
import type { ChainCursor, ExchangeRow, RowFilter, Storage } from '../../src/storage/ports.js'
import { append, Fixture, type HarnessFactory } from './harness.js'

const T0 = 1_700_000_000_000

/** Rows on two chains with known times, subjects and ids (ties on ts broken by id). */
async function seed(storage: Storage): Promise<ExchangeRow[]> {
  await storage.leases.acquire('a', 'o', 60_000)
  await storage.leases.acquire('b', 'o', 60_000)
  const a = await append(storage, 'a', [
    {
      id: '01A0000000000000000000000A',
      ts: T0 + 10,
      subject: 'spiffe://t/x_1',
      kind: 'issue',
      token_id: 't1',
    },
    {
      id: '01A0000000000000000000000B',
      ts: T0 + 20,
      subject: 'spiffe://t/xy1',
      kind: 'fetch',
      peer: '10.0.0.9',
    },
    {
      id: '01A0000000000000000000000C',
      ts: T0 + 30,
      subject: 'spiffe://t/x%2',
      decision: 'deny',
      run_id: 'r1',
    },
  ])
  const b = await append(storage, 'b', [
    {
      id: '01B0000000000000000000000A',
      ts: T0 + 20,
      subject: 'spiffe://t/x_1',
      kind: 'revoke',
      token_id: 't1',
    },
    {
      id: '01B0000000000000000000000B',
      ts: T0 + 40,
      subject: 'spiffe://u/z',
      run_id: 'r1',
      audience: 'aud2',
    },
  ])
  return [...a, ...b]
}

const ids = (rows: ExchangeRow[]) => rows.map((r) => r.id)

/** Listing, scanning and the per-token questions. */
export function readerConformance(factory: HarnessFactory): void {
  describe('listing', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('listPage is newest first by (ts, id) across chains and pages by position', async () => {
      await seed(fx.storage)
      const all = await fx.storage.reader.listPage({}, 100)
      expect(ids(all)).to.deep.equal([
        '01B0000000000000000000000B',
        '01A0000000000000000000000C',
        '01B0000000000000000000000A',
        '01A0000000000000000000000B',
        '01A0000000000000000000000A',
      ])
      const paged: ExchangeRow[] = []
      let before: { ts: number; id: string } | undefined
      for (;;) {
        const page = await fx.storage.reader.listPage({}, 2, before)
        paged.push(...page)
        if (page.length < 2) break
        const last = page[page.length - 1]!
        before = { ts: last.ts, id: last.id }
      }
      expect(ids(paged)).to.deep.equal(ids(all))
    })

    it('listPage filters: subject, literal subject prefix, kind, decision, token, peer, run, audience, time window', async () => {
      await seed(fx.storage)
      const list = async (filter: RowFilter) => ids(await fx.storage.reader.listPage(filter, 100)).sort()
      expect(await list({ subject: 'spiffe://t/x_1' })).to.deep.equal([
        '01A0000000000000000000000A',
        '01B0000000000000000000000A',
      ])
      // `_` and `%` in a prefix are literal characters, not wildcards
      expect(await list({ subjectPrefix: 'spiffe://t/x_' })).to.deep.equal([
        '01A0000000000000000000000A',
        '01B0000000000000000000000A',
      ])
      expect(await list({ subjectPrefix: 'spiffe://t/x%' })).to.deep.equal(['01A0000000000000000000000C'])
      expect(await list({ subjectPrefix: 'spiffe://t/' })).to.have.length(4)
      expect(await list({ kind: 'revoke' })).to.deep.equal(['01B0000000000000000000000A'])
      expect(await list({ decision: 'deny' })).to.deep.equal(['01A0000000000000000000000C'])
      expect(await list({ tokenId: 't1', kind: 'issue' })).to.deep.equal(['01A0000000000000000000000A'])
      expect(await list({ peer: '10.0.0.9' })).to.deep.equal(['01A0000000000000000000000B'])
      expect(await list({ runId: 'r1' })).to.deep.equal([
        '01A0000000000000000000000C',
        '01B0000000000000000000000B',
      ])
      expect(await list({ audience: 'aud2' })).to.deep.equal(['01B0000000000000000000000B'])
      // since inclusive, until exclusive
      expect(await list({ sinceMs: T0 + 20, untilMs: T0 + 40 })).to.deep.equal([
        '01A0000000000000000000000B',
        '01A0000000000000000000000C',
        '01B0000000000000000000000A',
      ])
    })

    it('answers the per-token questions: byTokenId, issuedToken, liveTokensOf, count', async () => {
      await fx.storage.leases.acquire('a', 'o', 60_000)
      await append(fx.storage, 'a', [
        { ts: T0 + 1, kind: 'issue', subject: 's1', token_id: 'tok-a', expires_at: 2000, issuer: 'kb' },
        { ts: T0 + 2, kind: 'delegate', subject: 's1', token_id: 'tok-b', expires_at: 1000 },
        { ts: T0 + 3, kind: 'issue', decision: 'deny', subject: 's1', token_id: 'tok-c', expires_at: 3000 },
        { ts: T0 + 4, kind: 'proxy', subject: 's1', token_id: 'tok-a' },
        { ts: T0 + 5, kind: 'revoke', subject: 's1', token_id: 'tok-a' },
      ])
      expect((await fx.storage.reader.byTokenId('tok-a')).map((r) => r.kind)).to.deep.equal([
        'issue',
        'proxy',
        'revoke',
      ])
      expect(await fx.storage.reader.issuedToken('tok-a')).to.deep.equal({
        tokenId: 'tok-a',
        subject: 's1',
        issuer: 'kb',
        expiresAt: 2000,
      })
      expect(await fx.storage.reader.issuedToken('tok-c')).to.equal(undefined)
      expect(await fx.storage.reader.issuedToken('nope')).to.equal(undefined)
      const live = (now: number) =>
        fx.storage.reader.liveTokensOf('s1', now).then((t) => t.map((x) => x.tokenId))
      expect(await live(500)).to.deep.equal(['tok-a', 'tok-b'])
      expect(await live(1000)).to.deep.equal(['tok-a', 'tok-b'])
      expect(await live(1001)).to.deep.equal(['tok-a'])
      expect(await fx.storage.reader.count()).to.equal(5)
    })
  })

  describe('scanning', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    /** Scan to the end in pages of `limit`, appending between pages; every row must come once, in chain order. */
    it('scan cursors never skip or repeat a row across chains, with appends between pages', async () => {
      const s = fx.storage
      for (const n of ['c1', 'c2', 'c3']) await s.leases.acquire(n, 'o', 60_000)
      const written: ExchangeRow[] = []
      // c3's clock steps back: a merge by raw ts would take seq 2 before seq 1
      written.push(...(await append(s, 'c3', [{ ts: T0 + 50 }, { ts: T0 + 5 }, { ts: T0 + 60 }])))
      let cursor: ChainCursor = {}
      const seen: ExchangeRow[] = []
      for (let round = 0; round < 40; round++) {
        if (round < 6) {
          const node = ['c1', 'c2', 'c3'][round % 3]!
          written.push(...(await append(s, node, [{ ts: T0 + 100 + round }, { ts: T0 + 100 + round }])))
        }
        const page = await s.reader.scan({}, cursor, 3)
        expect(page.rows.length).to.be.at.most(3)
        seen.push(...page.rows)
        cursor = page.cursor
        if (page.rows.length === 0 && round >= 6) break
      }
      expect(ids(seen).sort()).to.deep.equal(ids(written).sort())
      expect(new Set(ids(seen)).size).to.equal(seen.length)
      for (const n of ['c1', 'c2', 'c3']) {
        const seqs = seen.filter((r) => r.node_id === n).map((r) => r.seq)
        expect(seqs).to.deep.equal(seqs.map((_, i) => i + 1))
      }
      const heads = await s.reader.heads()
      for (const h of heads) expect(cursor[h.nodeId]).to.equal(h.seq)
    })

    it('a filtered scan returns matching rows only and moves past non-matching ones to the heads', async () => {
      await seed(fx.storage)
      const page = await fx.storage.reader.scan({ runId: 'r1' }, {}, 10)
      expect(ids(page.rows).sort()).to.deep.equal([
        '01A0000000000000000000000C',
        '01B0000000000000000000000B',
      ])
      expect(page.cursor).to.deep.equal({ a: 3, b: 2 })
      const none = await fx.storage.reader.scan({ kind: 'admin' }, {}, 10)
      expect(none.rows).to.deep.equal([])
      expect(none.cursor).to.deep.equal({ a: 3, b: 2 })
      const again = await fx.storage.reader.scan({}, none.cursor, 10)
      expect(again.rows).to.deep.equal([])
    })

    it('cursorAt gives every head, or the position just before a time on each chain', async () => {
      await seed(fx.storage)
      expect(await fx.storage.reader.cursorAt(undefined)).to.deep.equal({ a: 3, b: 2 })
      const at = await fx.storage.reader.cursorAt(T0 + 20)
      expect(at).to.deep.equal({ a: 1, b: 0 })
      const from = await fx.storage.reader.scan({}, at, 100)
      expect(ids(from.rows).sort()).to.deep.equal([
        '01A0000000000000000000000B',
        '01A0000000000000000000000C',
        '01B0000000000000000000000A',
        '01B0000000000000000000000B',
      ])
      expect(await fx.storage.reader.cursorAt(T0 + 1000)).to.deep.equal({ a: 3, b: 2 })
    })
  })

  describe('stats', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('counts per bucket by decision with nearest-rank latency percentiles, and top lists', async () => {
      await fx.storage.leases.acquire('s', 'o', 60_000)
      const H = 3_600_000
      const base = Math.floor(T0 / H) * H
      const specs: Array<Partial<ExchangeRow>> = []
      // bucket 1: 100 allow rows with latency 1..100 µs, two subjects
      for (let i = 1; i <= 100; i++)
        specs.push({ ts: base + i, latency_us: i, subject: i % 4 === 0 ? 'spiffe://t/b' : 'spiffe://t/a' })
      // bucket 2 (one hour later): denials, an error, a pending, rows without latency or subject
      specs.push(
        { ts: base + H + 1, decision: 'deny', reason: 'ERR_SCOPE_NOT_GRANTED', latency_us: 7, audience: 'x' },
        {
          ts: base + H + 2,
          decision: 'deny',
          reason: 'scope x is not granted to spiffe://t/c',
          detail: '{"code":"ERR_SCOPE_NOT_GRANTED"}',
          latency_us: null,
        },
        { ts: base + H + 3, decision: 'deny', reason: 'ERR_NOT_ADMIN', kind: 'admin', audience: null },
        { ts: base + H + 4, decision: 'error', reason: 'ERR_UPSTREAM', kind: 'fetch', subject: null },
        { ts: base + H + 5, decision: 'pending', kind: 'issue', latency_us: 9 },
      )
      await append(fx.storage, 's', specs)
      const stats = await fx.storage.reader.stats({}, { bucketMs: H, top: 2, maxBuckets: 10 })
      expect(stats.total).to.equal(105)
      expect(stats.bucketsTruncated).to.equal(false)
      expect(stats.buckets).to.deep.equal([
        { startMs: base, allow: 100, deny: 0, error: 0, pending: 0, p50Us: 50, p99Us: 99 },
        { startMs: base + H, allow: 0, deny: 3, error: 1, pending: 1, p50Us: 9, p99Us: 120 },
      ])
      expect(stats.topSubjects).to.deep.equal([
        { key: 'spiffe://t/a', count: 75 },
        { key: 'spiffe://t/b', count: 25 },
      ])
      expect(stats.topAudiences).to.deep.equal([
        { key: 'payments-api', count: 103 },
        { key: 'x', count: 1 },
      ])
      // grouped by the refusal's code (detail.code), falling back to the reason text
      expect(stats.denialsByReason).to.deep.equal([
        { key: 'ERR_SCOPE_NOT_GRANTED', count: 2 },
        { key: 'ERR_NOT_ADMIN', count: 1 },
      ])
      expect(stats.byKind).to.deep.equal([
        { key: 'issue', count: 103 },
        { key: 'admin', count: 1 },
        { key: 'fetch', count: 1 },
      ])
      // filtered (a subject prefix, a window), and a bucket cap that says it cut
      const denied = await fx.storage.reader.stats(
        { decision: 'deny', sinceMs: base + H },
        { bucketMs: 60_000, top: 10, maxBuckets: 10 },
      )
      expect(denied.total).to.equal(3)
      expect(denied.buckets).to.deep.equal([
        { startMs: base + H, allow: 0, deny: 3, error: 0, pending: 0, p50Us: 7, p99Us: 120 },
      ])
      const cut = await fx.storage.reader.stats(
        { subjectPrefix: 'spiffe://t/' },
        { bucketMs: 1, top: 1, maxBuckets: 3 },
      )
      expect(cut.total).to.equal(100)
      expect(cut.buckets.map((b) => b.startMs)).to.deep.equal([base + 1, base + 2, base + 3])
      expect(cut.bucketsTruncated).to.equal(true)
      const empty = await fx.storage.reader.stats({ runId: 'none' }, { bucketMs: H, top: 5, maxBuckets: 10 })
      expect(empty).to.deep.equal({
        total: 0,
        buckets: [],
        bucketsTruncated: false,
        topSubjects: [],
        topAudiences: [],
        denialsByReason: [],
        byKind: [],
      })
    })
  })
}
