import { expect } from 'chai'
import type { AlertOutboxRow, ApprovalRow } from '../../src/storage/ports.js'
import { Fixture, type HarnessFactory } from './harness.js'

const T0 = 1_700_000_000_000

function approval(id: string, spec: Partial<ApprovalRow> = {}): ApprovalRow {
  return {
    id,
    subject: 'spiffe://test/agent',
    issuer: 'spiffe://test',
    auth_method: 'mtls',
    request_key: 'k1',
    request: '{"audience":"a"}',
    kind: 'issue',
    grant_name: 'g',
    state: 'pending',
    approver: null,
    reason: null,
    cert_thumbprint: 'thumb',
    created_at: T0,
    expires_at: T0 + 60_000,
    decided_at: null,
    ...spec,
  }
}

function alert(id: string, spec: Partial<AlertOutboxRow> = {}): AlertOutboxRow {
  return {
    id,
    sink: 'soc',
    rule: 'denial_burst',
    subject: 's',
    body: `{"id":"${id}"}`,
    state: 'pending',
    attempts: 0,
    next_attempt_at: T0,
    last_error: null,
    created_at: T0,
    delivered_at: null,
    ...spec,
  }
}

/** Approvals (migration 4): open/dedupe/cap, compare-and-set decisions, expiry. */
export function approvalsConformance(factory: HarnessFactory): void {
  describe('approvals', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('an identical pending request gets the same approval; a different one a new id', async () => {
      const a = await fx.storage.approvals.openPending(approval('ap1'), 100, T0)
      expect(a).to.deep.include({ created: true })
      const again = await fx.storage.approvals.openPending(approval('ap2'), 100, T0 + 1)
      expect(again).to.deep.include({ created: false })
      expect((again as { row: ApprovalRow }).row.id).to.equal('ap1')
      const other = await fx.storage.approvals.openPending(
        approval('ap3', { request_key: 'k2' }),
        100,
        T0 + 1,
      )
      expect((other as { row: ApprovalRow }).row).to.include({
        id: 'ap3',
        state: 'pending',
        request_key: 'k2',
      })
      // another identity asking the same thing is its own approval
      const stranger = await fx.storage.approvals.openPending(approval('ap4', { subject: 'x' }), 100, T0)
      expect((stranger as { row: ApprovalRow }).row.id).to.equal('ap4')
    })

    it('caps pending approvals per requester; an expired one no longer counts', async () => {
      for (let i = 0; i < 3; i++)
        await fx.storage.approvals.openPending(approval(`c${i}`, { request_key: `k${i}` }), 3, T0)
      const capped = await fx.storage.approvals.openPending(approval('c9', { request_key: 'k9' }), 3, T0)
      expect(capped).to.deep.equal({ capped: true, pending: 3 })
      expect(await fx.storage.approvals.get('c9')).to.equal(undefined)
      const later = await fx.storage.approvals.openPending(
        approval('c10', { request_key: 'k10', created_at: T0 + 61_000, expires_at: T0 + 120_000 }),
        3,
        T0 + 61_000,
      )
      expect((later as { row: ApprovalRow }).row.id).to.equal('c10')
    })

    it('a decision is compare-and-set: the second one, or one after expiry, changes nothing', async () => {
      await fx.storage.approvals.openPending(approval('d1'), 100, T0)
      const approved = await fx.storage.approvals.transition('d1', ['pending'], 'approved', T0 + 5, {
        approver: 'spiffe://test/ops',
        reason: 'ok',
        unexpiredAt: T0 + 5,
      })
      expect(approved).to.include({
        state: 'approved',
        approver: 'spiffe://test/ops',
        reason: 'ok',
        decided_at: T0 + 5,
      })
      expect(await fx.storage.approvals.transition('d1', ['pending'], 'denied', T0 + 6)).to.equal(undefined)
      expect(await fx.storage.approvals.transition('d1', ['approved'], 'issued', T0 + 7)).to.include({
        state: 'issued',
        approver: 'spiffe://test/ops',
      })
      expect(await fx.storage.approvals.transition('d1', ['approved'], 'issued', T0 + 8)).to.equal(undefined)
      await fx.storage.approvals.openPending(approval('d2', { request_key: 'other' }), 100, T0)
      expect(
        await fx.storage.approvals.transition('d2', ['pending'], 'approved', T0 + 70_000, {
          unexpiredAt: T0 + 70_000,
        }),
      ).to.equal(undefined)
    })

    it('expireDue moves due pending approvals to expired, once', async () => {
      await fx.storage.approvals.openPending(approval('e1'), 100, T0)
      await fx.storage.approvals.openPending(
        approval('e2', { request_key: 'k2', expires_at: T0 + 999_000 }),
        100,
        T0,
      )
      expect(await fx.storage.approvals.expireDue(T0 + 30_000)).to.deep.equal([])
      const expired = await fx.storage.approvals.expireDue(T0 + 60_000)
      expect(expired.map((r) => [r.id, r.state])).to.deep.equal([['e1', 'expired']])
      expect(await fx.storage.approvals.expireDue(T0 + 60_000)).to.deep.equal([])
      const listed = await fx.storage.approvals.list({ state: 'pending', limit: 10 })
      expect(listed.map((r) => r.id)).to.deep.equal(['e2'])
    })
  })

  describe('alert outbox', () => {
    const fx = new Fixture(factory)
    fx.hooks()

    it('enqueues with the evaluator state atomically; duplicates are ignored', async () => {
      await fx.storage.alerts.enqueue([alert('a1'), alert('a1')], { name: 'cursor', value: '{"n":1}' })
      expect(await fx.storage.alerts.readState('cursor')).to.equal('{"n":1}')
      await fx.storage.alerts.enqueue([], { name: 'cursor', value: '{"n":2}' })
      expect(await fx.storage.alerts.readState('cursor')).to.equal('{"n":2}')
      expect((await fx.storage.alerts.list({ limit: 10 })).map((r) => r.id)).to.deep.equal(['a1'])
    })

    it('claim hands a due row to one claimant until its lease passes; delivered rows are done', async () => {
      const other = await fx.open()
      await fx.storage.alerts.enqueue([alert('b1'), alert('b2', { next_attempt_at: T0 + 10_000 })])
      const [mine, theirs] = await Promise.all([
        fx.storage.alerts.claim(T0, 10, 30_000),
        other.alerts.claim(T0, 10, 30_000),
      ])
      expect([...mine, ...theirs].map((r) => r.id)).to.deep.equal(['b1'])
      expect(await fx.storage.alerts.claim(T0 + 1000, 10, 30_000)).to.deep.equal([])
      await fx.storage.alerts.markFailed('b1', 'soc', 'HTTP 500', T0 + 2000, false)
      const retried = await fx.storage.alerts.claim(T0 + 10_000, 10, 30_000)
      expect(retried.map((r) => [r.id, r.attempts, r.last_error])).to.have.deep.members([
        ['b1', 1, 'HTTP 500'],
        ['b2', 0, null],
      ])
      await fx.storage.alerts.markDelivered('b1', 'soc', T0 + 11_000)
      await fx.storage.alerts.markFailed('b2', 'soc', 'refused', T0, true)
      expect(await fx.storage.alerts.claim(T0 + 999_999, 10, 30_000)).to.deep.equal([])
      const states = await fx.storage.alerts.list({ limit: 10 })
      expect(states.map((r) => [r.id, r.state, r.attempts])).to.have.deep.members([
        ['b1', 'delivered', 2],
        ['b2', 'failed', 1],
      ])
      expect((await fx.storage.alerts.list({ state: 'failed', limit: 10 })).map((r) => r.id)).to.deep.equal([
        'b2',
      ])
    })

    it('one leader at a time; another takes over when the lease lapses', async () => {
      const other = await fx.open()
      expect(await fx.storage.alerts.lead('alerts', 'a', 10_000, T0)).to.equal(true)
      expect(await other.alerts.lead('alerts', 'b', 10_000, T0 + 1)).to.equal(false)
      expect(await fx.storage.alerts.lead('alerts', 'a', 10_000, T0 + 5000)).to.equal(true)
      expect(await other.alerts.lead('alerts', 'b', 10_000, T0 + 15_001)).to.equal(true)
      expect(await fx.storage.alerts.lead('alerts', 'a', 10_000, T0 + 15_002)).to.equal(false)
    })
  })
}
