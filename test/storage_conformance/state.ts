import { expect } from 'chai'
import { GENESIS_HASH } from '../../src/audit/canonical.js'
import type { RevocationRow, SealedKeyRow } from '../../src/storage/ports.js'
import { append, Fixture, type HarnessFactory, rejectsWith, sleep } from './harness.js'

function key(kid: string, activatesAt: number): SealedKeyRow {
  return {
    kid,
    alg: 'ES256',
    public_jwk: JSON.stringify({ kty: 'EC', crv: 'P-256', kid, x: 'x', y: 'y' }),
    sealed_private_key: Buffer.from([0x00, 0xff, 0x10, 0x80, ...Buffer.from(kid)]),
    created_at: activatesAt - 1000,
    activates_at: activatesAt,
    retired_at: null,
  }
}

function revocation(jti: string, notAfter: number): Omit<RevocationRow, 'seq'> {
  return { jti, subject: 's', issuer: 'kb', kid: null, reason: 'test', not_after: notAfter, revoked_at: 1000 }
}

/** Leases, signing keys, revocations, log metadata. */
export function stateConformance(factory: HarnessFactory): void {
  describe('leases', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('a live lease refuses another owner; its owner renews; it can be released and taken', async () => {
      const a = fx.storage
      const b = await fx.open()
      await a.leases.acquire('n1', 'owner-a', 60_000)
      await a.leases.acquire('n1', 'owner-a', 60_000) // re-taking your own lease is fine
      const held = await rejectsWith(b.leases.acquire('n1', 'owner-b', 60_000), 'LEASE_HELD')
      expect(held.message).to.contain('n1')
      await a.leases.renew('n1', 'owner-a', 60_000)
      await rejectsWith(b.leases.renew('n1', 'owner-b', 60_000), 'LEASE_LOST')
      await a.leases.release('n1', 'owner-a')
      await b.leases.acquire('n1', 'owner-b', 60_000)
      await rejectsWith(a.leases.renew('n1', 'owner-a', 60_000), 'LEASE_LOST')
    })

    it('an expired lease can be taken by another owner, and the old owner has lost it', async () => {
      const a = fx.storage
      const b = await fx.open()
      await a.leases.acquire('n1', 'owner-a', 1)
      await sleep(50)
      await b.leases.acquire('n1', 'owner-b', 60_000)
      await rejectsWith(a.leases.renew('n1', 'owner-a', 60_000), 'LEASE_LOST')
      await rejectsWith(a.leases.acquire('n1', 'owner-a', 60_000), 'LEASE_HELD')
    })

    it('acquire creates the head at genesis once, and never resets a chain that has rows', async () => {
      await fx.storage.leases.acquire('n1', 'owner-a', 60_000)
      expect(await fx.storage.reader.heads()).to.deep.include({ nodeId: 'n1', seq: 0, hash: GENESIS_HASH })
      const rows = await append(fx.storage, 'n1', [{}, {}])
      await fx.storage.leases.release('n1', 'owner-a')
      await fx.storage.leases.acquire('n1', 'owner-b', 60_000)
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 2, hash: rows[1]!.hash })
    })
  })

  describe('signing keys', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('insert, list by activation, retire, delete; the sealed bytes come back exactly', async () => {
      const later = key('kid-later', 5000)
      const earlier = key('kid-earlier', 2000)
      await fx.storage.keys.insert(later)
      await fx.storage.keys.insert(earlier)
      expect(await fx.storage.keys.list()).to.deep.equal([earlier, later])
      expect(await fx.storage.keys.markRetired('kid-earlier', 7777)).to.equal(true)
      expect(await fx.storage.keys.markRetired('kid-unknown', 7777)).to.equal(false)
      const listed = await fx.storage.keys.list()
      expect(listed[0]!.retired_at).to.equal(7777)
      expect(Buffer.isBuffer(listed[1]!.sealed_private_key)).to.equal(true)
      await fx.storage.keys.delete('kid-earlier')
      expect((await fx.storage.keys.list()).map((k) => k.kid)).to.deep.equal(['kid-later'])
    })

    it('withRotationLock serializes concurrent callers across handles, and frees the lock when fn throws', async () => {
      const other = await fx.open()
      const events: string[] = []
      const rotate = (who: string) => async () => {
        events.push(`${who}:in`)
        await sleep(100)
        events.push(`${who}:out`)
        return who
      }
      const results = await Promise.all([
        fx.storage.keys.withRotationLock(rotate('a')),
        other.keys.withRotationLock(rotate('b')),
        fx.storage.keys.withRotationLock(rotate('c')),
      ])
      expect(results).to.deep.equal(['a', 'b', 'c'])
      for (let i = 0; i < events.length; i += 2) {
        const who = events[i]!.split(':')[0]
        expect(events[i + 1], events.join(' ')).to.equal(`${who}:out`)
      }
      let thrown: unknown
      await fx.storage.keys
        .withRotationLock(async () => {
          throw new Error('rotation failed')
        })
        .catch((err) => {
          thrown = err
        })
      expect((thrown as Error).message).to.equal('rotation failed')
      expect(await other.keys.withRotationLock(async () => 'free again')).to.equal('free again')
    })
  })

  describe('revocations', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('add ignores jtis already present (and repeated in one batch), returning only rows added, in seq order', async () => {
      const first = await fx.storage.revocations.add([revocation('j1', 100), revocation('j2', 200)])
      expect(first.map((r) => r.jti)).to.deep.equal(['j1', 'j2'])
      expect(first[1]!.seq).to.be.greaterThan(first[0]!.seq)
      expect(first[0]).to.deep.include(revocation('j1', 100))
      const second = await fx.storage.revocations.add([
        revocation('j2', 999),
        revocation('j3', 300),
        revocation('j3', 301),
      ])
      expect(second.map((r) => r.jti)).to.deep.equal(['j3'])
      expect(second[0]!.seq).to.be.greaterThan(first[1]!.seq)
      expect(await fx.storage.revocations.add([revocation('j1', 1)])).to.deep.equal([])
    })

    it('since(afterSeq, now) is ascending, skips expired rows; pruneExpired forgets them', async () => {
      const added = await fx.storage.revocations.add([
        revocation('j1', 100),
        revocation('j2', 200),
        revocation('j3', 300),
      ])
      const all = await fx.storage.revocations.since(0, 0)
      expect(all).to.deep.equal(added)
      expect((await fx.storage.revocations.since(added[0]!.seq, 0)).map((r) => r.jti)).to.deep.equal([
        'j2',
        'j3',
      ])
      expect((await fx.storage.revocations.since(0, 200)).map((r) => r.jti)).to.deep.equal(['j2', 'j3'])
      expect(await fx.storage.revocations.pruneExpired(200)).to.equal(1)
      expect((await fx.storage.revocations.since(0, 0)).map((r) => r.jti)).to.deep.equal(['j2', 'j3'])
      expect(await fx.storage.revocations.pruneExpired(200)).to.equal(0)
    })
  })

  describe('log metadata', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('init writes once: a second init (another process) gets the first meta back', async () => {
      expect(await fx.storage.meta.get()).to.equal(undefined)
      const first = { log_id: 'log-1', issuer: 'https://kb.example', created_at: 1234 }
      const other = await fx.open()
      const [x, y] = await Promise.all([
        fx.storage.meta.init(first),
        other.meta.init({ log_id: 'log-2', issuer: 'https://kb.example', created_at: 5678 }),
      ])
      expect(x).to.deep.equal(y)
      const winner = x
      expect(await fx.storage.meta.init({ ...first, log_id: 'log-3' })).to.deep.equal(winner)
      expect(await other.meta.get()).to.deep.equal(winner)
    })
  })
}
