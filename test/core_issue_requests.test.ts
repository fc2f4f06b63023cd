import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import type { StoredExchange } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { AGENT, BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'

type Issue = Call<IssueTokenRequest, IssueTokenResponse__Output>

/**
 * Issue 2, bad IssueToken requests from an authenticated caller: each gets its status and a
 * message saying which rule failed, an `issue` row with decision `deny`, and no token.
 */
describe('core: IssueToken request validation and policy', () => {
  let t: TestBroker
  let billing: Issue
  let agent: Issue

  before(async () => {
    t = await TestBroker.start()
    billing = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'IssueToken')
    agent = unary(t.brokerClient(await t.pki.spiffe('agent', AGENT)), 'IssueToken')
  })
  after(() => t.close())

  /** The audit row named by a refusal's trailing metadata. */
  async function rowOf(err: grpc.ServiceError): Promise<StoredExchange> {
    const id = String(err.metadata.get('keybroker-exchange-id')[0] ?? '')
    const row = (await t.broker.log.tail(50)).find((r) => r.id === id)
    expect(row, `audit row ${id}`).to.not.equal(undefined)
    return row!
  }

  function expectDenyRow(row: StoredExchange, code: string, reason: string) {
    expect(row.kind).to.equal('issue')
    expect(row.decision).to.equal('deny')
    expect(row.subject).to.equal(BILLING)
    expect(row.auth_method).to.equal('mtls')
    expect(row.issuer).to.equal('spiffe://example.org')
    expect(row.reason).to.equal(reason)
    expect(row.token_id).to.equal(null)
    expect(row.expires_at).to.equal(null)
    expect((row.detail as Record<string, unknown>).code).to.equal(code)
  }

  it('refuses an empty audience with INVALID_ARGUMENT', async () => {
    const err = await expectGrpcError(billing({ audience: '', scopes: ['payments:read'] }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal('audience is required (the service the token is for)')
    expectDenyRow(await rowOf(err), 'ERR_INVALID_ARGUMENT', err.details)
  })

  it('refuses an audience that is not granted with PERMISSION_DENIED', async () => {
    const err = await expectGrpcError(billing({ audience: 'search-api', scopes: [] }))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal(`audience "search-api" is not granted to ${BILLING}`)
    const row = await rowOf(err)
    expectDenyRow(row, 'ERR_AUDIENCE_NOT_GRANTED', err.details)
    expect(row.audience).to.equal('search-api')
  })

  it('refuses a scope that is not granted, naming every refused scope', async () => {
    const err = await expectGrpcError(
      billing({ audience: 'payments-api', scopes: ['payments:read', 'payments:refund', 'admin:all'] }),
    )
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal('scope not granted for audience "payments-api": payments:refund, admin:all')
    const row = await rowOf(err)
    expectDenyRow(row, 'ERR_SCOPE_NOT_GRANTED', err.details)
    expect(row.scopes).to.equal('payments:read payments:refund admin:all')
  })

  it('refuses a caller that no grant matches with PERMISSION_DENIED', async () => {
    const stranger = 'spiffe://example.org/ns/prod/sa/stranger'
    const issue: Issue = unary(t.brokerClient(await t.pki.spiffe('stranger', stranger)), 'IssueToken')
    const err = await expectGrpcError(issue({ audience: 'payments-api' }))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal(`no grant matches ${stranger}`)
    const row = await rowOf(err)
    expect(row.subject).to.equal(stranger)
    expect(row.decision).to.equal('deny')
  })

  it('refuses a malformed scope with INVALID_ARGUMENT', async () => {
    const err = await expectGrpcError(billing({ audience: 'payments-api', scopes: ['payments read'] }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal(
      'invalid scope "payments read": use a token without spaces, or "METHOD:/path" for proxy routes',
    )
    expectDenyRow(await rowOf(err), 'ERR_INVALID_ARGUMENT', err.details)
  })

  it('refuses 10,000 scopes with INVALID_ARGUMENT and keeps serving', async () => {
    const scopes = Array.from({ length: 10_000 }, (_, i) => `payments:s${i}`)
    const err = await expectGrpcError(billing({ audience: 'payments-api', scopes }))
    expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(err.details).to.equal('too many scopes: 10000 requested, at most 100 allowed')
    const row = await rowOf(err)
    expectDenyRow(row, 'ERR_INVALID_ARGUMENT', err.details)
    // the row stays small: only the first 100 requested scopes are kept
    expect(row.scopes!.split(' ')).to.have.length(100)
    expect((await billing({ audience: 'payments-api', scopes: ['payments:read'] })).token).to.be.a('string')
  })

  it('refuses a 4 MiB request with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const before = await t.broker.log.count()
    const err = await expectGrpcError(billing({ audience: 'x'.repeat(4 * 1024 * 1024), scopes: [] }))
    expect(err.code).to.equal(grpc.status.RESOURCE_EXHAUSTED)
    expect(err.details).to.match(/^Received message larger than max \(\d+ vs 1048576\)$/)
    // grpc-js drops the message before any handler runs, so the broker has nothing to record
    // (and no identity to record it under); the connection and the server stay up.
    expect(await t.broker.log.count()).to.equal(before)
    expect((await billing({ audience: 'payments-api', scopes: ['payments:read'] })).token).to.be.a('string')
  })

  it('ttl 0 gets the grant default_ttl (2m for agents, 5m when unset)', async () => {
    const a = await agent({ audience: 'search-api', scopes: ['search:read'], ttl_seconds: 0 })
    const aClaims = decodeJwt(a.token)
    expect(aClaims.exp! - aClaims.iat!).to.equal(120)
    expect(Number(a.expires_at)).to.equal(aClaims.exp)
    expect((await t.broker.log.findByTokenId(a.token_id))[0]!.ttl).to.equal(120)

    const b = await billing({ audience: 'payments-api', scopes: ['payments:read'] })
    const bClaims = decodeJwt(b.token)
    expect(bClaims.exp! - bClaims.iat!).to.equal(300)
    expect(Number(b.expires_at)).to.equal(bClaims.exp)
  })

  it('ttl of 10 years is capped to max_ttl and the real expires_at is returned', async () => {
    const tenYears = 10 * 365 * 86_400
    const res = await billing({ audience: 'payments-api', scopes: ['payments:write'], ttl_seconds: tenYears })
    const claims = decodeJwt(res.token)
    expect(claims.exp! - claims.iat!).to.equal(15 * 60)
    expect(Number(res.expires_at)).to.equal(claims.exp)
    const row = (await t.broker.log.findByTokenId(res.token_id))[0]!
    expect(row.decision).to.equal('allow')
    expect(row.ttl).to.equal(900)
    expect(row.expires_at).to.equal(claims.exp)
    expect((row.detail as Record<string, unknown>).capped).to.equal(true)
  })

  it('no scopes requested gets every scope the grant lists for the audience', async () => {
    const res = await billing({ audience: 'payments-api' })
    expect(res.scopes).to.deep.equal(['payments:read', 'payments:write'])
    expect(decodeJwt(res.token).scope).to.equal('payments:read payments:write')
  })
})
