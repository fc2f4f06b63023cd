import { expect } from 'chai'
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { BILLING, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

describe('IssueToken over mTLS', () => {
  let t: TestBroker
  let billing: CertFiles

  before(async () => {
    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
  })
  after(() => t.close())

  it('mints an RFC 9068 token that verifies against the broker JWKS with every claim', async () => {
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
    const before = Math.floor(Date.now() / 1000)
    const res = await issue({
      audience: 'payments-api',
      scopes: ['payments:read'],
      ttl_seconds: 120,
      bind_to_certificate: true,
    })
    const jwks = createRemoteJWKSet(new URL(`${t.httpUrl}/.well-known/jwks.json`), {
      [customFetch]: (url: string, init: object) =>
        undiciFetch(url, { ...init, dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }) }),
    } as never)
    const { payload, protectedHeader } = await jwtVerify(res.token, jwks, {
      issuer: 'https://keybroker.test',
      audience: 'payments-api',
      typ: 'at+jwt',
      algorithms: ['ES256'],
    })
    expect(protectedHeader.kid).to.be.a('string').with.length(43)
    expect(decodeProtectedHeader(res.token).typ).to.equal('at+jwt')
    expect(payload.sub).to.equal(BILLING)
    expect(payload.client_id).to.equal(BILLING)
    expect(payload.scope).to.equal('payments:read')
    expect(payload.jti).to.equal(res.token_id)
    expect(payload.exp).to.equal(res.expires_at)
    expect(payload.exp! - payload.iat!).to.equal(120)
    expect(payload.nbf).to.equal(payload.iat)
    expect(payload.iat).to.be.within(before - 1, before + 5)
    expect((payload.cnf as Record<string, string>)['x5t#S256'])
      .to.be.a('string')
      .with.length(43)
    expect(res.token_type).to.equal('Bearer')
    expect(res.exchange_id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/)
  })
})
