import { createLocalJWKSet, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from 'jose'
import type { Clock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { AccessTokenClaims } from './mint.js'
import type { SigningKeys } from './signing_keys.js'

const MAX_TOKEN_BYTES = 16 * 1024

export interface VerifyAccessTokenOptions {
  keys: SigningKeys
  issuer: string
  clock: Clock
  /** When given, `aud` must equal it. */
  audience?: string
  /** Revocation check (the token and its delegation ancestors). */
  isRevoked?: (claims: AccessTokenClaims) => boolean
}

let cachedJwks: { text: string; getKey: JWTVerifyGetKey } | undefined

function localKeySet(keys: SigningKeys): JWTVerifyGetKey {
  const text = keys.jwksText()
  if (cachedJwks?.text !== text) cachedJwks = { text, getKey: createLocalJWKSet(keys.jwks()) }
  return cachedJwks.getKey
}

/**
 * Verify a token this broker minted (presented back to the proxy or to DelegateToken):
 * signature against the broker's published keys, `typ: at+jwt`, `iss`, `exp`/`nbf`, optional
 * `aud`, then revocation. Messages say what failed, never echo the token.
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyAccessTokenOptions,
): Promise<AccessTokenClaims> {
  if (token.length === 0) throw new BrokerError('ERR_TOKEN_INVALID', 'token is empty')
  if (token.length > MAX_TOKEN_BYTES)
    throw new BrokerError('ERR_TOKEN_INVALID', 'token is larger than 16 KiB')
  let payload: AccessTokenClaims
  try {
    const result = await jwtVerify(token, localKeySet(options.keys), {
      issuer: options.issuer,
      audience: options.audience,
      typ: 'at+jwt',
      algorithms: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
      currentDate: new Date(options.clock.now()),
      clockTolerance: 5,
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'aud'],
    })
    payload = result.payload as unknown as AccessTokenClaims
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) {
      const kid = headerKid(token)
      // a compromised key left JWKS: say so, rather than "not a key this broker publishes"
      if (kid !== undefined && options.keys.isRetired(kid))
        throw new BrokerError('ERR_TOKEN_REVOKED', `token was signed by key ${kid}, which has been retired`)
    }
    throw describeJoseError(err)
  }
  if (options.isRevoked?.(payload))
    throw new BrokerError('ERR_TOKEN_REVOKED', `token ${payload.jti} has been revoked`)
  return payload
}

function headerKid(token: string): string | undefined {
  try {
    const { kid } = decodeProtectedHeader(token)
    return typeof kid === 'string' ? kid : undefined
  } catch {
    return undefined
  }
}

function describeJoseError(err: unknown): BrokerError {
  if (err instanceof errors.JWTExpired) return new BrokerError('ERR_TOKEN_EXPIRED', 'token has expired')
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new BrokerError('ERR_TOKEN_INVALID', `token claim "${err.claim}" is not acceptable: ${err.reason}`)
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new BrokerError('ERR_TOKEN_INVALID', 'token signature does not verify against the broker keys')
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new BrokerError('ERR_TOKEN_INVALID', 'token was not signed by a key this broker publishes')
  }
  if (err instanceof errors.JOSEError)
    return new BrokerError('ERR_TOKEN_INVALID', `token is not a valid broker token (${err.code})`)
  return new BrokerError('ERR_TOKEN_INVALID', 'token is not a valid broker token')
}
