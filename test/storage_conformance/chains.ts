import { expect } from 'chai'
import { GENESIS_HASH, rowHash } from '../../src/audit/canonical.js'
import { BINARY_VERSION, MIGRATIONS } from '../../src/storage/migrations.js'
import { append, chainRows, Fixture, type HarnessFactory, rejectsWith } from './harness.js'

/** Schema, migrations, the append side (chains) and retention. */
export function chainConformance(factory: HarnessFactory): void {
  describe('migrations', () => {
    const fx = new Fixture(factory)
    fx.hooks(false)

    it('migrates an empty database once: schema() reports the newest version, a second run applies nothing', async () => {
      const latest = MIGRATIONS[MIGRATIONS.length - 1]!
      expect((await fx.storage.schema()).version).to.equal(0)
      const applied = await fx.storage.migrate(BINARY_VERSION)
      expect(applied).to.deep.equal(MIGRATIONS.map((m) => m.version))
      expect(await fx.storage.schema()).to.deep.equal({
        version: latest.version,
        minBinary: latest.minBinary,
      })
      expect(await fx.storage.migrate(BINARY_VERSION)).to.deep.equal([])
      const other = await fx.open()
      expect(await other.migrate(BINARY_VERSION)).to.deep.equal([])
      expect((await other.schema()).version).to.equal(latest.version)
    })
  })

  describe('chains', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('a new chain reads as genesis; a commit moves its head to the last row', async () => {
      await fx.storage.leases.acquire('n1', 'owner-a', 60_000)
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 0, hash: GENESIS_HASH })
      expect(await fx.storage.chains.readHead('never-seen')).to.deep.equal({ seq: 0, hash: GENESIS_HASH })
      const rows = await append(fx.storage, 'n1', [{}, {}, {}])
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 3, hash: rows[2]!.hash })
      const more = await append(fx.storage, 'n1', [{ kind: 'fetch', secret_name: 'db' }])
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 4, hash: more[0]!.hash })
      expect(await fx.storage.reader.count()).to.equal(4)
    })

    it('rows come back exactly as written, and each read row hashes to its stored hash', async () => {
      await fx.storage.leases.acquire('n1', 'owner-a', 60_000)
      const head = await fx.storage.chains.readHead('n1')
      const written = chainRows('n1', head, [
        {
          kind: 'proxy',
          subject: 'spiffe://prod/ns/agents/sa/émile "quoted" \\ back',
          detail: '{"z":1, "a":"\\u00e9\\n","nested":{"k":[1,2.5,true,null]}}',
          run_id: 'run-1',
          tool_call_id: 'call-7',
          approval_id: 'appr-3',
          trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
          grant_name: 'agents',
          token_id: 'tok-1',
          expires_at: 1_700_000_900,
          route: 'GET /v1/charges/*',
          ttl: null,
          latency_us: 0,
          cert_thumbprint: 'x'.repeat(64),
        },
        { kind: 'auth_failure', decision: 'deny', reason: 'certificate expired', subject: null, detail: '' },
        { form: 1, node_id: 'n1', ts: 1_800_000_000_123, issuer: 'https://idp.example', scopes: null },
      ])
      await fx.storage.chains.commit('n1', head, written, 5000)
      const read = await fx.storage.reader.chainRows('n1', 0, 10)
      expect(read).to.deep.equal(written)
      for (const row of read) expect(rowHash(row.prev_hash, row)).to.equal(row.hash)
      expect(typeof read[0]!.seq).to.equal('number')
      expect(typeof read[0]!.ts).to.equal('number')
      expect(await fx.storage.reader.byId(written[0]!.id)).to.deep.equal(written[0])
    })

    it('HEAD_MOVED when the head is not the expected one: nothing is written', async () => {
      await fx.storage.leases.acquire('n1', 'owner-a', 60_000)
      const head = await fx.storage.chains.readHead('n1')
      const first = chainRows('n1', head, [{}, {}])
      const rival = chainRows('n1', head, [{ kind: 'revoke' }])
      await fx.storage.chains.commit('n1', head, first, 5000)
      const err = await rejectsWith(fx.storage.chains.commit('n1', head, rival, 5000), 'HEAD_MOVED')
      expect(err.outcomeUnknown).to.equal(false)
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 2, hash: first[1]!.hash })
      expect(await fx.storage.reader.byId(rival[0]!.id)).to.equal(undefined)
      expect(await fx.storage.reader.count()).to.equal(2)
    })

    it('DUPLICATE_ID when a row id exists, even on another chain: nothing is written', async () => {
      await fx.storage.leases.acquire('n1', 'owner-a', 60_000)
      await fx.storage.leases.acquire('n2', 'owner-b', 60_000)
      const [taken] = await append(fx.storage, 'n1', [{}])
      const head = await fx.storage.chains.readHead('n2')
      const rows = chainRows('n2', head, [{}, { id: taken!.id }])
      const err = await rejectsWith(fx.storage.chains.commit('n2', head, rows, 5000), 'DUPLICATE_ID')
      expect(err.outcomeUnknown).to.equal(false)
      expect(await fx.storage.chains.readHead('n2')).to.deep.equal(head)
      expect(await fx.storage.reader.byId(rows[0]!.id)).to.equal(undefined)
      expect(await fx.storage.reader.count()).to.equal(1)
    })

    it('two chains interleaved keep their own positions and heads', async () => {
      const a = fx.storage
      const b = await fx.open()
      await a.leases.acquire('node-a', 'pa', 60_000)
      await b.leases.acquire('node-b', 'pb', 60_000)
      const written: Record<string, string[]> = { 'node-a': [], 'node-b': [] }
      for (let i = 0; i < 4; i++) {
        const [ra, rb] = await Promise.all([append(a, 'node-a', [{}, {}]), append(b, 'node-b', [{}])])
        written['node-a']!.push(...ra.map((r) => r.id))
        written['node-b']!.push(...rb.map((r) => r.id))
      }
      const heads = await a.reader.heads()
      const byNode = Object.fromEntries(heads.map((h) => [h.nodeId, h.seq]))
      expect(byNode).to.include({ 'node-a': 8, 'node-b': 4 })
      for (const node of ['node-a', 'node-b']) {
        const rows = await b.reader.chainRows(node, 0, 100)
        expect(rows.map((r) => r.id)).to.deep.equal(written[node])
        expect(rows.map((r) => r.seq)).to.deep.equal(rows.map((_, i) => i + 1))
        for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).to.equal(rows[i - 1]!.hash)
        const head = heads.find((h) => h.nodeId === node)!
        expect(head.hash).to.equal(rows[rows.length - 1]!.hash)
      }
      expect((await a.reader.chainRows('node-a', 6, 1)).map((r) => r.seq)).to.deep.equal([7])
    })
  })

  describe('retention', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('prunePrefix deletes a chain prefix and moves its retention checkpoint, other chains untouched', async () => {
      await fx.storage.leases.acquire('n1', 'o', 60_000)
      await fx.storage.leases.acquire('n2', 'o', 60_000)
      const rows = await append(fx.storage, 'n1', [{}, {}, {}, {}, {}])
      await append(fx.storage, 'n2', [{}, {}])
      expect(await fx.storage.reader.retentionCheckpoints()).to.deep.equal([])
      expect(await fx.storage.pruner.prunePrefix('n1', { seq: 3, hash: rows[2]!.hash })).to.equal(3)
      expect(await fx.storage.reader.retentionCheckpoints()).to.deep.equal([
        { nodeId: 'n1', seq: 3, hash: rows[2]!.hash },
      ])
      expect((await fx.storage.reader.chainRows('n1', 0, 10)).map((r) => r.seq)).to.deep.equal([4, 5])
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 5, hash: rows[4]!.hash })
      expect(await fx.storage.reader.count()).to.equal(4)
      expect(await fx.storage.pruner.prunePrefix('n1', { seq: 4, hash: rows[3]!.hash })).to.equal(1)
      expect(await fx.storage.reader.retentionCheckpoints()).to.deep.equal([
        { nodeId: 'n1', seq: 4, hash: rows[3]!.hash },
      ])
      expect((await fx.storage.reader.chainRows('n2', 0, 10)).length).to.equal(2)
    })
  })
}
