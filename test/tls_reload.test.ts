import { createHash, X509Certificate } from 'node:crypto'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import * as tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { createCertificateAuthority, issueCertificate } from '../src/cli/dev_pki.js'
import type { WhoAmIRequest } from '../src/generated/keybroker/v1/WhoAmIRequest.js'
import type { WhoAmIResponse__Output } from '../src/generated/keybroker/v1/WhoAmIResponse.js'
import { BILLING, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'

/** SHA-256 of the certificate a new TLS connection to `port` is served. */
function servedCertificate(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const raw = socket.getPeerCertificate().raw
      socket.end()
      resolve(createHash('sha256').update(raw).digest('hex'))
    })
    socket.on('error', reject)
  })
}

const derHash = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')

describe('TLS material reload without restart', () => {
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start()
  })
  after(() => t.close())

  it('a rotated server certificate is served on new connections of both listeners', async () => {
    const before = await servedCertificate(t.broker.grpcPort, t.pki.ca.certPem)
    expect(before).to.equal(derHash(t.pki.server.certPem))
    const rotated = await issueCertificate(t.pki.ca, {
      commonName: 'localhost',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      usage: 'server',
    })
    // cert-manager style: same paths, new content
    writeFileSync(t.pki.server.key, rotated.keyPem)
    writeFileSync(t.pki.server.cert, rotated.certPem)
    expect(t.broker.reloadTls()).to.deep.equal({ ok: true, changed: true })
    const expected = derHash(rotated.certPem)
    expect(await servedCertificate(t.broker.grpcPort, t.pki.ca.certPem)).to.equal(expected)
    expect(await servedCertificate(t.broker.httpPort, t.pki.ca.certPem)).to.equal(expected)
    expect(t.broker.reloadTls()).to.deep.equal({ ok: true, changed: false })
  })

  it('a certificate that does not match its key is refused and the current one keeps serving', async () => {
    const serving = await servedCertificate(t.broker.grpcPort, t.pki.ca.certPem)
    const goodCert = readFileSync(t.pki.server.cert, 'utf8')
    const other = await issueCertificate(t.pki.ca, {
      commonName: 'localhost',
      dns: ['localhost'],
      usage: 'server',
    })
    writeFileSync(t.pki.server.cert, other.certPem) // key file unchanged: a half-finished rotation
    try {
      const result = t.broker.reloadTls()
      expect(result.ok).to.equal(false)
      expect(result.problem).to.match(/key values mismatch|private key does not match/i)
      expect(await servedCertificate(t.broker.grpcPort, t.pki.ca.certPem)).to.equal(serving)
      expect(t.logs.join('')).to.include('tls reload refused')
    } finally {
      writeFileSync(t.pki.server.cert, goodCert)
    }
  })

  it('a CA appended to client_ca_files admits its workloads after reload, not before', async () => {
    const newCa = await createCertificateAuthority('second workload CA')
    const fromNewCa = await t.pki.workload('billing-newca', { uris: [BILLING] }, newCa)
    const whoami = unary<WhoAmIRequest, WhoAmIResponse__Output>(t.brokerClient(fromNewCa), 'WhoAmI')
    const refused = await expectGrpcError(whoami({}))
    expect(refused.code).to.equal(grpc.status.UNAUTHENTICATED)
    appendFileSync(t.pki.caFile, `\n${newCa.certPem}`)
    expect(t.broker.reloadTls().changed).to.equal(true)
    const again = unary<WhoAmIRequest, WhoAmIResponse__Output>(t.brokerClient(fromNewCa), 'WhoAmI')
    expect((await again({})).subject).to.equal(BILLING)
  })
})
