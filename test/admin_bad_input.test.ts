import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { AdminClient } from '../src/generated/keybroker/v1/Admin.js'
import type { ListExchangesRequest } from '../src/generated/keybroker/v1/ListExchangesRequest.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import { issueTokens, listExchanges, Watcher } from './fixtures/admin.js'
import { ADMIN, BILLING, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

describe('Admin service: bad input', () => {
  let t: TestBroker
  let admin: AdminClient
  let billing: CertFiles

  before(async () => {
    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
    await issueTokens(t, billing, 5)
  })
  after(() => t.close())

  /** The last audit row: every refusal must leave one. */
  const lastRow = async () => (await t.broker.log.tail(1))[0]!

  describe('a non-admin caller', () => {
    let outsider: AdminClient
    before(() => {
      outsider = t.adminClient(billing)
    })

    const unaryMethods: Array<[string, object]> = [
      ['ListExchanges', {}],
      ['RevokeTokens', { subject: BILLING }],
      ['VerifyAuditLog', {}],
      ['RotateSigningKey', {}],
    ]
    for (const [method, request] of unaryMethods) {
      it(`is refused ${method} with PERMISSION_DENIED, audited as admin/deny`, async () => {
        const kids = t.broker.keys.list().length
        const err = await expectGrpcError(unary(outsider, method)(request))
        expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
        expect(err.details).to.equal(`${BILLING} may not call Admin.${method}: it is not listed in admins`)
        expect(await lastRow()).to.include({ kind: 'admin', decision: 'deny', subject: BILLING })
        expect((await lastRow()).detail).to.include({ method, code: 'ERR_NOT_ADMIN' })
        expect(err.metadata.get('keybroker-exchange-id')).to.deep.equal([(await lastRow()).id])
        expect(t.broker.keys.list().length).to.equal(kids) // nothing happened
      })
    }

    it('is refused WatchExchanges with PERMISSION_DENIED before any row is streamed', async () => {
      const watcher = new Watcher(outsider, { after_seq: 1 })
      await watcher.until(() => watcher.error !== undefined)
      expect(watcher.error!.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(watcher.error!.details).to.equal(
        `${BILLING} may not call Admin.WatchExchanges: it is not listed in admins`,
      )
      expect(watcher.rows).to.deep.equal([])
      expect(await lastRow()).to.include({ kind: 'admin', decision: 'deny', subject: BILLING })
    })

    it('has no revocation take effect', async () => {
      await expectGrpcError(unary(outsider, 'RevokeTokens')({ subject: BILLING }))
      expect(t.broker.revocations.liveCount()).to.equal(0)
    })
  })

  it('an unparseable time is INVALID_ARGUMENT naming the field and the accepted forms', async () => {
    const err = await expectGrpcError(listExchanges(admin)({ since: 'yesterday' }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal(
      'since: "yesterday" is not a time; use RFC 3339 (2025-01-02T03:04:05Z) or unix seconds',
    )
    expect(await lastRow()).to.include({ kind: 'admin', decision: 'deny', subject: ADMIN })
    const watch = new Watcher(admin, { until: '2025-13-45T99:00:00Z' })
    await watch.until(() => watch.error !== undefined)
    expect(watch.error!.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(watch.error!.details).to.contain('until: "2025-13-45T99:00:00Z" is not a time')
  })

  it('an unknown kind is INVALID_ARGUMENT listing the kinds', async () => {
    const err = await expectGrpcError(listExchanges(admin)({ kind: 'isue' }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal(
      'kind: "isue" is not an exchange kind (one of issue, delegate, fetch, proxy, revoke, admin, auth_failure, alert, approval, block, log_reset, revocation_watch, introspect)',
    )
  })

  it('limit 10^9 is INVALID_ARGUMENT, not silently capped', async () => {
    const err = await expectGrpcError(listExchanges(admin)({ limit: 1_000_000_000 }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal('limit: 1000000000 is above the maximum of 1000; page with page_token')
    expect((await lastRow()).detail).to.include({ method: 'ListExchanges', code: 'ERR_INVALID_ARGUMENT' })
  })

  it('a forged page_token is INVALID_ARGUMENT', async () => {
    const list = listExchanges(admin)
    const { next_page_token: real } = await list({ limit: 1 })
    const [payload, mac] = real.split('.')
    // move the cursor but keep the MAC: must not verify
    const moved = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    moved.b = 1_000_000
    const forgeries = [
      `${Buffer.from(JSON.stringify(moved)).toString('base64url')}.${mac}`,
      'not-a-token',
      `${payload}.${'A'.repeat(mac!.length)}`,
    ]
    for (const page_token of forgeries) {
      const err = await expectGrpcError(list({ limit: 1, page_token }))
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.equal(
        'page_token is not valid: it was not issued by this broker or was altered; start without one',
      )
    }
  })

  it('a page_token reused with other filters is INVALID_ARGUMENT', async () => {
    const list = listExchanges(admin)
    const first = await list({ kind: 'issue', limit: 1 } satisfies ListExchangesRequest)
    const err = await expectGrpcError(list({ kind: 'admin', limit: 1, page_token: first.next_page_token }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal(
      'page_token belongs to a query with different filters; repeat the same filters, or start without a page_token',
    )
    // the same filters spelled differently (unix seconds vs RFC 3339) are the same query
    const since = '2020-01-01T00:00:00Z'
    const a = await list({ since, limit: 1 })
    const b = await list({ since: String(Date.parse(since) / 1000), limit: 1, page_token: a.next_page_token })
    expect(b.exchanges).to.have.length(1)
  })

  it('revoking an unknown token id is NOT_FOUND, audited as revoke/deny', async () => {
    const revoke = unary<RevokeTokensRequest, unknown>(admin, 'RevokeTokens')
    const err = await expectGrpcError(revoke({ token_id: 'no-such-token' }))
    expect(err.code).to.equal(grpc.status.NOT_FOUND)
    expect(err.details).to.equal(
      'token_id no-such-token was never issued by this broker (no issue or delegate row in the audit log)',
    )
    expect(await lastRow()).to.include({
      kind: 'revoke',
      decision: 'deny',
      subject: ADMIN,
      token_id: 'no-such-token',
    })
    expect(t.broker.revocations.isRevoked('no-such-token')).to.equal(false)
  })

  it('revoking with neither or both of token_id and subject is INVALID_ARGUMENT', async () => {
    const revoke = unary<RevokeTokensRequest, unknown>(admin, 'RevokeTokens')
    const neither = await expectGrpcError(revoke({}))
    expect(neither.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(neither.details).to.equal('give token_id or subject: which tokens to revoke')
    const both = await expectGrpcError(revoke({ token_id: 'x', subject: BILLING }))
    expect(both.details).to.equal('give token_id or subject, not both')
  })

  it('a watch cursor beyond the head is INVALID_ARGUMENT', async () => {
    const watch = new Watcher(admin, { after_seq: 10_000_000 })
    await watch.until(() => watch.error !== undefined)
    expect(watch.error!.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(watch.error!.details).to.match(/^after_seq: 10000000 is beyond the newest exchange \(seq \d+\)/)
  })
})
