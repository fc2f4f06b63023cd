import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTPayload, jwtVerify, SignJWT } from 'jose'
import { BrokerClient, BrokerError } from 'keybroker/client'
import { systemClock } from '../src/clock.js'
import { mintAccessToken } from '../src/issuer/mint.js'
import { verifyAccessToken } from '../src/issuer/verify.js'
import { BILLING, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

const RUNTIME = 'spiffe://example.org/ns/ai/sa/runtime'
const ISSUER = 'https://keybroker.test'
// config and requests use the spaced alias; tokens, responses and messages carry the wire form
const CHARGES = 'GET /v1/charges*'
const REFUNDS = 'POST /v1/refunds'
const CHARGES_WIRE = 'GET:/v1/charges*'
const REFUNDS_WIRE = 'POST:/v1/refunds'

const GRANTS = `  - name: runtime
    match: { spiffe_id: "${RUNTIME}" }
    tokens:
      - { audience: "tools-api", scopes: ["${CHARGES}", "${REFUNDS}"], default_ttl: 2m, max_ttl: 5m }
      - { audience: reports-api, scopes: ["reports:read"], max_ttl: 5m }
    delegation: { max_depth: 2, audiences: [reports-api] }
`

/** Await a promise that must reject with a BrokerError. */
async function refusal(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError)
    return err as BrokerError
  }
  throw new Error('expected a refusal, but the call succeeded')
}

describe('DelegateToken', () => {
  let t: TestBroker
  let runtimeCert: CertFiles
  let runtime: BrokerClient
  const clients: BrokerClient[] = []

  function clientFor(cert: CertFiles): BrokerClient {
    const client = new BrokerClient({
      address: t.address,
      tls: { caFile: t.pki.caFile, certFile: cert.cert, keyFile: cert.key, serverName: 'localhost' },
    })
    clients.push(client)
    return client
  }

  /** Verify with jose against the broker's published keys, as any resource server would. */
  async function verified(token: string, audience: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, createLocalJWKSet(t.broker.keys.jwks()), {
      issuer: ISSUER,
      audience,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    })
    return payload
  }

  /** A fresh parent token (a new client, so not the SDK's cached one): revocations do not leak between tests. */
  function parentToken(scopes = [CHARGES, REFUNDS], ttlSeconds = 120) {
    return clientFor(runtimeCert).token({ audience: 'tools-api', scopes, ttlSeconds })
  }

  before(async () => {
    t = await TestBroker.start({ grantsYaml: GRANTS })
    runtimeCert = await t.pki.spiffe('runtime', RUNTIME)
    runtime = clientFor(runtimeCert)
  })
  after(async () => {
    for (const c of clients) c.close()
    await t?.close()
  })

  it('mints a narrower child whose act chain, caps and ancestors verify with jose', async () => {
    const parent = await parentToken()
    const child = await runtime.delegate(parent.token, {
      actor: 'sub-agent-1',
      scopes: [CHARGES],
      ttlSeconds: 30,
    })
    const claims = await verified(child.token, 'tools-api')
    expect(claims.sub).to.equal(RUNTIME)
    expect(claims.scope).to.equal(CHARGES_WIRE)
    expect(claims.act).to.deep.equal({ sub: 'sub-agent-1' })
    expect(claims.exp! - claims.iat!).to.equal(30)
    expect(claims.exp).to.be.at.most(parent.expiresAt)
    expect(claims.kb_ancestors).to.deep.equal([parent.tokenId])
    expect(claims.cnf).to.equal(undefined)
    expect(child.scopes).to.deep.equal([CHARGES_WIRE])

    const grandchild = await runtime.delegate(child.token, { actor: 'sub-agent-2', ttlSeconds: 10 })
    const deeper = await verified(grandchild.token, 'tools-api')
    expect(deeper.act).to.deep.equal({ sub: 'sub-agent-2', act: { sub: 'sub-agent-1' } })
    expect(deeper.scope).to.equal(CHARGES_WIRE)
    expect(deeper.kb_ancestors).to.deep.equal([parent.tokenId, child.tokenId])

    const [row] = await t.broker.log.findByTokenId(grandchild.tokenId)
    expect(row).to.include({
      kind: 'delegate',
      decision: 'allow',
      subject: RUNTIME,
      audience: 'tools-api',
    })
    expect(row!.detail).to.include({
      parent_jti: child.tokenId,
      depth: 2,
      actor: 'sub-agent-2',
      grant: 'runtime',
    })
  })

  it('refuses a scope the parent lacks, naming it (PERMISSION_DENIED)', async () => {
    const parent = await parentToken([CHARGES])
    const err = await refusal(runtime.delegate(parent.token, { actor: 'sub', scopes: [CHARGES, REFUNDS] }))
    expect(err.grpcCode).to.equal(status.PERMISSION_DENIED)
    expect(err.code).to.equal('ERR_SCOPE_NOT_GRANTED')
    expect(err.message).to.equal(`scope not held by the parent token: ${REFUNDS_WIRE}`)
    expect(err.exchangeId).to.match(/^[0-9A-Z]{26}$/)
    const row = (await t.broker.log.tail(5)).find((r) => r.id === err.exchangeId)
    expect(row).to.include({ kind: 'delegate', decision: 'deny', subject: RUNTIME })
    expect(row!.detail).to.include({ parent_jti: parent.tokenId })
  })

  it("caps a ttl longer than the parent's remaining life at the parent's exp", async () => {
    const parent = await parentToken([CHARGES], 60)
    const child = await runtime.delegate(parent.token, { actor: 'sub', ttlSeconds: 240 })
    expect(child.expiresAt).to.equal(parent.expiresAt)
    const claims = await verified(child.token, 'tools-api')
    expect(claims.exp).to.equal(parent.expiresAt)
    expect((await t.broker.log.findByTokenId(child.tokenId))[0]!.detail).to.include({ capped: true })
  })

  it('refuses a chain deeper than the grant’s delegation.max_depth', async () => {
    const parent = await parentToken()
    const one = await runtime.delegate(parent.token, { actor: 'a1' })
    const two = await runtime.delegate(one.token, { actor: 'a2' })
    const err = await refusal(runtime.delegate(two.token, { actor: 'a3' }))
    expect(err.grpcCode).to.equal(status.PERMISSION_DENIED)
    expect(err.code).to.equal('ERR_DELEGATION_DENIED')
    expect(err.message).to.equal('delegation depth 3 exceeds delegation.max_depth 2 of grant "runtime"')
  })

  it('refuses an expired parent (UNAUTHENTICATED)', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = mintAccessToken(t.broker.keys.signingKey(), {
      issuer: ISSUER,
      subject: RUNTIME,
      audience: 'tools-api',
      scopes: [CHARGES],
      issuedAt: now - 600,
      ttlSeconds: 60,
    })
    const err = await refusal(runtime.delegate(expired.token, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
    expect(err.code).to.equal('ERR_TOKEN_EXPIRED')
    expect(err.message).to.equal('parent_token: token has expired')
  })

  it('refuses a revoked parent (UNAUTHENTICATED)', async () => {
    const parent = await parentToken()
    await t.broker.revocations.revoke([{ jti: parent.tokenId, expiresAt: parent.expiresAt }])
    const err = await refusal(runtime.delegate(parent.token, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
    expect(err.code).to.equal('ERR_TOKEN_REVOKED')
    expect(err.message).to.equal(`parent_token: token ${parent.tokenId} has been revoked`)
  })

  it('refuses a parent signed by a key the broker does not publish (UNAUTHENTICATED)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const kid = (await exportJWK(publicKey)).x!.slice(0, 43)
    const now = Math.floor(Date.now() / 1000)
    const forged = await new SignJWT({ scope: CHARGES, client_id: RUNTIME, jti: 'forged-jti' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setSubject(RUNTIME)
      .setAudience('tools-api')
      .setIssuedAt(now)
      .setExpirationTime(now + 120)
      .sign(privateKey)
    const err = await refusal(runtime.delegate(forged, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
    expect(err.code).to.equal('ERR_TOKEN_INVALID')
    expect(err.message).to.equal('parent_token: token was not signed by a key this broker publishes')
  })

  it('refuses a tampered parent (UNAUTHENTICATED)', async () => {
    const parent = await parentToken([CHARGES])
    const [header, payload, signature] = parent.token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'))
    claims.scope = `${CHARGES} ${REFUNDS}`
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
    const err = await refusal(runtime.delegate(tampered, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
    expect(err.code).to.equal('ERR_TOKEN_INVALID')
    expect(err.message).to.equal('parent_token: token signature does not verify against the broker keys')
  })

  it('refuses delegation when the grant has none (PERMISSION_DENIED)', async () => {
    const billing = clientFor(await t.pki.spiffe('billing', BILLING))
    const parent = await billing.token({ audience: 'payments-api', scopes: ['payments:read'] })
    const err = await refusal(billing.delegate(parent.token, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.PERMISSION_DENIED)
    expect(err.code).to.equal('ERR_DELEGATION_DENIED')
    expect(err.message).to.equal('delegation is off for grant "billing" (delegation.max_depth is 0)')
  })

  it("refuses a caller other than the parent's subject (PERMISSION_DENIED)", async () => {
    const other = 'spiffe://example.org/ns/agents/sa/other'
    const stranger = clientFor(await t.pki.spiffe('other', other))
    const parent = await parentToken()
    const err = await refusal(stranger.delegate(parent.token, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.PERMISSION_DENIED)
    expect(err.message).to.equal(
      `the parent token was issued to ${RUNTIME} of spiffe://example.org; only that subject may delegate it (caller is ${other} of spiffe://example.org)`,
    )
  })

  it('switches audience only to one listed in delegation.audiences', async () => {
    const parent = await parentToken([CHARGES])
    const allowed = await runtime.delegate(parent.token, { actor: 'sub', audience: 'reports-api' })
    expect((await verified(allowed.token, 'reports-api')).aud).to.equal('reports-api')
    const err = await refusal(runtime.delegate(parent.token, { actor: 'sub', audience: 'search-api' }))
    expect(err.grpcCode).to.equal(status.PERMISSION_DENIED)
    expect(err.code).to.equal('ERR_AUDIENCE_NOT_GRANTED')
    expect(err.message).to.contain('audience "search-api" is not in delegation.audiences of grant "runtime"')
  })

  it('refuses a missing actor (INVALID_ARGUMENT)', async () => {
    const parent = await parentToken()
    const err = await refusal(runtime.delegate(parent.token, { actor: '' }))
    expect(err.grpcCode).to.equal(status.INVALID_ARGUMENT)
    expect(err.message).to.equal('actor is required (who the delegated token is for)')
  })

  it('requires the bound certificate to delegate a certificate-bound parent; the child is unbound', async () => {
    const bound = await runtime.token({
      audience: 'tools-api',
      scopes: [CHARGES],
      bindToCertificate: true,
    })
    const child = await runtime.delegate(bound.token, { actor: 'sub' })
    expect((await verified(child.token, 'tools-api')).cnf).to.equal(undefined)
    // Same SPIFFE ID, different key pair: not the holder the parent is bound to.
    const twin = clientFor(await t.pki.spiffe('runtime-twin', RUNTIME))
    const err = await refusal(twin.delegate(bound.token, { actor: 'sub' }))
    expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
    expect(err.message).to.equal(
      'parent_token is bound to a client certificate (cnf.x5t#S256) that this connection did not present',
    )
  })

  it('revoking the parent stops every descendant in the broker’s own checks', async () => {
    const parent = await parentToken()
    const child = await runtime.delegate(parent.token, { actor: 'a1' })
    const grandchild = await runtime.delegate(child.token, { actor: 'a2', ttlSeconds: 30 })
    await t.broker.revocations.revoke([{ jti: parent.tokenId, expiresAt: parent.expiresAt }])

    // DelegateToken: neither descendant can be delegated further.
    for (const token of [child, grandchild]) {
      const err = await refusal(runtime.delegate(token.token, { actor: 'a3' }))
      expect(err.grpcCode).to.equal(status.UNAUTHENTICATED)
      expect(err.code).to.equal('ERR_TOKEN_REVOKED')
    }
    // The verification the proxy runs on a presented token refuses the grandchild too.
    let failure: unknown
    try {
      await verifyAccessToken(grandchild.token, {
        keys: t.broker.keys,
        issuer: ISSUER,
        clock: systemClock,
        isRevoked: (c) => t.broker.revocations.isTokenRevoked(c),
      })
    } catch (err) {
      failure = err
    }
    expect(failure).to.have.property('code', 'ERR_TOKEN_REVOKED')
    // Still a valid signature: only revocation stops it.
    expect((await verified(grandchild.token, 'tools-api')).jti).to.equal(grandchild.tokenId)
  })
})
