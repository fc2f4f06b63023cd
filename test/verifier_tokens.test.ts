import { randomBytes, randomUUID } from 'node:crypto'
import { expect } from 'chai'
import type { JWTPayload } from 'jose'
import {
  createVerifier,
  InsufficientScope,
  Malformed,
  TokenExpired,
  type VerificationError,
  type Verifier,
  VerifierUnavailable,
  WrongAudience,
} from 'keybroker/verifier'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'

/**
 * Bad tokens, one test each, against a real HTTPS issuer that publishes discovery and a JWKS (the
 * fixture stands in for the broker's HTTP listener and counts every fetch).
 */
describe('verifier: tokens it must refuse, and the key fetches they may cause', () => {
  let issuer: OidcIssuerFixture
  const verifiers: Verifier[] = []

  before(async () => {
    issuer = await OidcIssuerFixture.start({ alg: 'ES256' })
  })
  after(async () => {
    for (const v of verifiers) v.close()
    await issuer.stop()
  })
  beforeEach(() => {
    issuer.jwksFetches = 0
    issuer.discoveryFetches = 0
    issuer.discoveryOverrides = {}
  })

  function verifier(): Verifier {
    const v = createVerifier({ issuer: issuer.issuer, audience: 'payments-api', ca: issuer.caPem })
    verifiers.push(v)
    return v
  }

  function claims(overrides: JWTPayload = {}): JWTPayload {
    const iat = Math.floor(Date.now() / 1000)
    return {
      iss: issuer.issuer,
      sub: 'spiffe://example.org/ns/prod/sa/billing',
      aud: 'payments-api',
      iat,
      nbf: iat,
      exp: iat + 300,
      jti: randomUUID(),
      scope: 'payments:read GET /v1/charges*',
      ...overrides,
    }
  }

  const accessToken = (overrides: JWTPayload = {}, header: Record<string, unknown> = {}) =>
    issuer.mint(claims(overrides), { header: { typ: 'at+jwt', ...header } })

  async function refusal(v: Verifier, token: string, scopes?: string[]): Promise<VerificationError> {
    try {
      await v.verify(token, { scopes })
    } catch (err) {
      return err as VerificationError
    }
    throw new Error('expected a refusal, but the token was accepted')
  }

  it('accepts a good token: typed claims, scopes split, act chain, kb_task; keys discovered once', async () => {
    const v = verifier()
    const token = await accessToken({
      act: { sub: 'sub-agent-2', act: { sub: 'sub-agent-1' } },
      kb_task: { run_id: 'run-1', tool_call_id: 'call-9' },
    })
    const principal = await v.verify(token, { scopes: ['payments:read'] })
    expect(principal.subject).to.equal('spiffe://example.org/ns/prod/sa/billing')
    expect(principal.scopes).to.deep.equal(['payments:read', 'GET /v1/charges*'])
    expect(principal.actors).to.deep.equal(['sub-agent-2', 'sub-agent-1'])
    expect(principal.task).to.deep.equal({ run_id: 'run-1', tool_call_id: 'call-9' })
    expect(principal.kid).to.equal(issuer.currentKey.kid)
    await v.verify(await accessToken())
    expect([issuer.discoveryFetches, issuer.jwksFetches]).to.deep.equal([1, 1])
  })

  it('refuses alg "none" before any key lookup', async () => {
    const v = verifier()
    const token = await issuer.mint(claims(), { alg: 'none' })
    const err = await refusal(v, token)
    expect(err).to.be.instanceOf(Malformed)
    expect(err.code).to.equal('ERR_TOKEN_INVALID')
    expect(err.message).to.equal(
      'token alg "none" is refused: broker tokens are signed with ES256, ES384, EdDSA, RS256, PS256',
    )
    expect([issuer.discoveryFetches, issuer.jwksFetches]).to.deep.equal([0, 0])
  })

  it('refuses HS256 (the public key used as an HMAC secret) before any key lookup', async () => {
    const v = verifier()
    const token = await issuer.mint(claims(), {
      alg: 'HS256',
      key: await issuer.publicKeyAsHmacSecret(),
      header: { typ: 'at+jwt' },
    })
    const err = await refusal(v, token)
    expect(err).to.be.instanceOf(Malformed)
    expect(err.message).to.match(/^token alg "HS256" is refused/)
    expect([issuer.discoveryFetches, issuer.jwksFetches]).to.deep.equal([0, 0])
  })

  it('refuses a token from another issuer before any key lookup', async () => {
    const v = verifier()
    const err = await refusal(v, await accessToken({ iss: 'https://evil.example' }))
    expect(err).to.be.instanceOf(Malformed)
    expect(err.message).to.equal(
      `token was issued by "https://evil.example"; this service accepts tokens of ${issuer.issuer} only`,
    )
    expect([issuer.discoveryFetches, issuer.jwksFetches]).to.deep.equal([0, 0])
  })

  it('refuses a token that is not typ at+jwt (an ID token or workload token from the same keys)', async () => {
    const err = await refusal(verifier(), await issuer.mint(claims(), { header: { typ: 'JWT' } }))
    expect(err).to.be.instanceOf(Malformed)
    expect(err.message).to.match(/typ must be "at\+jwt"/)
  })

  it('refuses an expired token with TokenExpired', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600
    const err = await refusal(verifier(), await accessToken({ iat: past, nbf: past, exp: past + 60 }))
    expect(err).to.be.instanceOf(TokenExpired)
    expect(err.code).to.equal('ERR_TOKEN_EXPIRED')
  })

  it('refuses a token for another audience with WrongAudience naming it', async () => {
    const err = await refusal(verifier(), await accessToken({ aud: ['search-api', 'reports-api'] }))
    expect(err).to.be.instanceOf(WrongAudience)
    expect((err as WrongAudience).audience).to.deep.equal(['search-api', 'reports-api'])
  })

  it('refuses a missing scope with InsufficientScope naming exactly the missing ones', async () => {
    const err = await refusal(verifier(), await accessToken(), ['payments:read', 'payments:write', 'refunds'])
    expect(err).to.be.instanceOf(InsufficientScope)
    expect((err as InsufficientScope).missing).to.deep.equal(['payments:write', 'refunds'])
    expect(err.message).to.equal('token lacks the scopes payments:write, refunds')
  })

  it('refuses a tampered payload (signature check), a JWE, an oversized token and garbage', async () => {
    const v = verifier()
    const [h, , s] = (await accessToken()).split('.')
    const forged = Buffer.from(JSON.stringify(claims({ scope: 'payments:write admin' }))).toString(
      'base64url',
    )
    expect((await refusal(v, `${h}.${forged}.${s}`)).message).to.equal(
      "token signature does not verify against the broker's keys",
    )
    expect((await refusal(v, await issuer.mintJwe(claims()))).message).to.match(/encrypted \(JWE\)/)
    expect((await refusal(v, `${h}.${'A'.repeat(20_000)}.${s}`)).message).to.equal(
      'token is larger than 16 KiB',
    )
    expect((await refusal(v, 'not-a-jwt')).message).to.match(/not a compact JWT/)
    expect((await refusal(v, `${h}.@@@.${s}`)).message).to.match(/payload is not base64url JSON/)
  })

  it('refuses a token that is not valid yet', async () => {
    const soon = Math.floor(Date.now() / 1000) + 600
    const err = await refusal(verifier(), await accessToken({ nbf: soon }))
    expect(err.message).to.equal('token is not valid yet (nbf is in the future)')
  })

  it('refetches the JWKS for an unknown kid, then not again within the cooldown', async () => {
    const v = verifier()
    await v.verify(await accessToken())
    expect(issuer.jwksFetches).to.equal(1)
    const forged = await accessToken({}, { kid: 'no-such-key' })
    expect((await refusal(v, forged)).message).to.equal(
      'token was signed by a key the broker does not publish',
    )
    expect((await refusal(v, forged)).message).to.equal(
      'token was signed by a key the broker does not publish',
    )
    expect(issuer.jwksFetches).to.equal(1) // within the 30 s cooldown after the first fetch
  })

  it('picks up a rotated key on first sight when its kid is new to a cold verifier', async () => {
    const v = verifier()
    await issuer.rotate()
    const principal = await v.verify(await accessToken())
    expect(principal.kid).to.equal(issuer.currentKey.kid)
  })

  it('fails closed (VerifierUnavailable, ERR_KEYS_UNAVAILABLE) when discovery names another issuer', async () => {
    issuer.discoveryOverrides = { issuer: 'https://evil.example' }
    const err = await refusal(verifier(), await accessToken())
    expect(err).to.be.instanceOf(VerifierUnavailable)
    expect(err.code).to.equal('ERR_KEYS_UNAVAILABLE')
    expect(err.message).to.contain('is for issuer "https://evil.example"')
  })

  it('fails closed when the keys cannot be fetched, and recovers when they can', async () => {
    const v = createVerifier({
      issuer: issuer.issuer,
      audience: 'payments-api',
      ca: issuer.caPem,
      jwksUri: issuer.jwksUri,
    })
    verifiers.push(v)
    const token = await accessToken()
    await issuer.setMode('500')
    try {
      const err = await refusal(v, token)
      expect(err).to.be.instanceOf(VerifierUnavailable)
      expect(err.code).to.equal('ERR_KEYS_UNAVAILABLE')
    } finally {
      await issuer.setMode('ok')
    }
    expect((await v.verify(token)).tokenId).to.be.a('string')
  })

  it('never echoes the token in a refusal', async () => {
    const token = await accessToken({ aud: 'other', secret_marker: randomBytes(8).toString('hex') })
    const err = await refusal(verifier(), token)
    expect(err.message).to.not.contain(token.split('.')[1]!.slice(0, 20))
  })
})
