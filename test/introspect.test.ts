import { expect } from 'chai'
import { Agent, request } from 'undici'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import { listExchanges } from './fixtures/admin.js'
import { ADMIN, AGENT, BILLING, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { PAYMENTS_API, RESOURCE_SERVER_GRANTS } from './fixtures/resource_server.js'

describe('POST /oauth2/introspect (RFC 7662, mTLS)', function () {
  this.timeout(30_000)
  let t: TestBroker
  let billing: CertFiles
  let agent: CertFiles
  let adminCert: CertFiles
  let paymentsApi: CertFiles

  const issue = (cert: CertFiles, req: IssueTokenRequest) =>
    unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')(req)
  const revoke = (req: RevokeTokensRequest) =>
    unary<RevokeTokensRequest, RevokeTokensResponse__Output>(t.adminClient(adminCert), 'RevokeTokens')(req)

  async function introspect(
    cert: CertFiles | undefined,
    body: string,
    options: { method?: string; contentType?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
    const dispatcher = new Agent({
      connect: { ca: t.pki.ca.certPem, cert: cert?.certPem, key: cert?.keyPem },
    })
    try {
      const res = await request(`${t.httpUrl}/oauth2/introspect`, {
        method: (options.method ?? 'POST') as 'POST',
        headers: { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' },
        body: options.method === 'GET' ? undefined : body,
        dispatcher,
      })
      return {
        status: res.statusCode,
        body: (await res.body.json()) as Record<string, unknown>,
        headers: res.headers,
      }
    } finally {
      await dispatcher.close()
    }
  }
  const form = (token: string) => new URLSearchParams({ token, token_type_hint: 'access_token' }).toString()

  before(async () => {
    t = await TestBroker.start({ grantsYaml: RESOURCE_SERVER_GRANTS })
    billing = await t.pki.spiffe('billing', BILLING)
    agent = await t.pki.spiffe('agent', AGENT)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    paymentsApi = await t.pki.spiffe('payments-api', PAYMENTS_API)
  })
  after(() => t?.close())

  it('answers active:true with the RFC 7662 members for a live token of an allowed audience', async () => {
    const issued = await issue(billing, {
      audience: 'payments-api',
      scopes: ['payments:read'],
      bind_to_certificate: true,
    })
    const res = await introspect(paymentsApi, form(issued.token))
    expect(res.status).to.equal(200)
    expect(res.headers['cache-control']).to.equal('no-store')
    expect(res.body).to.include({
      active: true,
      scope: 'payments:read',
      sub: BILLING,
      client_id: BILLING,
      aud: 'payments-api',
      iss: 'https://keybroker.test',
      jti: issued.token_id,
      token_type: 'Bearer',
      exp: Number(issued.expires_at),
    })
    expect((res.body.cnf as Record<string, string>)['x5t#S256']).to.be.a('string')
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({ kind: 'introspect', limit: 1 })
    expect(exchanges[0]).to.include({ decision: 'allow', subject: PAYMENTS_API, token_id: issued.token_id })
    expect(JSON.parse(exchanges[0]!.detail)).to.include({ active: true })
    expect(exchanges[0]!.detail).to.not.contain(issued.token.split('.')[1]!.slice(0, 20))
  })

  it('answers active:false, and nothing else, for a token whose audience the caller may not introspect', async () => {
    const issued = await issue(agent, { audience: 'search-api', scopes: ['search:read'] })
    const res = await introspect(paymentsApi, form(issued.token))
    expect(res.status).to.equal(200)
    expect(res.body).to.deep.equal({ active: false })
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({ kind: 'introspect', limit: 1 })
    expect(exchanges[0]!.reason).to.equal(
      'audience "search-api" is not in introspect.audiences of grant payments-api',
    )
  })

  it('answers active:false for a revoked token, an expired-looking or forged one', async () => {
    const issued = await issue(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    expect((await introspect(paymentsApi, form(issued.token))).body.active).to.equal(true)
    await revoke({ token_id: issued.token_id })
    expect((await introspect(paymentsApi, form(issued.token))).body).to.deep.equal({ active: false })
    const [h, p] = issued.token.split('.')
    expect((await introspect(paymentsApi, form(`${h}.${p}.AAAA`))).body).to.deep.equal({ active: false })
    expect((await introspect(paymentsApi, form('garbage'))).body).to.deep.equal({ active: false })
  })

  it('answers 401 invalid_client to a caller without a client certificate', async () => {
    const issued = await issue(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    const res = await introspect(undefined, form(issued.token))
    expect(res.status).to.equal(401)
    expect(res.body).to.include({ error: 'invalid_client', code: 'ERR_NO_CREDENTIALS' })
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({ kind: 'auth_failure', limit: 1 })
    expect(JSON.parse(exchanges[0]!.detail)).to.include({ call: 'introspect' })
  })

  it('answers 403 to a certificate whose grants allow no introspection, audited', async () => {
    const issued = await issue(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    const res = await introspect(billing, form(issued.token))
    expect(res.status).to.equal(403)
    expect(res.body).to.include({ error: 'unauthorized_client', code: 'ERR_NO_GRANT' })
    expect(res.body.error_description).to.match(/may not introspect tokens/)
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({ kind: 'introspect', limit: 1 })
    expect(exchanges[0]).to.include({ decision: 'deny', subject: BILLING })
  })

  it('refuses a GET (405), a JSON body and a missing token (400), each audited when the caller is known', async () => {
    expect((await introspect(paymentsApi, '', { method: 'GET' })).status).to.equal(405)
    const json = await introspect(paymentsApi, '{"token":"x"}', { contentType: 'application/json' })
    expect(json.status).to.equal(400)
    expect(json.body.error).to.equal('invalid_request')
    const missing = await introspect(paymentsApi, 'token_type_hint=access_token')
    expect(missing.status).to.equal(400)
    expect(missing.body.error_description).to.equal('the "token" form parameter is required')
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({
      kind: 'introspect',
      decision: 'deny',
      limit: 2,
    })
    expect(exchanges.map((e) => e.reason)).to.deep.equal([
      'the "token" form parameter is required',
      'content-type must be application/x-www-form-urlencoded (a form with token=<access token>)',
    ])
  })

  it('is listed in discovery as introspection_endpoint', async () => {
    const dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
    const res = await request(`${t.httpUrl}/.well-known/openid-configuration`, { dispatcher })
    const doc = (await res.body.json()) as Record<string, unknown>
    await dispatcher.close()
    expect(doc.introspection_endpoint).to.equal('https://keybroker.test/oauth2/introspect')
  })
})
