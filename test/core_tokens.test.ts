import { createHash } from 'node:crypto'
import { expect } from 'chai'
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { BILLING, type Call, runCli, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

type Issue = Call<IssueTokenRequest, IssueTokenResponse__Output>

/** jose's remote JWKS over the broker's HTTPS listener (trusting the test CA). */
function remoteJwks(t: TestBroker) {
  return createRemoteJWKSet(new URL(`${t.httpUrl}/.well-known/jwks.json`), {
    [customFetch]: (url: string, init: object) =>
      undiciFetch(url, { ...init, dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }) }),
  } as never)
}

async function fetchJwks(t: TestBroker): Promise<{ keys: JWK[] }> {
  const res = await undiciFetch(`${t.httpUrl}/.well-known/jwks.json`, {
    dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }),
  })
  expect(res.headers.get('content-type')).to.equal('application/jwk-set+json')
  return (await res.json()) as { keys: JWK[] }
}

async function verifyAgainst(t: TestBroker, token: string, audience = 'payments-api') {
  return jwtVerify(token, remoteJwks(t), {
    issuer: 'https://keybroker.test',
    audience,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti'],
  })
}

describe('core: issued tokens verify against the JWKS (every claim), across restart and rotation', () => {
  let t: TestBroker
  let billingCert: CertFiles
  let issue: Issue

  before(async () => {
    t = await TestBroker.start()
    billingCert = await t.pki.spiffe('billing', BILLING)
    issue = unary(t.brokerClient(billingCert), 'IssueToken')
  })
  after(() => t.close())

  it('checks iss, sub, aud, exp, iat, nbf, jti, scope, client_id, cnf, typ and kid = RFC 7638 thumbprint', async () => {
    const before = Math.floor(Date.now() / 1000)
    const res = await issue({
      audience: 'payments-api',
      scopes: ['payments:read', 'payments:write'],
      ttl_seconds: 600,
      bind_to_certificate: true,
    })
    const after = Math.floor(Date.now() / 1000)
    const { payload, protectedHeader } = await verifyAgainst(t, res.token)

    expect(protectedHeader).to.deep.equal({ alg: 'ES256', kid: protectedHeader.kid, typ: 'at+jwt' })
    const jwks = await fetchJwks(t)
    const jwk = jwks.keys.find((k) => k.kid === protectedHeader.kid)!
    expect(jwk, 'signing key is published').to.not.equal(undefined)
    expect(jwk).to.include({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
    expect(jwk).to.not.have.any.keys('d', 'p', 'q', 'dp', 'dq', 'qi')
    expect(protectedHeader.kid).to.equal(await calculateJwkThumbprint(jwk, 'sha256'))

    const claims = payload as JWTPayload & Record<string, unknown>
    expect(Object.keys(claims).sort()).to.deep.equal(
      [
        'aud',
        'client_id',
        'cnf',
        'exp',
        'iat',
        'iss',
        'jti',
        'kb_grant',
        'kb_idp',
        'nbf',
        'scope',
        'sub',
      ].sort(),
    )
    expect(claims.iss).to.equal('https://keybroker.test')
    expect(claims.sub).to.equal(BILLING)
    expect(claims.kb_grant, 'the grant that allowed it').to.equal('billing')
    expect(claims.aud).to.equal('payments-api')
    expect(claims.iat).to.be.within(before, after)
    expect(claims.nbf).to.equal(claims.iat)
    expect(claims.exp).to.equal(claims.iat! + 600)
    expect(claims.jti)
      .to.equal(res.token_id)
      .and.match(/^[\w-]{22}$/)
    expect(claims.scope).to.equal('payments:read payments:write')
    expect(claims.client_id).to.equal(BILLING)
    expect(claims.kb_idp).to.equal('spiffe://example.org')
    expect(claims.cnf).to.deep.equal({
      'x5t#S256': createHash('sha256').update(billingCert.der).digest('base64url'),
    })

    expect(Number(res.expires_at)).to.equal(claims.exp)
    expect(res.audience).to.equal('payments-api')
    expect(res.scopes).to.deep.equal(['payments:read', 'payments:write'])
    expect(res.token_type).to.equal('Bearer')

    const row = (await t.broker.log.findByTokenId(res.token_id))[0]!
    expect(row).to.include({ id: res.exchange_id, kind: 'issue', decision: 'allow', subject: BILLING })
    expect(row.cert_thumbprint).to.equal((claims.cnf as Record<string, string>)['x5t#S256'])
    expect(row.expires_at).to.equal(claims.exp)
  })

  it('has no cnf claim when the token is not bound, and a fresh jti each time', async () => {
    const a = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    const b = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    const { payload } = await verifyAgainst(t, a.token)
    expect(payload).to.not.have.property('cnf')
    expect(a.token_id).to.not.equal(b.token_id)
  })

  it('GetJwks over gRPC serves the same key set as /.well-known/jwks.json', async () => {
    const getJwks = unary<object, { jwks_json: string }>(t.brokerClient(billingCert), 'GetJwks')
    expect(JSON.parse((await getJwks({})).jwks_json)).to.deep.equal(await fetchJwks(t))
  })

  it('OIDC discovery names the issuer and its JWKS', async () => {
    const res = await undiciFetch(`${t.httpUrl}/.well-known/openid-configuration`, {
      dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }),
    })
    const doc = (await res.json()) as Record<string, unknown>
    expect(doc.issuer).to.equal('https://keybroker.test')
    expect(doc.jwks_uri).to.equal('https://keybroker.test/.well-known/jwks.json')
  })

  it('a token issued before a restart verifies against the JWKS after it', async () => {
    const res = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    const kidBefore = decodeProtectedHeader(res.token).kid
    await t.stop()
    t = await TestBroker.start({ reuse: { dir: t.dir, pki: t.pki } })
    issue = unary(t.brokerClient(billingCert), 'IssueToken')

    const { payload } = await verifyAgainst(t, res.token)
    expect(payload.jti).to.equal(res.token_id)
    // the reloaded key still signs: no needless rotation on restart
    const after = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    expect(decodeProtectedHeader(after.token).kid).to.equal(kidBefore)
    expect((await fetchJwks(t)).keys).to.have.length(1)
  })

  it('after `keybroker keys rotate --now` old and new tokens both verify, with different kids', async () => {
    const old = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    const cli = await runCli(['keys', 'rotate', '--now', '--config', t.configFile])
    expect(cli.code, cli.stderr).to.equal(0)
    const newKid = /^new key (\S+) published; signs from /.exec(cli.stdout)?.[1]
    expect(newKid).to.be.a('string')
    // the running broker picks up keys written by another process on its reload tick; run it now
    await t.broker.keys.reload()

    const fresh = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    const oldKid = decodeProtectedHeader(old.token).kid
    expect(decodeProtectedHeader(fresh.token).kid).to.equal(newKid)
    expect(oldKid).to.not.equal(newKid)
    const kids = (await fetchJwks(t)).keys.map((k) => k.kid)
    expect(kids).to.include.members([oldKid, newKid])

    expect((await verifyAgainst(t, old.token)).payload.jti).to.equal(old.token_id)
    expect((await verifyAgainst(t, fresh.token)).payload.jti).to.equal(fresh.token_id)

    const list = await runCli(['keys', 'list', '--config', t.configFile])
    expect(list.code).to.equal(0)
    expect(list.stdout).to.match(new RegExp(`${newKid}\\s+ES256\\s+signing`))
    expect(list.stdout).to.match(new RegExp(`${oldKid}\\s+ES256\\s+published\\s`))
  })

  it('after rotation and a restart, tokens of both keys still verify', async () => {
    const kids = (await fetchJwks(t)).keys.map((k) => k.kid)
    const res = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    await t.stop()
    t = await TestBroker.start({ reuse: { dir: t.dir, pki: t.pki } })
    issue = unary(t.brokerClient(billingCert), 'IssueToken')
    expect((await fetchJwks(t)).keys.map((k) => k.kid)).to.have.members(kids)
    expect((await verifyAgainst(t, res.token)).payload.jti).to.equal(res.token_id)
  })
})
