import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { expect } from 'chai'
import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose'
import * as oauth from 'openid-client'
import { Agent, request, fetch as undiciFetch } from 'undici'
import type { StoredExchange } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { certificateThumbprint } from '../src/identity/mtls.js'
import { tokenFingerprint } from '../src/identity/oidc.js'
import { isLoopbackAddress, refusePlainHttp } from '../src/server/oauth/token_endpoint.js'
import { BILLING, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'
import type { CertFiles } from './fixtures/pki.js'
import { sqliteOnly } from './fixtures/postgres.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

const ISSUER = 'https://keybroker.test'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const RESEARCH = 'system:serviceaccount:agents:research'
const HELPER = 'system:serviceaccount:agents:helper'
const STRANGER = 'spiffe://example.org/ns/other/sa/stranger'

function grantsYaml(k8sName: string): string {
  return `grants:
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens: [{ audience: payments-api, scopes: ["payments:read", "payments:write"], max_ttl: 15m }]
    delegation: { max_depth: 2 }
  - name: research-agent
    match: { issuer: ${k8sName}, attributes: { namespace: agents } }
    tokens: [{ audience: tools-api, scopes: ["GET /v1/charges*", "search:read"], default_ttl: 2m, max_ttl: 5m }]
    delegation: { max_depth: 2 }
`
}

function trustYaml(dir: string, k8s: OidcIssuerFixture): string {
  const caFile = join(dir, 'k8s-ca.pem')
  writeFileSync(caFile, k8s.caPem)
  return `trust:
  oidc:
    - { name: k8s-prod, preset: kubernetes, issuer: "${k8s.issuer}", audience: keybroker, ca_file: ${caFile}, fetch_timeout: 1s }
`
}

/**
 * Issue 17: `POST /oauth2/token` driven by a real OAuth client library (openid-client), tokens checked
 * with jose against the JWKS the broker serves, and every refusal checked against its audit row.
 */
describe('OAuth token endpoint (RFC 8693 token exchange, client_credentials with tls_client_auth)', () => {
  let k8s: OidcIssuerFixture
  let foreign: OidcIssuerFixture
  let t: TestBroker
  let billing: CertFiles
  let stranger: CertFiles
  let tokenEndpoint: string

  before(async () => {
    ;[k8s, foreign] = await Promise.all([OidcIssuerFixture.start(), OidcIssuerFixture.start()])
    t = await TestBroker.start({
      // write_timeout 1s: a locked audit database fails a request after about a second
      configYaml: (dir, pki) =>
        `${serverConfigYaml(dir, pki).replace(/^storage: \{ path: (.*) \}$/m, 'storage: { path: $1 }\naudit: { write_timeout: 1s }')}${trustYaml(dir, k8s)}${grantsYaml('k8s-prod')}`,
    })
    billing = await t.pki.spiffe('billing', BILLING)
    stranger = await t.pki.spiffe('stranger', STRANGER)
    tokenEndpoint = `${t.httpUrl}/oauth2/token`
  })

  after(async () => {
    await t.close()
    await Promise.all([k8s.stop(), foreign.stop()])
  })

  function dispatcher(cert?: CertFiles): Agent {
    return new Agent({ connect: { ca: t.pki.ca.certPem, cert: cert?.certPem, key: cert?.keyPem } })
  }

  /** An openid-client configuration for the broker; `cert` switches on tls_client_auth. */
  function oauthClient(options: { cert?: CertFiles; clientId?: string } = {}): oauth.Configuration {
    const config = new oauth.Configuration(
      { issuer: ISSUER, token_endpoint: tokenEndpoint },
      options.clientId ?? 'any-client',
      {},
      options.cert ? oauth.TlsClientAuth() : oauth.None(),
    )
    const agent = dispatcher(options.cert)
    // openid-client's fetch hook, routed through undici so the connection carries the client certificate
    config[oauth.customFetch] = ((url: string, init: object) =>
      undiciFetch(url, { ...init, dispatcher: agent })) as unknown as oauth.CustomFetch
    return config
  }

  async function clientCredentials(cert: CertFiles, params: Record<string, string>, clientId = BILLING) {
    return oauth.clientCredentialsGrant(oauthClient({ cert, clientId }), params)
  }

  async function exchange(params: Record<string, string>, cert?: CertFiles) {
    return oauth.genericGrantRequest(oauthClient({ cert }), TOKEN_EXCHANGE, params)
  }

  /** The refusal openid-client surfaces for an RFC 6749 §5.2 error body. */
  async function oauthRefusal(promise: Promise<unknown>): Promise<oauth.ResponseBodyError> {
    try {
      await promise
    } catch (err) {
      expect(err, String(err)).to.be.instanceOf(oauth.ResponseBodyError)
      return err as oauth.ResponseBodyError
    }
    throw new Error('expected the token request to be refused')
  }

  /** A raw request, for what a client library would never send. */
  async function post(
    body: string | Readable,
    headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' },
    options: { method?: 'GET' | 'POST' | 'PUT'; cert?: CertFiles } = {},
  ) {
    const res = await request(tokenEndpoint, {
      method: options.method ?? 'POST',
      headers,
      body: options.method === 'GET' ? undefined : body,
      dispatcher: dispatcher(options.cert),
    })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as Record<string, string> }
  }

  async function verified(token: string, audience: string): Promise<JWTPayload> {
    const res = await undiciFetch(`${t.httpUrl}/.well-known/jwks.json`, { dispatcher: dispatcher() })
    const jwks = createLocalJWKSet((await res.json()) as Parameters<typeof createLocalJWKSet>[0])
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    })
    return payload
  }

  async function row(id: string | undefined): Promise<StoredExchange> {
    expect(id, 'the reply names its audit row').to.be.a('string')
    const found = (await t.broker.log.tail(50)).find((r) => r.id === id)
    expect(found, `audit row ${id}`).to.not.equal(undefined)
    return found!
  }

  /** The refusal's audit row: denied, over oauth, with the code and (when given) the reason. */
  async function expectRefusalRow(
    exchangeId: string | undefined,
    expected: { kind: string; code: string; reason?: string | RegExp },
  ): Promise<StoredExchange> {
    const r = await row(exchangeId)
    expect(r.kind).to.equal(expected.kind)
    expect(r.decision).to.equal('deny')
    expect(r.detail).to.include({ transport: 'oauth', code: expected.code })
    if (typeof expected.reason === 'string') expect(r.reason).to.equal(expected.reason)
    else if (expected.reason) expect(r.reason).to.match(expected.reason)
    return r
  }

  describe('client_credentials (RFC 8705 tls_client_auth)', () => {
    it('a workload certificate gets a certificate-bound token that verifies against the JWKS', async () => {
      const res = await clientCredentials(billing, { audience: 'payments-api', scope: 'payments:read' })
      expect(res.token_type).to.equal('bearer') // openid-client lower-cases it
      expect(res.scope).to.equal('payments:read')
      expect(res.expires_in).to.be.within(295, 300) // the grant's default_ttl (5m)
      const claims = await verified(res.access_token, 'payments-api')
      expect(claims).to.include({ sub: BILLING, scope: 'payments:read', kb_idp: 'spiffe://example.org' })
      expect(claims.cnf).to.deep.equal({ 'x5t#S256': certificateThumbprint(billing.der) })

      const [audit] = await t.broker.log.findByTokenId(claims.jti!)
      expect(audit).to.include({ kind: 'issue', decision: 'allow', subject: BILLING, auth_method: 'mtls' })
      expect(audit!.detail).to.include({ transport: 'oauth', grant: 'billing' })
    })

    it('writes the same audit row as IssueToken over gRPC; only detail.transport differs', async () => {
      const grpcIssue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        t.brokerClient(billing),
        'IssueToken',
      )
      const viaGrpc = await grpcIssue({
        audience: 'payments-api',
        scopes: ['payments:read'],
        bind_to_certificate: true,
      })
      const viaOauth = await clientCredentials(billing, { audience: 'payments-api', scope: 'payments:read' })
      const a = (await t.broker.log.findByTokenId(viaGrpc.token_id))[0]!
      const b = (
        await t.broker.log.findByTokenId((await verified(viaOauth.access_token, 'payments-api')).jti!)
      )[0]!
      const shape = (r: StoredExchange) => {
        const { id, ts, seq, prev_hash, hash, token_id, expires_at, latency_us, peer, detail, ...rest } = r
        const { kid, transport, ...restDetail } = detail ?? {}
        return { rest, restDetail, transport }
      }
      expect(shape(a).rest).to.deep.equal(shape(b).rest)
      expect(shape(a).restDetail).to.deep.equal(shape(b).restDetail)
      expect([shape(a).transport, shape(b).transport]).to.deep.equal(['grpc', 'oauth'])
    })

    it('without a client certificate: 401 invalid_client, audited', async () => {
      const res = await post('grant_type=client_credentials&audience=payments-api')
      expect(res.status).to.equal(401)
      expect(res.body.error).to.equal('invalid_client')
      expect(res.body.error_description).to.match(/client certificate \(tls_client_auth\)/)
      await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_NO_CREDENTIALS' })
    })

    it('a client_id that is not the certificate SPIFFE ID: 401 invalid_client, audited', async () => {
      const err = await oauthRefusal(
        clientCredentials(billing, { audience: 'payments-api' }, 'spiffe://example.org/someone-else'),
      )
      expect(err.status).to.equal(401)
      expect(err.error).to.equal('invalid_client')
      expect(err.error_description).to.equal(
        `client_id 'spiffe://example.org/someone-else' does not match the client certificate, which names ${BILLING}`,
      )
      const r = await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'issue',
        code: 'ERR_CERTIFICATE_INVALID',
      })
      expect(r.subject).to.equal(BILLING)
    })

    it('a certificate without a grant: 400 unauthorized_client, audited', async () => {
      const err = await oauthRefusal(clientCredentials(stranger, { audience: 'payments-api' }, STRANGER))
      expect(err.error).to.equal('unauthorized_client')
      await expectRefusalRow(err.cause.exchange_id as string, { kind: 'issue', code: 'ERR_NO_GRANT' })
    })
  })

  describe('token exchange of a workload JWT (RFC 8693)', () => {
    it('a Kubernetes token becomes a broker token; proxy scopes travel as METHOD:/path', async () => {
      const subject = await k8s.mint(k8s.kubernetesClaims())
      const res = await exchange({
        subject_token: subject,
        subject_token_type: JWT_TYPE,
        audience: 'tools-api',
        scope: 'GET:/v1/charges* search:read',
      })
      expect(res.issued_token_type).to.equal(ACCESS_TOKEN_TYPE)
      expect(res.scope).to.equal('GET:/v1/charges* search:read')
      expect(res.expires_in).to.be.within(115, 120)
      const claims = await verified(res.access_token, 'tools-api')
      expect(claims).to.include({ sub: RESEARCH, kb_idp: k8s.issuer, scope: 'GET:/v1/charges* search:read' })
      // the scope claim splits on spaces into exactly the granted scopes (RFC 9068 consumers)
      expect(String(claims.scope).split(' ')).to.deep.equal(['GET:/v1/charges*', 'search:read'])
      expect(claims.cnf, 'no client certificate, no binding').to.equal(undefined)
      const [audit] = await t.broker.log.findByTokenId(claims.jti!)
      expect(audit).to.include({ kind: 'issue', decision: 'allow', subject: RESEARCH, auth_method: 'oidc' })
      expect(audit!.detail).to.include({ transport: 'oauth', grant: 'research-agent' })
    })

    it('with a client certificate on the connection the token is bound to it', async () => {
      const subject = await k8s.mint(k8s.kubernetesClaims())
      const res = await exchange(
        { subject_token: subject, subject_token_type: JWT_TYPE, resource: 'tools-api' },
        billing,
      )
      const claims = await verified(res.access_token, 'tools-api')
      expect(claims.sub).to.equal(RESEARCH)
      expect(claims.cnf).to.deep.equal({ 'x5t#S256': certificateThumbprint(billing.der) })
    })

    const badSubjects: Array<{ name: string; make: () => Promise<string>; code: string; message: RegExp }> = [
      {
        name: 'from an untrusted issuer',
        make: () => foreign.mint(foreign.kubernetesClaims()),
        code: 'ERR_ISSUER_UNKNOWN',
        message: /^token issuer 'https:\/\/127\.0\.0\.1:\d+' is not trusted$/,
      },
      {
        name: 'expired',
        make: () => k8s.mint(k8s.kubernetesClaims({ exp: Math.floor(Date.now() / 1000) - 3600 })),
        code: 'ERR_TOKEN_EXPIRED',
        message: /expired/,
      },
      {
        name: 'with alg none',
        make: () => k8s.mint(k8s.kubernetesClaims(), { alg: 'none' }),
        code: 'ERR_TOKEN_INVALID',
        message: /alg/,
      },
    ]
    for (const bad of badSubjects) {
      it(`a subject_token ${bad.name}: 400 invalid_request (RFC 8693 2.2.2), an auth_failure row with its fingerprint`, async () => {
        const subject = await bad.make()
        const err = await oauthRefusal(
          exchange({ subject_token: subject, subject_token_type: JWT_TYPE, audience: 'tools-api' }),
        )
        expect(err.status).to.equal(400)
        expect(err.error).to.equal('invalid_request')
        expect(err.error_description).to.match(bad.message)
        const r = await expectRefusalRow(err.cause.exchange_id as string, {
          kind: 'auth_failure',
          code: bad.code,
        })
        expect(r.detail).to.include({ call: 'issue', token_fingerprint: tokenFingerprint(subject) })
        expect(JSON.stringify(r)).to.not.include(subject)
      })
    }

    it('subject_token_type jwt for a broker token: 400 invalid_request naming the right type, audited', async () => {
      const parent = await clientCredentials(billing, { audience: 'payments-api' })
      const err = await oauthRefusal(
        exchange({
          subject_token: parent.access_token,
          subject_token_type: JWT_TYPE,
          audience: 'payments-api',
        }),
      )
      expect(err.error).to.equal('invalid_request')
      expect(err.error_description).to.equal(
        `subject_token is a keybroker access token, not a workload JWT: send subject_token_type=${ACCESS_TOKEN_TYPE} to delegate it`,
      )
      await expectRefusalRow(err.cause.exchange_id as string, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
    })

    it('subject_token_type access_token for a workload JWT: 400 invalid_request, audited', async () => {
      const subject = await k8s.mint(k8s.kubernetesClaims())
      const err = await oauthRefusal(
        exchange({ subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'tools-api' }),
      )
      expect(err.error).to.equal('invalid_request')
      expect(err.error_description).to.match(
        /is not a token of this broker; a workload JWT is .*token-type:jwt$/,
      )
      await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'delegate',
        code: 'ERR_INVALID_ARGUMENT',
      })
    })

    it('a scope that is not granted: 400 invalid_scope, audited with the subject', async () => {
      const subject = await k8s.mint(k8s.kubernetesClaims())
      const err = await oauthRefusal(
        exchange({
          subject_token: subject,
          subject_token_type: JWT_TYPE,
          audience: 'tools-api',
          scope: 'POST:/v1/charges',
        }),
      )
      expect(err.status).to.equal(400)
      expect(err.error).to.equal('invalid_scope')
      expect(err.error_description).to.equal(`scope not granted for audience 'tools-api': POST:/v1/charges`)
      const r = await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'issue',
        code: 'ERR_SCOPE_NOT_GRANTED',
      })
      expect(r).to.include({ subject: RESEARCH, scopes: 'POST:/v1/charges', audience: 'tools-api' })
    })

    it('an unknown audience: 400 invalid_target, audited', async () => {
      const subject = await k8s.mint(k8s.kubernetesClaims())
      const err = await oauthRefusal(
        exchange({ subject_token: subject, subject_token_type: JWT_TYPE, audience: 'no-such-api' }),
      )
      expect(err.error).to.equal('invalid_target')
      expect(err.error_description).to.equal(`audience 'no-such-api' is not granted to ${RESEARCH}`)
      await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'issue',
        code: 'ERR_AUDIENCE_NOT_GRANTED',
      })
    })
  })

  describe('delegation: a broker token as subject_token', () => {
    it('by client certificate, with an `actor` label: same act chain and ancestors as DelegateToken', async () => {
      const parent = await clientCredentials(billing, {
        audience: 'payments-api',
        scope: 'payments:read payments:write',
      })
      const parentClaims = await verified(parent.access_token, 'payments-api')
      const child = await exchange(
        {
          subject_token: parent.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          scope: 'payments:read',
          actor: 'sub-agent-1',
        },
        billing,
      )
      expect(child.issued_token_type).to.equal(ACCESS_TOKEN_TYPE)
      const claims = await verified(child.access_token, 'payments-api')
      expect(claims).to.include({ sub: BILLING, scope: 'payments:read' })
      expect(claims.act).to.deep.equal({ sub: 'sub-agent-1' })
      expect(claims.kb_ancestors).to.deep.equal([parentClaims.jti])
      expect(claims.cnf, 'a delegated token is for an actor without the key').to.equal(undefined)
      expect(claims.exp).to.be.at.most(parentClaims.exp!)
      const [audit] = await t.broker.log.findByTokenId(claims.jti!)
      expect(audit).to.include({ kind: 'delegate', decision: 'allow', subject: BILLING })
      expect(audit!.detail).to.include({
        transport: 'oauth',
        actor: 'sub-agent-1',
        parent_jti: parentClaims.jti,
      })
    })

    it('by client_assertion (RFC 7523) with an actor_token: act.sub is the actor token subject', async () => {
      const workload = await k8s.mint(k8s.kubernetesClaims())
      const parent = await exchange({
        subject_token: workload,
        subject_token_type: JWT_TYPE,
        audience: 'tools-api',
      })
      const helper = await k8s.mint(
        k8s.kubernetesClaims({
          sub: HELPER,
          'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'helper', uid: 'u-1' } },
        }),
      )
      const child = await exchange({
        subject_token: parent.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        client_assertion_type: JWT_BEARER,
        client_assertion: await k8s.mint(k8s.kubernetesClaims()),
        actor_token: helper,
        actor_token_type: JWT_TYPE,
        scope: 'GET:/v1/charges*',
      })
      const claims = await verified(child.access_token, 'tools-api')
      expect(claims).to.include({ sub: RESEARCH, kb_idp: k8s.issuer, scope: 'GET:/v1/charges*' })
      expect(claims.act).to.deep.equal({ sub: HELPER })
      const [audit] = await t.broker.log.findByTokenId(claims.jti!)
      expect(audit).to.include({
        kind: 'delegate',
        decision: 'allow',
        subject: RESEARCH,
        auth_method: 'oidc',
      })
      expect(audit!.detail).to.include({
        transport: 'oauth',
        actor: HELPER,
        actor_issuer: k8s.issuer,
        actor_fingerprint: tokenFingerprint(helper),
      })
    })

    it('possession of the parent is not enough: no client authentication → 401 invalid_client, audited', async () => {
      const parent = await clientCredentials(billing, { audience: 'payments-api' })
      const err = await oauthRefusal(
        exchange({
          subject_token: parent.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          actor: 'thief',
        }),
      )
      expect(err.status).to.equal(401)
      expect(err.error).to.equal('invalid_client')
      expect(err.error_description).to.match(/authenticate as the token's subject/)
      await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'delegate',
        code: 'ERR_NO_CREDENTIALS',
      })
    })

    it('a caller who is not the parent subject → 400 invalid_grant, audited', async () => {
      const parent = await clientCredentials(billing, { audience: 'payments-api' })
      const err = await oauthRefusal(
        exchange({
          subject_token: parent.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          client_assertion_type: JWT_BEARER,
          client_assertion: await k8s.mint(k8s.kubernetesClaims()),
          actor: 'thief',
        }),
      )
      // the parent is certificate-bound and the caller did not present that certificate: an
      // unacceptable subject_token (RFC 8693 2.2.2)
      expect(err.status).to.equal(400)
      expect(err.error).to.equal('invalid_request')
      expect(err.error_description).to.equal(
        'parent_token is bound to a client certificate (cnf.x5t#S256) that this connection did not present',
      )
      await expectRefusalRow(err.cause.exchange_id as string, { kind: 'delegate', code: 'ERR_TOKEN_INVALID' })
      const workload = await k8s.mint(k8s.kubernetesClaims())
      const unbound = await exchange({
        subject_token: workload,
        subject_token_type: JWT_TYPE,
        audience: 'tools-api',
      })
      const denied = await oauthRefusal(
        exchange(
          { subject_token: unbound.access_token, subject_token_type: ACCESS_TOKEN_TYPE, actor: 'thief' },
          stranger,
        ),
      )
      expect(denied.error).to.equal('invalid_grant')
      expect(denied.error_description).to.match(/only that subject may delegate it/)
      await expectRefusalRow(denied.cause.exchange_id as string, {
        kind: 'delegate',
        code: 'ERR_DELEGATION_DENIED',
      })
    })

    it('a client_assertion that does not verify → 401 invalid_client, audited as auth_failure', async () => {
      const workload = await k8s.mint(k8s.kubernetesClaims())
      const parent = await exchange({
        subject_token: workload,
        subject_token_type: JWT_TYPE,
        audience: 'tools-api',
      })
      const err = await oauthRefusal(
        exchange({
          subject_token: parent.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          client_assertion_type: JWT_BEARER,
          client_assertion: await foreign.mint(foreign.kubernetesClaims()),
          actor: 'sub',
        }),
      )
      expect(err.status).to.equal(401)
      expect(err.error).to.equal('invalid_client')
      await expectRefusalRow(err.cause.exchange_id as string, {
        kind: 'auth_failure',
        code: 'ERR_ISSUER_UNKNOWN',
      })
    })
  })

  describe('malformed requests: each refused with its audit row', () => {
    it('missing grant_type → 400 invalid_request', async () => {
      const res = await post('audience=payments-api')
      expect(res.status).to.equal(400)
      expect(res.body.error).to.equal('invalid_request')
      expect(res.body.error_description).to.match(/^grant_type is required/)
      const r = await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
      expect(r.detail).to.include({ call: 'oauth2/token' })
      expect(r.audience).to.equal('payments-api')
    })

    it('an unknown grant_type → 400 unsupported_grant_type', async () => {
      const res = await post('grant_type=password&username=a&password=b')
      expect(res.status).to.equal(400)
      expect(res.body.error).to.equal('unsupported_grant_type')
      expect(res.body.error_description).to.match(/grant_type 'password' is not supported/)
      const r = await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
      expect(r.detail).to.include({ grant_type: 'password' })
    })

    it('a body over 64 KiB (declared or streamed) → 413 invalid_request, nothing buffered past the limit', async () => {
      const big = `grant_type=client_credentials&audience=${'a'.repeat(65 * 1024)}`
      const declared = await post(big)
      expect(declared.status).to.equal(413)
      expect(declared.body.error).to.equal('invalid_request')
      expect(declared.body.error_description).to.equal('token request body is larger than 64 KiB')
      expect(declared.headers.connection).to.equal('close')
      await expectRefusalRow(declared.body.exchange_id, { kind: 'issue', code: 'ERR_REQUEST_TOO_LARGE' })

      // no content-length: chunked, 1 MiB offered, refused once 64 KiB have arrived
      const streamed = await post(
        Readable.from(
          (function* () {
            for (let i = 0; i < 256; i++) yield Buffer.alloc(4096, 0x61)
          })(),
        ),
        { 'content-type': 'application/x-www-form-urlencoded' },
      )
      expect(streamed.status).to.equal(413)
      await expectRefusalRow(streamed.body.exchange_id, { kind: 'issue', code: 'ERR_REQUEST_TOO_LARGE' })
    })

    it('JSON instead of a form → 400 invalid_request', async () => {
      const res = await post(JSON.stringify({ grant_type: 'client_credentials' }), {
        'content-type': 'application/json',
      })
      expect(res.status).to.equal(400)
      expect(res.body.error).to.equal('invalid_request')
      expect(res.body.error_description).to.equal(
        'send the token request as application/x-www-form-urlencoded form parameters (RFC 6749 section 3.2), not JSON',
      )
      await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
    })

    it('the same parameter twice → 400 invalid_request naming it', async () => {
      const res = await post(
        'grant_type=client_credentials&audience=payments-api&audience=admin-api',
        undefined,
        {
          cert: billing,
        },
      )
      expect(res.status).to.equal(400)
      expect(res.body.error).to.equal('invalid_request')
      expect(res.body.error_description).to.equal(
        "parameter 'audience' is given more than once; send each parameter once (RFC 6749 section 3.2)",
      )
      const r = await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
      expect(r.cert_thumbprint, 'what is known of the caller is recorded').to.equal(
        certificateThumbprint(billing.der),
      )
    })

    it('client_secret_basic (an Authorization header) → 401 invalid_client', async () => {
      const res = await post('grant_type=client_credentials&audience=payments-api', {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('billing:secret').toString('base64')}`,
      })
      expect(res.status).to.equal(401)
      expect(res.body.error).to.equal('invalid_client')
      expect(res.body.error_description).to.match(/does not read the Authorization header/)
      await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
    })

    it('GET instead of POST → 405 with Allow: POST', async () => {
      const res = await post('', {}, { method: 'GET' })
      expect(res.status).to.equal(405)
      expect(res.headers.allow).to.equal('POST')
      expect(res.body.error).to.equal('invalid_request')
      expect(res.body.error_description).to.equal(
        'the token endpoint takes POST with form parameters, not GET',
      )
      await expectRefusalRow(res.body.exchange_id, { kind: 'issue', code: 'ERR_INVALID_ARGUMENT' })
    })

    it('every answer, success or refusal, is Cache-Control: no-store', async () => {
      const refused = await post('grant_type=nope')
      expect(refused.headers['cache-control']).to.equal('no-store')
      expect(refused.headers.pragma).to.equal('no-cache')
      const ok = await post('grant_type=client_credentials&audience=payments-api', undefined, {
        cert: billing,
      })
      expect(ok.status).to.equal(200)
      expect(ok.headers['cache-control']).to.equal('no-store')
      expect(ok.headers['keybroker-exchange-id']).to.equal(
        (await row(String(ok.headers['keybroker-exchange-id']))).id,
      )
      expect(ok.body).to.include({ token_type: 'Bearer', scope: 'payments:read payments:write' })
    })
  })

  it('audit store down → 503 temporarily_unavailable, no token; served again afterwards', async function () {
    sqliteOnly(this) // the store is made unwritable by locking the SQLite file
    const locker = await SqliteProcess.open(t.broker.config.audit.path)
    const before = await t.broker.log.count()
    try {
      await locker.lock()
      const res = await post('grant_type=client_credentials&audience=payments-api', undefined, {
        cert: billing,
      })
      expect(res.status).to.equal(503)
      expect(res.body.error).to.equal('temporarily_unavailable')
      expect(res.body).to.not.have.property('access_token')
      expect(res.body).to.not.have.property('exchange_id')
      // a refusal that cannot be recorded is not answered as a refusal either
      const refused = await post('grant_type=nope')
      expect(refused.status).to.equal(503)
      expect(refused.body.error).to.equal('temporarily_unavailable')
    } finally {
      await locker.unlock()
      await locker.close()
    }
    expect(await t.broker.log.count(), 'nothing was written while locked').to.equal(before)
    const ok = await post('grant_type=client_credentials&audience=payments-api', undefined, { cert: billing })
    expect(ok.status).to.equal(200)
  })

  it('discovery (RFC 8414 and OIDC) lists the token endpoint, both grants, tls_client_auth, bound tokens', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await undiciFetch(`${t.httpUrl}${path}`, { dispatcher: dispatcher() })
      const doc = (await res.json()) as Record<string, unknown>
      expect(doc, path).to.include({
        issuer: ISSUER,
        jwks_uri: `${ISSUER}/.well-known/jwks.json`,
        token_endpoint: `${ISSUER}/oauth2/token`,
        tls_client_certificate_bound_access_tokens: true,
      })
      expect(doc.grant_types_supported).to.deep.equal([TOKEN_EXCHANGE, 'client_credentials'])
      expect(doc.token_endpoint_auth_methods_supported).to.deep.equal(['tls_client_auth'])
    }
  })
})

describe('OAuth token endpoint over plain HTTP (a broker without tls)', () => {
  let k8s: OidcIssuerFixture
  let t: TestBroker

  before(async () => {
    k8s = await OidcIssuerFixture.start()
    t = await TestBroker.start({
      configYaml: (dir, pki) =>
        `${serverConfigYaml(dir, pki).replace(/^tls:.*\n/m, '')}${trustYaml(dir, k8s)}${grantsYaml('k8s-prod')}`,
    })
  })
  after(async () => {
    await t.close()
    await k8s.stop()
  })

  it('serves a loopback caller (openid-client with allowInsecureRequests)', async () => {
    const config = new oauth.Configuration(
      { issuer: ISSUER, token_endpoint: `http://127.0.0.1:${t.broker.httpPort}/oauth2/token` },
      'cli',
      {},
      oauth.None(),
    )
    oauth.allowInsecureRequests(config)
    const res = await oauth.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: await k8s.mint(k8s.kubernetesClaims()),
      subject_token_type: JWT_TYPE,
      audience: 'tools-api',
    })
    const [audit] = await t.broker.log.tail(1)
    expect(audit).to.include({ kind: 'issue', decision: 'allow', subject: RESEARCH })
    expect(res.scope).to.equal('GET:/v1/charges* search:read')
  })

  it('refuses any other peer: only loopback addresses count', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(address), address).to.equal(true)
      expect(() => refusePlainHttp(address)).to.not.throw()
    }
    for (const address of ['10.0.0.5', '::ffff:10.0.0.5', '192.168.1.1', 'fe80::1', '::', undefined]) {
      expect(isLoopbackAddress(address), String(address)).to.equal(false)
      expect(() => refusePlainHttp(address))
        .to.throw(/plain HTTP to loopback callers only; configure tls and use HTTPS/)
        .with.nested.property('cause.code', 'ERR_INSECURE_TRANSPORT')
    }
  })
})
