import { expect } from 'chai'
import type { BrokerToken } from 'keybroker/client'
import { TokenCache } from '../src/client/token_cache.js'

/** A token cache on a hand-moved clock: expiry is tested without sleeping. */
describe('SDK token cache', () => {
  let nowMs: number
  let cache: TokenCache
  let fetches: number
  const errors: unknown[] = []

  function fetchToken(lifeSeconds: number): () => Promise<BrokerToken> {
    return async () => {
      fetches++
      return {
        token: `t${fetches}`,
        expiresAt: nowMs / 1000 + lifeSeconds,
        scopes: [],
        audience: 'a',
        tokenId: `id${fetches}`,
        exchangeId: 'x',
      }
    }
  }

  beforeEach(() => {
    nowMs = 1_800_000_000_000
    fetches = 0
    errors.length = 0
    cache = new TokenCache({ now: () => nowMs, onError: (e) => errors.push(e) })
  })
  afterEach(() => cache.close())

  it('never returns an expired token: an entry past its expiry is fetched again', async () => {
    const first = await cache.get('k', fetchToken(600))
    expect((await cache.get('k', fetchToken(600))).tokenId).to.equal(first.tokenId)
    nowMs += 601_000 // the refresh timer (real time) has not fired; the clock says it is expired
    const second = await cache.get('k', fetchToken(600))
    expect(second.tokenId).to.not.equal(first.tokenId)
    expect(second.expiresAt * 1000).to.be.above(nowMs)
    expect(fetches).to.equal(2)
  })

  it('treats a token inside its expiry margin as expired', async () => {
    await cache.get('k', fetchToken(100))
    nowMs += 95_000 // 5 s left of 100 s: under the 10% margin
    expect((await cache.get('k', fetchToken(100))).tokenId).to.equal('id2')
  })

  it('shares one fetch among concurrent callers and one failure among them too', async () => {
    let fail = true
    const good = fetchToken(60)
    const flaky = async (): Promise<BrokerToken> => {
      await new Promise((r) => setTimeout(r, 5))
      if (fail) {
        fetches++
        throw new Error('broker said no')
      }
      return good()
    }
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => cache.get('k', flaky)))
    expect(fetches).to.equal(1)
    expect(results.every((r) => r.status === 'rejected')).to.equal(true)
    fail = false
    await cache.get('k', flaky)
    expect(fetches).to.equal(2) // the failure is not cached: the next caller fetches again
  })
})
