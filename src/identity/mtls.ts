import 'reflect-metadata'
import { createHash } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { BrokerError } from '../errors.js'
import type { Identity } from './identity.js'
import { parseSpiffeId } from './spiffe.js'

/** base64url SHA-256 of a certificate's DER: the RFC 8705 `x5t#S256` value. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url')
}

/**
 * Turn a TLS-verified leaf client certificate into an Identity.
 * The chain was already verified by the TLS layer; here we only read the SPIFFE ID and refuse
 * certificates that cannot name exactly one workload.
 */
export function identityFromCertificate(der: Uint8Array): Identity {
  let cert: x509.X509Certificate
  try {
    cert = new x509.X509Certificate(new Uint8Array(der))
  } catch (cause) {
    throw new BrokerError('ERR_CERTIFICATE_INVALID', 'client certificate could not be parsed', { cause })
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  const usage = cert.getExtension(x509.KeyUsagesExtension)
  if (basic?.ca || (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0)) {
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      'client certificate is a CA certificate (basicConstraints CA or keyCertSign); present a workload leaf certificate',
    )
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)
  const uris = (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value)
  // An X509-SVID carries exactly one URI SAN. With several, which one names the caller would be a
  // guess (an https: SAN next to an admin's spiffe: SAN was once taken as that admin), so refuse.
  if (uris.length > 1) {
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      `client certificate has ${uris.length} URI SANs; a workload certificate (X509-SVID) must carry exactly one, its SPIFFE ID`,
    )
  }
  const uri = uris[0]
  if (uri === undefined || !uri.toLowerCase().startsWith('spiffe://')) {
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      'client certificate has no SPIFFE ID: expected one URI SAN of the form spiffe://trust-domain/path',
    )
  }
  const parsed = parseSpiffeId(uri)
  if (!parsed) {
    throw new BrokerError('ERR_CERTIFICATE_INVALID', `client certificate URI SAN is not a valid SPIFFE ID`)
  }
  if (parsed.path === '') {
    // SPIFFE reserves the bare trust-domain ID for the trust domain itself, never a workload.
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      `client certificate names the trust domain spiffe://${parsed.trustDomain} itself; a workload SPIFFE ID has a path (spiffe://${parsed.trustDomain}/...)`,
    )
  }
  return {
    subject: parsed.id,
    method: 'mtls',
    issuer: `spiffe://${parsed.trustDomain}`,
    attributes: {},
    certThumbprint: certificateThumbprint(der),
  }
}

/**
 * Parsing X.509 costs far more than signing a token, and a workload reuses its certificate
 * for thousands of calls: cache the outcome (identity or refusal) by thumbprint.
 */
export class CertificateIdentityCache {
  private readonly entries = new Map<string, Identity | BrokerError>()
  /**
   * The transport hands us the same DER buffer for every call on a connection: remembering the
   * outcome per buffer skips even the SHA-256 of the lookup key. Entries go with the connection.
   */
  private readonly byBuffer = new WeakMap<Uint8Array, Identity | BrokerError>()
  constructor(private readonly maxEntries = 10_000) {}

  identify(der: Uint8Array): Identity {
    const entry = this.byBuffer.get(der) ?? this.lookup(der)
    this.byBuffer.set(der, entry)
    if (entry instanceof BrokerError) throw new BrokerError(entry.code, entry.message)
    return entry
  }

  private lookup(der: Uint8Array): Identity | BrokerError {
    const key = certificateThumbprint(der)
    let entry = this.entries.get(key)
    if (entry === undefined) {
      try {
        entry = identityFromCertificate(der)
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err
        entry = err
      }
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
      this.entries.set(key, entry)
    }
    return entry
  }
}
