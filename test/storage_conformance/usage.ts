import { expect } from 'chai'
import type { Storage } from '../../src/storage/ports.js'
import { append, Fixture, type HarnessFactory } from './harness.js'

const T0 = 1_700_000_000_000
const NOW_SEC = Math.floor(T0 / 1000) + 3600
const AGENT = 'spiffe://t/agent'
const BILLING = 'spiffe://t/billing'

/** Known traffic: two subjects, two grants, refusals, a secret fetch, live/expired/revoked tokens. */
async function seed(storage: Storage): Promise<void> {
  await storage.leases.acquire('a', 'o', 60_000)
  await storage.leases.acquire('b', 'o', 60_000)
  const live = NOW_SEC + 600
  await append(storage, 'a', [
    // before the window: counts for last use and live tokens, not for the window's counts
    { ts: T0 - 10_000, subject: AGENT, grant_name: 'agents', token_id: 'old-live', expires_at: live },
    {
      ts: T0 + 1,
      subject: AGENT,
      grant_name: 'agents',
      peer: '127.0.0.1:5001',
      token_id: 't1',
      expires_at: live,
    },
    {
      ts: T0 + 2,
      subject: AGENT,
      grant_name: 'agents',
      peer: '127.0.0.1:5002',
      token_id: 't2',
      expires_at: NOW_SEC - 1,
    },
    { ts: T0 + 3, subject: AGENT, decision: 'deny', peer: '127.0.0.2:5003' },
    { ts: T0 + 4, subject: AGENT, decision: 'deny', peer: '127.0.0.2:5004' },
    { ts: T0 + 5, subject: AGENT, kind: 'admin', peer: '127.0.0.9:1' },
  ])
  await append(storage, 'b', [
    {
      ts: T0 + 6,
      subject: AGENT,
      grant_name: 'agents',
      peer: '[::1]:5005',
      token_id: 't3',
      expires_at: live,
    },
    {
      ts: T0 + 7,
      subject: BILLING,
      grant_name: 'billing',
      kind: 'fetch',
      secret_name: 'db-password',
      token_id: null,
      peer: '10.0.0.1:1',
    },
    {
      ts: T0 + 8,
      subject: BILLING,
      grant_name: 'billing',
      kind: 'proxy',
      secret_name: 'stripe',
      route: 'stripe',
      peer: '10.0.0.1:2',
    },
    {
      ts: T0 + 9,
      subject: BILLING,
      grant_name: 'billing',
      kind: 'fetch',
      secret_name: 'unused-secret',
      decision: 'deny',
    },
  ])
  await storage.revocations.add([
    {
      jti: 't3',
      subject: AGENT,
      issuer: null,
      kid: null,
      reason: 'test',
      not_after: live,
      revoked_at: T0 + 10,
    },
  ])
}

/** Usage aggregates: per (grant, subject) and last use per grant and secret. */
export function usageConformance(factory: HarnessFactory): void {
  describe('usage reports', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('counts allowed and denied exchanges per grant and subject since a time, peers without ports, live tokens', async () => {
      await seed(fx.storage)
      const rows = await fx.storage.reports.bySubject(T0, NOW_SEC)
      expect(rows).to.deep.equal([
        {
          grant_name: '',
          subject: AGENT,
          allowed: 0,
          denied: 2,
          last_used: T0 + 4,
          distinct_peers: 1,
          live_tokens: 0,
        },
        // t1 live, t2 expired, t3 revoked, old-live minted before the window but still live
        {
          grant_name: 'agents',
          subject: AGENT,
          allowed: 3,
          denied: 0,
          last_used: T0 + 6,
          distinct_peers: 2,
          live_tokens: 2,
        },
        {
          grant_name: 'billing',
          subject: BILLING,
          allowed: 2,
          denied: 1,
          last_used: T0 + 9,
          distinct_peers: 2,
          live_tokens: 0,
        },
      ])
    })

    it('a subject with live tokens but no exchange in the window still appears, with zero counts', async () => {
      await seed(fx.storage)
      const rows = await fx.storage.reports.bySubject(T0 + 100, NOW_SEC)
      expect(rows).to.deep.equal([
        {
          grant_name: 'agents',
          subject: AGENT,
          allowed: 0,
          denied: 0,
          last_used: null,
          distinct_peers: 0,
          live_tokens: 2,
        },
      ])
    })

    it('last allowed use per grant and per secret (refusals do not count)', async () => {
      await seed(fx.storage)
      const last = await fx.storage.reports.lastAllowed()
      expect(last.grants).to.deep.equal({ agents: T0 + 6, billing: T0 + 8 })
      expect(last.secrets).to.deep.equal({ 'db-password': T0 + 7, stripe: T0 + 8 })
    })

    it('an empty log: no rows, nothing used', async () => {
      expect(await fx.storage.reports.bySubject(0, NOW_SEC)).to.deep.equal([])
      expect(await fx.storage.reports.lastAllowed()).to.deep.equal({ grants: {}, secrets: {} })
    })
  })
}
