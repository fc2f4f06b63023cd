import type * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt, type JWTPayload } from 'jose'
import * as oauth from 'openid-client'
import { Agent, request, fetch as undiciFetch } from 'undici'
import type { StoredExchange } from '../src/audit/index.js'
import type { ApprovalUpdate__Output } from '../src/generated/keybroker/v1/ApprovalUpdate.js'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { certificateThumbprint } from '../src/identity/mtls.js'
import { ADMIN, AGENT, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { chargesRouteYaml } from './fixtures/proxy_route.js'

const ISSUER = 'https://keybroker.test'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const LOOPER = 'spiffe://example.org/ns/limited/sa/looper'
const DROPPER = 'spiffe://example.org/ns/sensitive/sa/dropper'
const BLOCKED = 'spiffe://example.org/ns/agents/sa/blocked-one'

function configYaml(dir: string, pki: TestBroker['pki']): string {
  // the route's upstream is never contacted: these tests stop at the token endpoint
  return `${serverConfigYaml(dir, pki)}admins: ["${ADMIN}"]
${chargesRouteYaml(dir, pki, 'sk_test_never_sent', 'https://127.0.0.1:9')}grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/*"], max_ttl: 5m, max_uses: 5 }
      - { audience: search-api, scopes: ["search:read"], max_ttl: 5m }
    delegation: { max_depth: 2 }
  - name: looper
    match: { spiffe_id: "${LOOPER}" }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
    rate_limit: { issue: 1/h, burst: 1 }
  - name: sensitive
    match: { spiffe_id: "${DROPPER}" }
    tokens:
      - audience: search-admin
        scopes: ["index:drop"]
        max_ttl: 5m
        approval: { approvers: ["${ADMIN}"], timeout: 5m }
`
}

/**
 * Issue 17 × issues 14 and 15: `POST /oauth2/token` runs the same guardrails and approval gate as
 * IssueToken/DelegateToken — task context and max_uses as form parameters, rate limits as 429 with
 * Retry-After, blocked subjects refused, and a parked request answered `authorization_pending`.
 */
describe('OAuth token endpoint: task context, budgets, rate limits, blocks and approvals', function () {
  this.timeout(120_000)
  let t: TestBroker
  const certs: Record<string, CertFiles> = {}

  before(async () => {
    t = await TestBroker.start({ configYaml })
    for (const [name, id] of Object.entries({ AGENT, LOOPER, DROPPER, BLOCKED, ADMIN }))
      certs[name] = await t.pki.spiffe(name.toLowerCase(), id)
  })
  after(() => t.close())

  function dispatcher(cert: CertFiles): Agent {
    return new Agent({ connect: { ca: t.pki.ca.certPem, cert: cert.certPem, key: cert.keyPem } })
  }

  /** openid-client over tls_client_auth with `cert` (the client id is its SPIFFE ID). */
  function oauthClient(cert: CertFiles, clientId: string): oauth.Configuration {
    const config = new oauth.Configuration(
      { issuer: ISSUER, token_endpoint: `${t.httpUrl}/oauth2/token` },
      clientId,
      {},
      oauth.TlsClientAuth(),
    )
    const agent = dispatcher(cert)
    config[oauth.customFetch] = ((url: string, init: object) =>
      undiciFetch(url, { ...init, dispatcher: agent })) as unknown as oauth.CustomFetch
    return config
  }

  /** A raw form POST over mTLS, for headers openid-client does not surface. */
  async function post(cert: CertFiles, params: Record<string, string>) {
    const res = await request(`${t.httpUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      dispatcher: dispatcher(cert),
    })
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (await res.body.json()) as Record<string, string | number>,
    }
  }

  async function refusal(promise: Promise<unknown>): Promise<oauth.ResponseBodyError> {
    try {
      await promise
    } catch (err) {
      expect(err, String(err)).to.be.instanceOf(oauth.ResponseBodyError)
      return err as oauth.ResponseBodyError
    }
    throw new Error('expected the token request to be refused')
  }

  async function row(id: unknown): Promise<StoredExchange> {
    expect(id, 'the reply names its audit row').to.be.a('string')
    const found = (await t.broker.log.tail(100)).find((r) => r.id === id)
    expect(found, `audit row ${String(id)}`).to.not.equal(undefined)
    return found!
  }

  const agentToken = (params: Record<string, string>) =>
    oauth.clientCredentialsGrant(oauthClient(certs.AGENT!, AGENT), params)

  describe('task context (run_id, tool_call_id, purpose)', () => {
    it('goes into kb_task and the audit columns, as over gRPC', async () => {
      const res = await agentToken({
        audience: 'search-api',
        run_id: 'run-oauth-1',
        tool_call_id: 'call-1',
        purpose: 'look up the invoice',
      })
      const claims = decodeJwt(res.access_token)
      expect(claims.kb_task).to.deep.equal({ run_id: 'run-oauth-1', tool_call_id: 'call-1' })
      const [audit] = await t.broker.log.findByTokenId(claims.jti!)
      expect(audit).to.include({
        kind: 'issue',
        decision: 'allow',
        run_id: 'run-oauth-1',
        tool_call_id: 'call-1',
      })
      expect(audit!.detail).to.include({ transport: 'oauth', purpose: 'look up the invoice' })
    })

    it('a delegation inherits the run, names its own tool call, and may not switch runs', async () => {
      const parent = await agentToken({
        audience: 'search-api',
        run_id: 'run-oauth-2',
        tool_call_id: 'call-1',
      })
      const delegate = (extra: Record<string, string>) =>
        oauth.genericGrantRequest(oauthClient(certs.AGENT!, AGENT), TOKEN_EXCHANGE, {
          subject_token: parent.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          actor: 'sub-agent',
          ...extra,
        })
      const child = decodeJwt((await delegate({ tool_call_id: 'call-2' })).access_token)
      expect(child.kb_task).to.deep.equal({ run_id: 'run-oauth-2', tool_call_id: 'call-2' })
      const [audit] = await t.broker.log.findByTokenId(child.jti!)
      expect(audit).to.include({ kind: 'delegate', run_id: 'run-oauth-2', tool_call_id: 'call-2' })

      const err = await refusal(delegate({ run_id: 'another-run' }))
      expect(err.status).to.equal(400)
      expect(err.error).to.equal('invalid_request')
      expect(err.error_description).to.contain('another-run').and.contain('run-oauth-2')
      const refused = await row(err.cause.exchange_id)
      expect(refused).to.include({ kind: 'delegate', decision: 'deny', subject: AGENT })
      expect(refused.detail).to.include({ transport: 'oauth', code: 'ERR_INVALID_ARGUMENT' })
    })

    it('a run_id over 128 characters or with a control character: 400 invalid_request, audited', async () => {
      for (const [runId, expected] of [
        ['r'.repeat(129), /run_id is longer than 128 characters/],
        ['run\u0007bell', /run_id must be valid UTF-8 without control characters/],
      ] as const) {
        const res = await post(certs.AGENT!, {
          grant_type: 'client_credentials',
          audience: 'search-api',
          run_id: runId,
        })
        expect(res.status).to.equal(400)
        expect(res.body.error).to.equal('invalid_request')
        expect(String(res.body.error_description)).to.match(expected)
        const refused = await row(res.body.exchange_id)
        expect(refused).to.include({ kind: 'issue', decision: 'deny', subject: AGENT })
        expect(refused.detail).to.include({ transport: 'oauth', code: 'ERR_INVALID_ARGUMENT' })
      }
    })
  })

  describe('max_uses', () => {
    it('the response says the real budget: as asked, or capped by the grant', async () => {
      const three = await agentToken({ audience: 'proxy:charges', max_uses: '3' })
      expect(three.max_uses).to.equal(3)
      const [audit] = await t.broker.log.findByTokenId(decodeJwt(three.access_token).jti!)
      expect(audit!.detail).to.include({ max_uses: 3, transport: 'oauth' })
      const capped = await agentToken({ audience: 'proxy:charges', max_uses: '50' })
      expect(capped.max_uses, 'the grant caps max_uses at 5').to.equal(5)
      const grantDefault = await agentToken({ audience: 'proxy:charges' })
      expect(grantDefault.max_uses).to.equal(5)
      const unlimited = await agentToken({ audience: 'search-api' })
      expect(unlimited).to.not.have.property('max_uses')
    })

    it('on an audience the proxy does not serve, or not a number: 400 invalid_request', async () => {
      const notProxy = await post(certs.AGENT!, {
        grant_type: 'client_credentials',
        audience: 'search-api',
        max_uses: '2',
      })
      expect(notProxy.status).to.equal(400)
      expect(notProxy.body.error).to.equal('invalid_request')
      expect(String(notProxy.body.error_description)).to.contain('counted by the injection proxy only')
      await row(notProxy.body.exchange_id)
      const notNumber = await post(certs.AGENT!, {
        grant_type: 'client_credentials',
        audience: 'proxy:charges',
        max_uses: '-1',
      })
      expect(notNumber.status).to.equal(400)
      expect(notNumber.body.error).to.equal('invalid_request')
      expect(String(notNumber.body.error_description)).to.contain("not '-1'")
      await row(notNumber.body.exchange_id)
    })

    it('a delegation cannot ask for more uses than its parent has', async () => {
      const parent = await agentToken({ audience: 'proxy:charges', max_uses: '2' })
      const res = await post(certs.AGENT!, {
        grant_type: TOKEN_EXCHANGE,
        subject_token: parent.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor: 'sub-agent',
        max_uses: '3',
      })
      expect(res.status).to.equal(400)
      expect(res.body.error).to.equal('invalid_request')
      expect(String(res.body.error_description)).to.contain('more than the parent token has left (2)')
      const ok = await post(certs.AGENT!, {
        grant_type: TOKEN_EXCHANGE,
        subject_token: parent.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor: 'sub-agent',
        max_uses: '1',
      })
      expect(ok.status).to.equal(200)
      expect(ok.body.max_uses).to.equal(1)
    })
  })

  it('over the rate limit: 429 rate_limited with Retry-After, audited; gRPC shares the bucket', async () => {
    const first = await post(certs.LOOPER!, { grant_type: 'client_credentials', audience: 'search-api' })
    expect(first.status).to.equal(200)
    const limited = await post(certs.LOOPER!, { grant_type: 'client_credentials', audience: 'search-api' })
    expect(limited.status).to.equal(429)
    expect(limited.headers['cache-control']).to.equal('no-store')
    expect(limited.body.error).to.equal('rate_limited')
    expect(String(limited.body.error_description)).to.match(
      /is over the issue rate limit of grant 'looper' \(1\/h, burst 1\); retry in \d+s/,
    )
    const retryAfter = Number(limited.headers['retry-after'])
    expect(retryAfter, 'Retry-After in whole seconds').to.be.within(1, 3600)
    const refused = await row(limited.body.exchange_id)
    expect(refused).to.include({ kind: 'issue', decision: 'deny', subject: LOOPER })
    expect(refused.detail).to.include({ transport: 'oauth', code: 'ERR_RATE_LIMITED' })

    const viaGrpc = await expectGrpcError(
      unary<object, IssueTokenResponse__Output>(
        t.brokerClient(certs.LOOPER),
        'IssueToken',
      )({
        audience: 'search-api',
      }),
    )
    expect(viaGrpc.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_RATE_LIMITED'])
  })

  it('a subject blocked by revoke --block: 400 unauthorized_client naming the block, audited', async () => {
    expect(
      (await post(certs.BLOCKED!, { grant_type: 'client_credentials', audience: 'search-api' })).status,
    ).to.equal(200)
    await unary<object, object>(
      t.adminClient(certs.ADMIN),
      'RevokeTokens',
    )({
      subject: BLOCKED,
      block: true,
      reason: 'runaway',
    })
    const res = await post(certs.BLOCKED!, { grant_type: 'client_credentials', audience: 'search-api' })
    expect(res.status).to.equal(400)
    expect(res.body.error).to.equal('unauthorized_client')
    expect(String(res.body.error_description)).to.contain('is blocked from new tokens')
    const refused = await row(res.body.exchange_id)
    expect(refused.detail).to.include({ transport: 'oauth', code: 'ERR_SUBJECT_BLOCKED' })
  })

  it('a grant that needs approval: 400 authorization_pending with approval_id; WaitForApproval hands out the token', async () => {
    const ask = () =>
      oauth.clientCredentialsGrant(oauthClient(certs.DROPPER!, DROPPER), {
        audience: 'search-admin',
        scope: 'index:drop',
      })
    const pending = await refusal(ask())
    expect(pending.status).to.equal(400)
    expect(pending.error).to.equal('authorization_pending')
    const id = pending.cause.approval_id
    expect(id)
      .to.be.a('string')
      .and.match(/^[0-9A-Z]{26}$/)
    expect(pending.response.headers.get('keybroker-approval-id')).to.equal(id)
    const parked = await row(pending.cause.exchange_id)
    expect(parked).to.include({ kind: 'issue', decision: 'pending', approval_id: id, subject: DROPPER })
    expect(parked.detail).to.include({ transport: 'oauth', code: 'ERR_APPROVAL_PENDING' })
    // asking again while pending gets the same approval
    expect((await refusal(ask())).cause.approval_id).to.equal(id)

    await unary<object, object>(
      t.adminClient(certs.ADMIN),
      'DecideApproval',
    )({
      approval_id: id,
      approve: true,
      reason: 'ticket OPS-7',
    })
    const updates = await waitFor(t.brokerClient(certs.DROPPER), String(id))
    expect(updates.map((u) => u.state)).to.deep.equal(['issued'])
    const claims: JWTPayload = decodeJwt(updates[0]!.token!.token)
    expect(claims).to.include({ sub: DROPPER, aud: 'search-admin', scope: 'index:drop', kb_approval: id })
    // client_credentials is always certificate-bound: the approved token is bound to the same certificate
    expect(claims.cnf).to.deep.equal({ 'x5t#S256': certificateThumbprint(certs.DROPPER!.der) })
  })
})

function waitFor(client: BrokerClient, approvalId: string): Promise<ApprovalUpdate__Output[]> {
  return new Promise((resolve, reject) => {
    const updates: ApprovalUpdate__Output[] = []
    const call = client.WaitForApproval({ approval_id: approvalId })
    call.on('data', (u: ApprovalUpdate__Output) => updates.push(u))
    call.on('error', (err: grpc.ServiceError) => reject(err))
    call.on('end', () => resolve(updates))
  })
}
