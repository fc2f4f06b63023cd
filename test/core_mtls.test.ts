import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { StoredExchange } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { ListExchangesRequest } from '../src/generated/keybroker/v1/ListExchangesRequest.js'
import type { ListExchangesResponse__Output } from '../src/generated/keybroker/v1/ListExchangesResponse.js'
import { certificateThumbprint } from '../src/identity/mtls.js'
import { ADMIN, BILLING, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

/**
 * Issue 2, bad client certificates: each comes out UNAUTHENTICATED with a reason, an
 * `auth_failure` row naming the peer (and the certificate's thumbprint when one was offered),
 * and no token anywhere.
 */
describe('core: mTLS caller identity refusals', () => {
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start()
  })
  after(() => t.close())

  const request: IssueTokenRequest = { audience: 'payments-api', scopes: ['payments:read'] }

  /** Call IssueToken with `cert` and return the error plus the audit row the broker wrote for it. */
  async function refusedIssue(
    cert: CertFiles | undefined,
  ): Promise<{ err: grpc.ServiceError; row: StoredExchange }> {
    const before = await t.broker.log.count()
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')
    const err = await expectGrpcError(issue(request))
    const exchangeId = String(err.metadata.get('keybroker-exchange-id')[0] ?? '')
    expect(exchangeId, 'refusal names its audit row').to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(await t.broker.log.count(), 'exactly one row for the refused call').to.equal(before + 1)
    const row = (await t.broker.log.tail(1))[0]!
    expect(row.id).to.equal(exchangeId)
    expect(row.token_id).to.equal(null)
    expect(row.expires_at).to.equal(null)
    return { err, row }
  }

  function expectAuthFailureRow(row: StoredExchange, reason: RegExp, cert?: CertFiles) {
    expect(row.kind).to.equal('auth_failure')
    expect(row.decision).to.equal('deny')
    expect(row.peer).to.match(/^127\.0\.0\.1:\d+$/)
    expect(row.reason).to.match(reason)
    expect(row.subject).to.equal(null)
    if (cert) expect(row.cert_thumbprint).to.equal(certificateThumbprint(cert.der))
  }

  it('refuses a client certificate from an unknown CA', async () => {
    const cert = await t.pki.workload('foreign', { uris: [BILLING] }, t.pki.foreignCa)
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.match(
      /^client certificate rejected: it is not signed by a CA in tls\.client_ca_files/,
    )
    expectAuthFailureRow(row, /not signed by a CA in tls\.client_ca_files/, cert)
  })

  it('refuses an expired client certificate', async () => {
    const cert = await t.pki.workload('expired', {
      uris: [BILLING],
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate rejected: the certificate has expired (CERT_HAS_EXPIRED)',
    )
    expectAuthFailureRow(row, /CERT_HAS_EXPIRED/, cert)
  })

  it('refuses a certificate that is not valid yet', async () => {
    const cert = await t.pki.workload('future', {
      uris: [BILLING],
      notBefore: new Date(Date.now() + 86_400_000),
      notAfter: new Date(Date.now() + 10 * 86_400_000),
    })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate rejected: the certificate is not valid yet (CERT_NOT_YET_VALID)',
    )
    expectAuthFailureRow(row, /CERT_NOT_YET_VALID/, cert)
  })

  it('refuses a certificate with no SPIFFE ID', async () => {
    const cert = await t.pki.workload('no-spiffe', { uris: ['https://example.org/billing'] })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate has no SPIFFE ID: expected one URI SAN of the form spiffe://trust-domain/path',
    )
    expectAuthFailureRow(row, /no SPIFFE ID/)
  })

  it('refuses a certificate with two SPIFFE IDs', async () => {
    const cert = await t.pki.workload('two-spiffe', {
      uris: [BILLING, 'spiffe://example.org/ns/prod/sa/other'],
    })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate has 2 URI SANs; a workload certificate (X509-SVID) must carry exactly one, its SPIFFE ID',
    )
    expectAuthFailureRow(row, /2 URI SANs/, cert)
  })

  // Review reproduction: an https: URI SAN next to the admin's SPIFFE ID was accepted as the admin.
  it('review: refuses two URI SANs (https + the admin SPIFFE ID) on Admin and Broker calls', async () => {
    const cert = await t.pki.workload('https-plus-admin', {
      uris: ['https://x.example/a', ADMIN],
    })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.match(/^client certificate has 2 URI SANs/)
    expectAuthFailureRow(row, /2 URI SANs/, cert)

    // the Admin service refuses it the same way, with its own auth_failure row
    const before = await t.broker.log.count()
    const list = unary<ListExchangesRequest, ListExchangesResponse__Output>(
      t.adminClient(cert),
      'ListExchanges',
    )
    const adminErr = await expectGrpcError(list({ limit: 1 }))
    expect(adminErr.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(adminErr.details).to.match(/^client certificate has 2 URI SANs/)
    expect(await t.broker.log.count()).to.equal(before + 1)
    const adminRow = (await t.broker.log.tail(1))[0]!
    expectAuthFailureRow(adminRow, /2 URI SANs/, cert)
    expect(adminRow.subject).to.equal(null)
  })

  it('review: refuses a bare trust-domain SPIFFE ID (spiffe://example.org, empty path)', async () => {
    const cert = await t.pki.workload('bare-trust-domain', { uris: ['spiffe://example.org'] })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate names the trust domain spiffe://example.org itself; a workload SPIFFE ID has a path (spiffe://example.org/...)',
    )
    expectAuthFailureRow(row, /names the trust domain spiffe:\/\/example\.org itself/, cert)
  })

  it('refuses a malformed SPIFFE ID', async () => {
    const cert = await t.pki.workload('bad-spiffe', { uris: ['spiffe://Example.ORG/ns/../billing'] })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal('client certificate URI SAN is not a valid SPIFFE ID')
    expectAuthFailureRow(row, /not a valid SPIFFE ID/)
  })

  it('refuses a leaf that is a CA (basicConstraints CA:true)', async () => {
    const cert = await t.pki.workload('ca-leaf', { uris: [BILLING], ca: true })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    // OpenSSL refuses it first: a CA certificate carries no clientAuth extendedKeyUsage.
    // (identityFromCertificate's own CA check is covered in unit_mtls.test.ts.)
    expect(err.details).to.equal(
      'client certificate rejected: it is not a TLS client certificate (extendedKeyUsage lacks clientAuth) (INVALID_PURPOSE)',
    )
    expectAuthFailureRow(row, /INVALID_PURPOSE/, cert)
  })

  it('refuses a leaf with keyCertSign but no CA flag', async () => {
    const cert = await t.pki.workload('keycertsign-leaf', { uris: [BILLING], keyCertSignOnly: true })
    const { err, row } = await refusedIssue(cert)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'client certificate is a CA certificate (basicConstraints CA or keyCertSign); present a workload leaf certificate',
    )
    expectAuthFailureRow(row, /is a CA certificate/)
  })

  it('refuses a caller with no client certificate at all (server-authenticated TLS only)', async () => {
    const { err, row } = await refusedIssue(undefined)
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.equal(
      'no client certificate and no bearer token: connect with a workload certificate (mTLS) or send authorization: Bearer <workload JWT>',
    )
    expectAuthFailureRow(row, /no client certificate and no bearer token/)
    expect(row.cert_thumbprint).to.equal(null)
  })

  it('WhoAmI refuses the same way (and is audited)', async () => {
    const cert = await t.pki.workload('whoami-foreign', { uris: [BILLING] }, t.pki.foreignCa)
    const whoami = unary<object, unknown>(t.brokerClient(cert), 'WhoAmI')
    const err = await expectGrpcError(whoami({}))
    expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
    expect(err.details).to.match(/^client certificate rejected: it is not signed by a CA/)
    const row = (await t.broker.log.tail(1))[0]!
    expect(row.kind).to.equal('auth_failure')
    expect(JSON.parse(JSON.stringify(row.detail)).call).to.equal('whoami')
  })

  it('audits a TLS handshake that never became a call (garbage bytes) with the peer address', async () => {
    const before = await t.broker.log.count()
    const localPort = await new Promise<number>((resolve, reject) => {
      const socket = netConnect(t.broker.grpcPort, '127.0.0.1', () => {
        const port = socket.localPort!
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        socket.on('close', () => resolve(port))
      })
      socket.on('error', () => {})
      socket.setTimeout(5_000, () => reject(new Error('server kept a garbage connection open')))
    })
    const row = await waitForRow(t, before, (r) => r.peer === `127.0.0.1:${localPort}`)
    expect(row.kind).to.equal('auth_failure')
    expect(row.decision).to.equal('deny')
    expect(row.reason).to.match(/^TLS handshake failed: /)
  })

  it('audits a TLS client that offers only http/1.1 by ALPN (handshake fails) with the peer address', async () => {
    const before = await t.broker.log.count()
    const outcome = await new Promise<{ port: number; error?: string }>((resolve) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: t.broker.grpcPort,
        servername: 'localhost',
        ca: t.pki.ca.certPem,
        ALPNProtocols: ['http/1.1'],
      })
      let port = 0
      socket.on('connect', () => {
        port = socket.localPort!
      })
      socket.on('secureConnect', () => {
        socket.destroy()
        resolve({ port })
      })
      socket.on('error', (err) => resolve({ port, error: err.message }))
    })
    // Node 20's TLS server answers a client with no common ALPN protocol with a fatal alert.
    expect(outcome.error).to.match(/no application protocol/)
    const row = await waitForRow(t, before, (r) => r.peer === `127.0.0.1:${outcome.port}`)
    expect(row.kind).to.equal('auth_failure')
    expect(row.decision).to.equal('deny')
    expect(row.reason).to.equal('TLS handshake failed: ERR_SSL_NO_APPLICATION_PROTOCOL')
  })

  it('keeps serving a good caller after all of the above', async () => {
    const billing = await t.pki.spiffe('billing', BILLING)
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
    const res = await issue(request)
    expect(res.token).to.be.a('string')
    const row = (await t.broker.log.findByTokenId(res.token_id))[0]!
    expect(row.subject).to.equal(BILLING)
    expect(row.cert_thumbprint).to.equal(certificateThumbprint(billing.der))
  })
})

/** Handshake failures are audited asynchronously (no call is waiting on them): poll the store briefly. */
async function waitForRow(
  t: TestBroker,
  afterCount: number,
  match: (row: StoredExchange) => boolean,
): Promise<StoredExchange> {
  const deadline = Date.now() + 5_000
  for (;;) {
    const row = (await t.broker.log.tail((await t.broker.log.count()) - afterCount + 1)).find(match)
    if (row) return row
    if (Date.now() > deadline) throw new Error('no audit row for the failed handshake')
    await new Promise((r) => setTimeout(r, 20))
  }
}
