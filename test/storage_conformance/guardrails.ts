import { expect } from 'chai'
import { append, chainRows, Fixture, type HarnessFactory, rejectsWith } from './harness.js'

/** Migration 3: usage budgets spent atomically with an audit row, and subject blocks. */
export function guardrailsConformance(factory: HarnessFactory): void {
  describe('usage budgets', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    async function issueWithBudget(tokenId: string, remaining: number): Promise<void> {
      const head = await fx.storage.chains.readHead('n1')
      const rows = chainRows('n1', head, [{ token_id: tokenId }])
      await fx.storage.chains.commit('n1', head, rows, 5000, {
        budgets: [{ tokenId, remaining, expiresAt: 2_000_000_000 }],
      })
    }

    async function spend(tokenIds: string[]) {
      const head = await fx.storage.chains.readHead('n1')
      const rows = chainRows('n1', head, [{ kind: 'proxy', token_id: tokenIds[tokenIds.length - 1]! }])
      const result = await fx.storage.chains.commit('n1', head, rows, 5000, { spend: { tokenIds } })
      return { result, rows }
    }

    beforeEach(() => fx.storage.leases.acquire('n1', 'owner-a', 60_000))

    it('a budget row is created with its issue row; a spend decrements it with its own row and reports what is left', async () => {
      await issueWithBudget('tok-a', 2)
      expect(await fx.storage.usage.remaining(['tok-a', 'no-budget'])).to.deep.equal(new Map([['tok-a', 2]]))
      const { result, rows } = await spend(['tok-a'])
      expect(result.remaining).to.equal(1)
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal({ seq: 2, hash: rows[0]!.hash })
      expect((await spend(['tok-a'])).result.remaining).to.equal(0)
      expect(await fx.storage.reader.count()).to.equal(3)
    })

    it('BUDGET_EXHAUSTED writes nothing: neither the row, nor the head, nor any other listed counter', async () => {
      await issueWithBudget('parent', 5)
      await issueWithBudget('child', 1)
      await spend(['parent', 'child'])
      const before = await fx.storage.chains.readHead('n1')
      await rejectsWith(
        spend(['parent', 'child']).then((r) => r.result),
        'BUDGET_EXHAUSTED',
      )
      expect(await fx.storage.chains.readHead('n1')).to.deep.equal(before)
      expect(await fx.storage.reader.count()).to.equal(3)
      // the parent was not charged for the refused use
      expect(await fx.storage.usage.remaining(['parent', 'child'])).to.deep.equal(
        new Map([
          ['parent', 4],
          ['child', 0],
        ]),
      )
    })

    it('a spend on a token without a budget row is refused (fail closed), and effects need a one-row batch', async () => {
      await rejectsWith(
        spend(['never-issued']).then((r) => r.result),
        'BUDGET_EXHAUSTED',
      )
      const head = await fx.storage.chains.readHead('n1')
      const two = chainRows('n1', head, [{}, {}])
      await rejectsWith(
        fx.storage.chains.commit('n1', head, two, 5000, { spend: { tokenIds: ['x'] } }),
        'INVALID',
      )
      expect(await fx.storage.reader.count()).to.equal(0)
    })

    it('two processes racing on a 3-use budget: exactly 3 spends commit, across handles', async () => {
      await issueWithBudget('shared', 3)
      const other = await fx.open()
      // each handle is its own writer (its own chain), as two replicas would be
      await other.leases.acquire('n2', 'owner-b', 60_000)
      const attempt = async (storage: typeof other, node: string) => {
        for (let i = 0; i < 3; i++) {
          const head = await storage.chains.readHead(node)
          const rows = chainRows(node, head, [{ kind: 'proxy', token_id: 'shared' }])
          try {
            await storage.chains.commit(node, head, rows, 5000, { spend: { tokenIds: ['shared'] } })
            return 'spent'
          } catch (err) {
            if ((err as { code?: string }).code === 'HEAD_MOVED') continue
            return (err as { code?: string }).code
          }
        }
        return 'head kept moving'
      }
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => attempt(i % 2 ? other : fx.storage, i % 2 ? 'n2' : 'n1')),
      )
      expect(outcomes.filter((o) => o === 'spent')).to.have.length(3)
      expect(
        outcomes
          .filter((o) => o !== 'spent')
          .every((o) => o === 'BUDGET_EXHAUSTED' || o === 'head kept moving'),
      ).to.be.true
      expect((await fx.storage.usage.remaining(['shared'])).get('shared')).to.equal(0)
      const proxyRows = (await fx.storage.reader.byTokenId('shared')).filter((r) => r.kind === 'proxy')
      expect(proxyRows).to.have.length(3)
    })

    it('pruneExpired forgets counters of expired tokens only', async () => {
      const head = await fx.storage.chains.readHead('n1')
      await fx.storage.chains.commit('n1', head, chainRows('n1', head, [{}]), 5000, {
        budgets: [
          { tokenId: 'old', remaining: 1, expiresAt: 100 },
          { tokenId: 'live', remaining: 1, expiresAt: 2_000_000_000 },
        ],
      })
      expect(await fx.storage.usage.pruneExpired(1000)).to.equal(1)
      expect([...(await fx.storage.usage.remaining(['old', 'live'])).keys()]).to.deep.equal(['live'])
      await append(fx.storage, 'n1', [{}])
    })
  })

  describe('subject blocks', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('block, re-block, list, unblock', async () => {
      const row = {
        subject: 'spiffe://t/agent',
        reason: 'runaway',
        blocked_by: 'admin',
        blocked_at: 1_700_000_000_000,
      }
      expect(await fx.storage.blocks.add(row)).to.equal(true)
      expect(await fx.storage.blocks.add({ ...row, reason: 'still runaway' })).to.equal(false)
      expect(await (await fx.open()).blocks.list()).to.deep.equal([{ ...row, reason: 'still runaway' }])
      expect(await fx.storage.blocks.remove('spiffe://t/agent')).to.equal(true)
      expect(await fx.storage.blocks.remove('spiffe://t/agent')).to.equal(false)
      expect(await fx.storage.blocks.list()).to.deep.equal([])
    })
  })
}
