import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { WhoAmIRequest } from '../src/generated/keybroker/v1/WhoAmIRequest.js'
import type { WhoAmIResponse__Output } from '../src/generated/keybroker/v1/WhoAmIResponse.js'
import { mintAccessToken, newTokenId } from '../src/issuer/mint.js'
import { AGENT, BILLING, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'

/* The shortcuts the bench relies on (pooled token ids, per-connection certificates) change nothing visible. */
describe('hot path', () => {
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start()
  })
  after(() => t.close())

  it('tokens minted with node:crypto verify with jose, each with its own 128-bit jti (beyond one id pool)', async () => {
    const key = t.broker.keys.signingKey()
    const publicKey = await importJWK(key.publicJwk, 'ES256')
    const ids = new Set<string>()
    for (let i = 0; i < 600; i++) {
      const { token, claims } = mintAccessToken(key, {
        issuer: 'https://keybroker.test',
        subject: BILLING,
        audience: 'payments-api',
        scopes: ['payments:read'],
        issuedAt: Math.floor(Date.now() / 1000),
        ttlSeconds: 60,
      })
      const { payload } = await jwtVerify(token, publicKey, {
        issuer: 'https://keybroker.test',
        audience: 'payments-api',
        typ: 'at+jwt',
        algorithms: ['ES256'],
      })
      expect(payload.jti).to.equal(claims.jti)
      expect(Buffer.from(claims.jti, 'base64url')).to.have.length(16)
      ids.add(claims.jti)
    }
    expect(ids.size).to.equal(600)
    const { token } = mintAccessToken(key, {
      issuer: 'https://keybroker.test',
      subject: BILLING,
      audience: 'payments-api',
      scopes: [],
      issuedAt: 0,
      ttlSeconds: 1,
    })
    expect(decodeProtectedHeader(token)).to.deep.equal({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
  })

  it('each connection keeps its own certificate: interleaved callers never see each other', async () => {
    const billing = unary<WhoAmIRequest, WhoAmIResponse__Output>(
      t.brokerClient(await t.pki.spiffe('billing', BILLING)),
      'WhoAmI',
    )
    const agent = unary<WhoAmIRequest, WhoAmIResponse__Output>(
      t.brokerClient(await t.pki.spiffe('agent', AGENT)),
      'WhoAmI',
    )
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? agent({}) : billing({}))))
    answers.forEach((a, i) => {
      expect(a.subject).to.equal(i % 2 ? AGENT : BILLING)
    })
  })

  it('a connection whose certificate failed TLS verification is refused on every call', async () => {
    const expired = await t.pki.workload('expired', {
      uris: [BILLING],
      notBefore: new Date(Date.now() - 7_200_000),
      notAfter: new Date(Date.now() - 3_600_000),
    })
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(expired), 'IssueToken')
    for (let i = 0; i < 2; i++) {
      const err = await expectGrpcError(issue({ audience: 'payments-api', scopes: ['payments:read'] }))
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
      expect(err.details).to.equal(
        'client certificate rejected: the certificate has expired (CERT_HAS_EXPIRED)',
      )
    }
  })

  it('a leaf that may sign certificates (keyCertSign) is refused on every call, not only the first', async () => {
    const caLeaf = await t.pki.workload('ca-leaf', { uris: [BILLING], keyCertSignOnly: true })
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(caLeaf), 'IssueToken')
    for (let i = 0; i < 2; i++) {
      const err = await expectGrpcError(issue({ audience: 'payments-api', scopes: ['payments:read'] }))
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
      expect(err.details).to.equal(
        'client certificate is a CA certificate (basicConstraints CA or keyCertSign); present a workload leaf certificate',
      )
    }
  })
})

describe('token ids', () => {
  it('are 22 base64url characters, distinct, and share a time prefix within one millisecond', () => {
    const now = Date.UTC(2026, 10, 25, 12, 0, 0)
    const ids = Array.from({ length: 1000 }, () => newTokenId(now))
    expect(new Set(ids).size).to.equal(1000)
    for (const id of ids) expect(id).to.match(/^[\w-]{22}$/)
    // 6 time bytes = the first 8 base64url characters
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).to.equal(1)
    expect(newTokenId(now + 1).slice(0, 8)).not.to.equal(ids[0]!.slice(0, 8))
    expect(Buffer.from(ids[0]!, 'base64url').readUIntBE(0, 6)).to.equal(now)
  })
})
