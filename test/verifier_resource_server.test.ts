import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { Verifier } from 'keybroker/verifier'
import type { DelegateTokenRequest } from '../src/generated/keybroker/v1/DelegateTokenRequest.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import { ADMIN, AGENT, BILLING, expectGrpcError, runCli, TestBroker, unary } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import {
  ExampleResourceServer,
  PAYMENTS_API,
  paymentsVerifier,
  RESOURCE_SERVER_GRANTS,
  refusedWithin5s,
} from './fixtures/resource_server.js'

describe('verifier: an example resource server (gRPC interceptor + HTTP middleware) against a real broker', function () {
  this.timeout(60_000)
  let t: TestBroker
  let billing: CertFiles
  let agent: CertFiles
  let adminCert: CertFiles
  /** The client certificate of gRPC calls that are not about certificate binding. */
  let caller: CertFiles
  let verifier: Verifier
  let server: ExampleResourceServer

  const issue = (cert: CertFiles, request: IssueTokenRequest) =>
    unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')(request)
  const delegate = (cert: CertFiles, request: DelegateTokenRequest) =>
    unary<DelegateTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'DelegateToken')(request)
  const revoke = (request: RevokeTokensRequest) =>
    unary<RevokeTokensRequest, RevokeTokensResponse__Output>(
      t.adminClient(adminCert),
      'RevokeTokens',
    )(request)
  const paymentsToken = (scopes = ['payments:read', 'payments:write'], bind = false) =>
    issue(billing, { audience: 'payments-api', scopes, bind_to_certificate: bind })

  before(async () => {
    t = await TestBroker.start({ grantsYaml: RESOURCE_SERVER_GRANTS })
    billing = await t.pki.spiffe('billing', BILLING)
    agent = await t.pki.spiffe('agent', AGENT)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    caller = await t.pki.spiffe('caller', 'spiffe://example.org/ns/prod/sa/caller')
    verifier = paymentsVerifier(t, await t.pki.spiffe('payments-api', PAYMENTS_API))
    await verifier.ready()
    server = await ExampleResourceServer.start(verifier, t.pki)
  })
  after(async () => {
    verifier?.close()
    await server?.close()
    await t?.close()
  })

  it('accepts a fresh broker token over gRPC and HTTP, with the principal on the call / request', async () => {
    const { token, token_id } = await paymentsToken()
    const viaGrpc = await server.grpcCall('GetCharge', token, caller)
    expect(viaGrpc).to.deep.equal({
      subject: BILLING,
      scopes: ['payments:read', 'payments:write'],
      actors: [],
      tokenId: token_id,
    })
    const viaHttp = await server.httpCall('GET', `Bearer ${token}`)
    expect(viaHttp.status).to.equal(200)
    expect(viaHttp.body.subject).to.equal(BILLING)
  })

  it('refuses the token after `keybroker revoke --token-id --address`, within 5 s, on both transports', async () => {
    const { token, token_id } = await paymentsToken()
    await server.grpcCall('GetCharge', token, caller)
    const cli = await runCli(
      [
        'revoke',
        '--address',
        `localhost:${t.broker.grpcPort}`,
        '--ca',
        t.pki.caFile,
        '--cert',
        adminCert.cert,
        '--key',
        adminCert.key,
        '--token-id',
        token_id,
      ],
      { env: { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: '' } },
    )
    expect(cli.code, cli.stderr).to.equal(0)
    const err = (await refusedWithin5s(() =>
      server.grpcCall('GetCharge', token, caller),
    )) as grpc.ServiceError
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(`token ${token_id} has been revoked`)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_TOKEN_REVOKED'])
    const http = await server.httpCall('GET', `Bearer ${token}`)
    expect(http.status).to.equal(401)
    expect(http.wwwAuthenticate).to.equal(
      `Bearer realm="payments", error="invalid_token", error_description="token ${token_id} has been revoked"`,
    )
    expect(http.body).to.deep.include({ error: 'invalid_token', code: 'ERR_TOKEN_REVOKED' })
  })

  it("accepts a delegated child, then refuses it once its parent is revoked (the child's own id never was)", async () => {
    const parent = await paymentsToken()
    const child = await delegate(billing, {
      parent_token: parent.token,
      actor: 'sub-agent-1',
      scopes: ['payments:read'],
    })
    const accepted = await server.grpcCall('GetCharge', child.token, caller)
    expect(accepted.actors).to.deep.equal(['sub-agent-1'])
    expect(accepted.tokenId).to.equal(child.token_id)
    await revoke({ token_id: parent.token_id, reason: 'test' })
    const err = (await refusedWithin5s(() =>
      server.grpcCall('GetCharge', child.token, caller),
    )) as grpc.ServiceError
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      `token ${child.token_id} was delegated from ${parent.token_id}, which has been revoked`,
    )
    expect((await server.httpCall('GET', `Bearer ${child.token}`)).status).to.equal(401)
  })

  it('refuses a missing scope with PERMISSION_DENIED / 403 insufficient_scope naming it', async () => {
    const { token } = await paymentsToken(['payments:read'])
    const err = await expectGrpcError(server.grpcCall('Refund', token, caller))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal('token lacks the scope payments:write')
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_INSUFFICIENT_SCOPE'])
    const http = await server.httpCall('POST', `Bearer ${token}`)
    expect(http.status).to.equal(403)
    expect(http.wwwAuthenticate).to.equal(
      'Bearer realm="payments", error="insufficient_scope", error_description="token lacks the scope payments:write", scope="payments:write"',
    )
  })

  it("refuses another service's token (WrongAudience) with UNAUTHENTICATED / 401", async () => {
    const { token } = await issue(agent, { audience: 'search-api', scopes: ['search:read'] })
    const err = await expectGrpcError(server.grpcCall('GetCharge', token, caller))
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_WRONG_AUDIENCE'])
    expect(err.details).to.equal('token is for "search-api", not for this service')
    const http = await server.httpCall('GET', `Bearer ${token}`)
    expect(http.status).to.equal(401)
    expect(http.body.code).to.equal('ERR_WRONG_AUDIENCE')
  })

  it('accepts a certificate-bound token over its own certificate, refuses it over another or none', async () => {
    const { token } = await paymentsToken(['payments:read'], true)
    expect((await server.grpcCall('GetCharge', token, billing)).subject).to.equal(BILLING)
    expect((await server.httpCall('GET', `Bearer ${token}`, billing)).status).to.equal(200)

    const other = await expectGrpcError(server.grpcCall('GetCharge', token, agent))
    expect(other.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(other.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_CERTIFICATE_MISMATCH'])
    expect(other.details).to.equal('token is bound to another client certificate than the one presented')
    const otherHttp = await server.httpCall('GET', `Bearer ${token}`, agent)
    expect(otherHttp.status).to.equal(401)
    expect(otherHttp.body.code).to.equal('ERR_CERTIFICATE_MISMATCH')

    const none = await server.httpCall('GET', `Bearer ${token}`)
    expect(none.status).to.equal(401)
    expect(none.body.error_description).to.equal(
      'token is bound to a client certificate, but the connection presented none',
    )
  })

  it('answers no token with 401 and a bare challenge, a malformed header with 400 invalid_request', async () => {
    const none = await server.httpCall('GET', undefined)
    expect(none.status).to.equal(401)
    expect(none.wwwAuthenticate).to.equal('Bearer realm="payments"')
    const basic = await server.httpCall('GET', 'Basic dXNlcjpwYXNz')
    expect(basic.status).to.equal(400)
    expect(basic.wwwAuthenticate).to.equal(
      'Bearer realm="payments", error="invalid_request", error_description="authorization must be \'Bearer <token>\' (got scheme \'Basic\')"',
    )
    const noneGrpc = await expectGrpcError(server.grpcCall('GetCharge', undefined, caller))
    expect(noneGrpc.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(noneGrpc.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_NO_CREDENTIALS'])
  })

  it('keeps the revocation across the verifier restart: a new verifier replays it before accepting anything', async () => {
    const { token, token_id } = await paymentsToken()
    await revoke({ token_id })
    const fresh = paymentsVerifier(t, await t.pki.spiffe('payments-api-2', PAYMENTS_API))
    try {
      await fresh.ready()
      const err = await fresh.verify(token).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err?.message).to.equal(`token ${token_id} has been revoked`)
      await eventually(() => fresh.revocationCount >= 1, 5_000, 'replayed revocations')
    } finally {
      fresh.close()
    }
  })
})
