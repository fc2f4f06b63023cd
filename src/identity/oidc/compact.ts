import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import { BrokerError } from '../../errors.js'
import { isForbiddenAlgorithm } from './algorithms.js'

export const MAX_TOKEN_BYTES = 16 * 1024

const BASE64URL = /^[A-Za-z0-9_-]*$/

/** What can be read from a workload token before its signature is checked. Never trust it for more than routing. */
export interface UnverifiedToken {
  header: ProtectedHeaderParameters
  payload: JWTPayload
  alg: string
  iss: string
}

/**
 * Cheap structural checks, then an unverified decode of the header and `iss`, so the caller can
 * pick the trusted issuer. Size is checked first so an oversized token costs no parsing.
 */
export function inspectCompactJws(token: unknown): UnverifiedToken {
  if (typeof token !== 'string' || token.length === 0) throw invalid('token is empty')
  if (token.length > MAX_TOKEN_BYTES || Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) {
    throw invalid('token is larger than 16 KiB')
  }
  const parts = token.split('.')
  if (parts.length === 5) {
    throw invalid('token is a JWE (encrypted JWT); a signed JWT (compact JWS) is required')
  }
  if (parts.length !== 3 || parts.some((p) => !BASE64URL.test(p)) || parts[0] === '' || parts[1] === '') {
    throw invalid('token is not a JWT: expected a compact JWS (three base64url parts separated by dots)')
  }

  let header: ProtectedHeaderParameters
  let payload: JWTPayload
  try {
    header = decodeProtectedHeader(token)
  } catch {
    throw invalid('token header is not a base64url-encoded JSON object')
  }
  try {
    payload = decodeJwt(token)
  } catch {
    throw invalid('token payload is not a base64url-encoded JSON object')
  }

  const alg = header.alg
  if (typeof alg !== 'string' || alg === '') throw invalid('token header has no alg')
  if (isForbiddenAlgorithm(alg)) {
    throw invalid(`token alg ${safe(alg)} is never accepted (none and HS* are refused)`)
  }
  if (parts[2] === '') throw invalid('token is unsigned (empty signature)')
  if (header.kid !== undefined && typeof header.kid !== 'string') {
    throw invalid('token header kid must be a string')
  }
  if (header.enc !== undefined) throw invalid('token header has enc: a JWE is not accepted')
  const iss = payload.iss
  if (typeof iss !== 'string' || iss === '') throw invalid('token has no iss claim')
  return { header, payload, alg, iss }
}

/** Quote and shorten a value taken from an unverified token so it is safe to put in a message or log. */
export function safe(value: string, max = 100): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value)
}

function invalid(message: string): BrokerError {
  return new BrokerError('ERR_TOKEN_INVALID', message)
}
