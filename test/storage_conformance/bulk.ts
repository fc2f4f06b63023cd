import { expect } from 'chai'
import { GENESIS_HASH } from '../../src/audit/canonical.js'
import type { SealedKeyRow } from '../../src/storage/ports.js'
import { chainRows, Fixture, type HarnessFactory, rejectsWith } from './harness.js'

function sealedKey(kid: string): SealedKeyRow {
  return {
    kid,
    alg: 'ES256',
    public_jwk: JSON.stringify({ kty: 'EC', kid }),
    sealed_private_key: Buffer.from([0x00, 0xff, 0x7f, ...Buffer.from(kid)]),
    created_at: 1000,
    activates_at: 2000,
    retired_at: 3000,
  }
}

/** BulkImport: what `storage copy` and `restore` write. */
export function bulkConformance(factory: HarnessFactory): void {
  describe('bulk import', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('creates a chain at its retention checkpoint and appends rows verbatim, batch by batch', async () => {
      const checkpoint = { seq: 40, hash: 'c'.repeat(64) }
      await fx.storage.bulk.createChain('copied', checkpoint, { ...checkpoint, prunedAt: 123 })
      const rows = chainRows('copied', checkpoint, [
        { kind: 'issue' },
        { kind: 'revoke', detail: '{"a":1}' },
        {},
      ])
      await fx.storage.bulk.appendRows('copied', checkpoint, rows.slice(0, 2))
      await fx.storage.bulk.appendRows('copied', rows[1]!, rows.slice(2))
      expect(await fx.storage.reader.chainRows('copied', 0, 10)).to.deep.equal(rows)
      expect(await fx.storage.reader.heads()).to.deep.equal([
        { nodeId: 'copied', seq: 43, hash: rows[2]!.hash },
      ])
      expect(await fx.storage.reader.retentionCheckpoints()).to.deep.equal([
        { nodeId: 'copied', ...checkpoint },
      ])
    })

    it('refuses to create a chain that exists (DUPLICATE_ID) and a batch that does not continue the head (HEAD_MOVED)', async () => {
      const genesis = { seq: 0, hash: GENESIS_HASH }
      await fx.storage.bulk.createChain('n1', genesis)
      await rejectsWith(fx.storage.bulk.createChain('n1', genesis), 'DUPLICATE_ID')
      const rows = chainRows('n1', genesis, [{}, {}])
      await fx.storage.bulk.appendRows('n1', genesis, rows)
      await rejectsWith(
        fx.storage.bulk.appendRows('n1', genesis, chainRows('n1', genesis, [{}])),
        'HEAD_MOVED',
      )
      expect(await fx.storage.reader.count()).to.equal(2)
    })

    it('inserts sealed keys byte for byte, leaving a kid already present alone; sets log metadata', async () => {
      expect(await fx.storage.bulk.insertKeys([sealedKey('k1'), sealedKey('k2')])).to.have.members([
        'k1',
        'k2',
      ])
      expect(
        await fx.storage.bulk.insertKeys([{ ...sealedKey('k1'), alg: 'RS256' }, sealedKey('k3')]),
      ).to.deep.equal(['k3'])
      const keys = await fx.storage.keys.list()
      expect(keys.map((k) => k.kid)).to.deep.equal(['k1', 'k2', 'k3'])
      expect(keys[0]).to.deep.equal(sealedKey('k1'))
      await fx.storage.meta.init({ log_id: 'L1', issuer: 'https://kb', created_at: 1 })
      await fx.storage.bulk.setMeta({ log_id: 'L2', issuer: 'https://kb', created_at: 2 })
      expect(await fx.storage.meta.get()).to.deep.equal({ log_id: 'L2', issuer: 'https://kb', created_at: 2 })
    })
  })
}
