import { expect } from 'chai'
import { createCertificateAuthority } from '../src/cli/dev_pki.js'
import { BrokerError } from '../src/errors.js'
import { identityFromCertificate } from '../src/identity/mtls.js'

/**
 * OpenSSL already refuses most CA certificates offered as client certificates (no clientAuth
 * usage: see core_mtls.test.ts); this is the broker's own check behind it.
 */
describe('unit: identityFromCertificate refuses CA certificates', () => {
  it('refuses a basicConstraints CA certificate even when it carries one SPIFFE ID', async () => {
    const ca = await createCertificateAuthority('workload-ish CA', {
      uris: ['spiffe://example.org/ns/prod/sa/billing'],
    })
    expect(() => identityFromCertificate(new Uint8Array(ca.cert.rawData)))
      .to.throw(BrokerError)
      .with.property(
        'message',
        'client certificate is a CA certificate (basicConstraints CA or keyCertSign); present a workload leaf certificate',
      )
  })
})
