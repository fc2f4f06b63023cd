import { BrokerError } from '../errors.js'
import type { ExchangeTrace } from '../telemetry/exchange_trace.js'
import type { Identity } from './identity.js'
import { type CertificateIdentityCache, certificateThumbprint } from './mtls.js'

/** What the transport learned about the caller, before anything is believed. */
export interface CallerCredentials {
  /** Remote address, for the audit row. */
  peer: string
  /** DER of a client certificate that the TLS layer verified against the client CA bundles. */
  verifiedCertificate?: Uint8Array
  /** Set when a client certificate was presented but failed TLS verification (e.g. CERT_HAS_EXPIRED). */
  rejectedCertificate?: { reason: string; thumbprint: string }
  /** Raw `authorization` metadata value, if any. */
  authorization?: string
  /** True when the connection is TLS; bearer tokens are refused otherwise. */
  secureTransport: boolean
  /** Which front door the call came through; recorded as `detail.transport` on its audit row. */
  transport?: 'grpc' | 'oauth' | 'proxy'
  /** The caller's W3C `traceparent` / `tracestate` (gRPC metadata or HTTP header), unparsed. */
  traceparent?: string
  tracestate?: string
  /** This exchange's trace, opened by step 1 when tracing is on. */
  trace?: ExchangeTrace
}

export interface WorkloadTokenVerifierLike {
  verifyWorkloadToken(token: string): Promise<Identity>
}

/** Step 1 of every exchange: credentials → Identity, or a refusal saying what to fix. */
export async function authenticateCaller(
  creds: CallerCredentials,
  verifiers: { certificates: CertificateIdentityCache; workloadTokens?: WorkloadTokenVerifierLike },
): Promise<Identity> {
  if (creds.rejectedCertificate) {
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      `client certificate rejected: ${describeTlsError(creds.rejectedCertificate.reason)}`,
    )
  }
  if (creds.authorization !== undefined) {
    const token = bearerToken(creds.authorization)
    if (!creds.secureTransport) {
      throw new BrokerError('ERR_INSECURE_TRANSPORT', 'bearer tokens are only accepted over TLS')
    }
    if (!verifiers.workloadTokens) {
      throw new BrokerError('ERR_ISSUER_UNKNOWN', 'this broker trusts no OIDC issuers (trust.oidc is empty)')
    }
    const identity = await verifiers.workloadTokens.verifyWorkloadToken(token)
    // The token names the caller; a certificate on the same connection is recorded alongside it.
    if (creds.verifiedCertificate)
      return { ...identity, certThumbprint: certificateThumbprint(creds.verifiedCertificate) }
    return identity
  }
  if (creds.verifiedCertificate) return verifiers.certificates.identify(creds.verifiedCertificate)
  throw new BrokerError(
    'ERR_NO_CREDENTIALS',
    'no client certificate and no bearer token: connect with a workload certificate (mTLS) or send authorization: Bearer <workload JWT>',
  )
}

function bearerToken(header: string): string {
  const match = /^Bearer(?: (.*))?$/i.exec(header.trim())
  if (!match) throw new BrokerError('ERR_TOKEN_INVALID', 'authorization metadata must be "Bearer <token>"')
  const token = (match[1] ?? '').trim()
  if (token.length === 0)
    throw new BrokerError('ERR_TOKEN_INVALID', 'authorization metadata has an empty bearer token')
  return token
}

const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it is not signed by a CA in tls.client_ca_files',
  UNABLE_TO_GET_ISSUER_CERT: 'it is not signed by a CA in tls.client_ca_files',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it is not signed by a CA in tls.client_ca_files',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a CA the broker does not trust',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  CERT_REVOKED: 'the certificate is revoked',
  // OpenSSL's verdict for a certificate without clientAuth in extendedKeyUsage (e.g. a CA certificate)
  INVALID_PURPOSE: 'it is not a TLS client certificate (extendedKeyUsage lacks clientAuth)',
}

function describeTlsError(code: string): string {
  return `${TLS_REASONS[code] ?? 'TLS verification failed'} (${code})`
}
