import { errors } from 'jose'
import { BrokerError, toBrokerError } from '../../errors.js'
import type { TrustedIssuer } from '../oidc.js'
import { safe } from './compact.js'

/** Translate what jose throws into BrokerErrors with messages written for a person. Never quotes the token. */
export function fromJoseError(err: unknown, trust: TrustedIssuer, kid: string | undefined): BrokerError {
  if (err instanceof BrokerError) return err
  if (err instanceof errors.JWTExpired) {
    if (err.claim === 'iat') {
      return new BrokerError(
        'ERR_TOKEN_EXPIRED',
        `token was issued more than ${trust.maxTokenAgeSeconds} s ago (max token age for issuer ${trust.name})`,
      )
    }
    return new BrokerError('ERR_TOKEN_EXPIRED', `token expired at ${isoOf(err.payload.exp)}`)
  }
  if (err instanceof errors.JWTClaimValidationFailed) return claimError(err, trust)
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    const key = kid === undefined ? 'key' : `key ${safe(kid)}`
    return invalid(`token signature does not verify with issuer ${trust.name}'s ${key}`)
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return invalid(`token alg is not allowed for issuer ${trust.name}`)
  if (err instanceof errors.JOSENotSupported)
    return invalid(`token uses an unsupported algorithm or header: ${err.message}`)
  // jose's own messages are fixed strings, so they are safe to pass on.
  if (err instanceof errors.JOSEError) return invalid(`token is malformed: ${err.message}`)
  return toBrokerError(err)
}

function claimError(
  err: InstanceType<typeof errors.JWTClaimValidationFailed>,
  trust: TrustedIssuer,
): BrokerError {
  const { claim, reason, payload } = err
  if (reason === 'missing') return invalid(`token has no ${claim} claim`)
  if (reason === 'invalid') return invalid(`token ${claim} claim must be a number`)
  switch (claim) {
    case 'aud':
      return invalid(`token aud does not contain the audience ${safe(trust.audience)}`)
    case 'iss':
      return invalid(`token iss does not match issuer ${trust.name}`)
    case 'nbf':
      return invalid(
        `token is not valid before ${isoOf(payload.nbf)} (beyond the ${trust.leewaySeconds} s leeway)`,
      )
    case 'iat':
      return invalid('token iat is in the future')
    default:
      return invalid(`token ${claim} claim check failed`)
  }
}

function isoOf(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds)
    ? new Date(seconds * 1000).toISOString()
    : 'an invalid time'
}

function invalid(message: string): BrokerError {
  return new BrokerError('ERR_TOKEN_INVALID', message)
}
