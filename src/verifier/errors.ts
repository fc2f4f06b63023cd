import type { BrokerErrorCode } from '../errors/codes.js'

/** The codes a verifier refuses with: a subset of the broker's one error-code list. */
export type VerifierErrorCode = Extract<
  BrokerErrorCode,
  | 'ERR_NO_CREDENTIALS'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_WRONG_AUDIENCE'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_CERTIFICATE_MISMATCH'
  | 'ERR_KEYS_UNAVAILABLE'
  | 'ERR_REVOCATIONS_UNAVAILABLE'
>

/**
 * The RFC 6750 `error` an adapter sends for a refusal (`invalid_request` → 400, `invalid_token` → 401,
 * `insufficient_scope` → 403); `undefined` for a request that carried no token at all (401 without an
 * error code), and `temporarily_unavailable` when the verifier cannot decide (503).
 */
export type BearerErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'

/**
 * Every refusal of {@link Verifier.verify}. Switch on `code` (stable, from the broker's error list) or
 * test with `instanceof` on a subclass; `message` says what to fix and never contains the token.
 *
 * @example
 * ```ts
 * import { InsufficientScope, VerificationError } from 'keybroker/verifier'
 *
 * try {
 *   await verifier.verify(token, { scopes: ['payments:write'] })
 * } catch (err) {
 *   if (err instanceof InsufficientScope) console.warn('missing', err.missing)
 *   else if (err instanceof VerificationError) console.warn(err.code, err.message)
 *   else throw err
 * }
 * ```
 */
export abstract class VerificationError extends Error {
  abstract readonly code: VerifierErrorCode
  /** What an HTTP or gRPC adapter tells the caller (RFC 6750). */
  abstract readonly bearerError: BearerErrorCode | undefined

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/**
 * No token was presented (an adapter found no `authorization: Bearer …`).
 *
 * @example
 * ```ts
 * if (err instanceof MissingToken) res.setHeader('www-authenticate', 'Bearer realm="payments"')
 * ```
 */
export class MissingToken extends VerificationError {
  readonly code = 'ERR_NO_CREDENTIALS' as const
  readonly bearerError = undefined
}

/**
 * Not a token this verifier accepts: unparseable, too large, `alg` none or HS*, not `typ: at+jwt`, another
 * issuer, a signature that does not verify against the broker's keys, not valid yet, or claims of the
 * wrong shape. A malformed `authorization` header is one too (`bearerError: invalid_request`).
 *
 * @example
 * ```ts
 * if (err instanceof Malformed) log.info({ reason: err.message }, 'refused a token')
 * ```
 */
export class Malformed extends VerificationError {
  readonly code = 'ERR_TOKEN_INVALID' as const
  readonly bearerError: 'invalid_token' | 'invalid_request'

  constructor(message: string, options?: { cause?: unknown; request?: boolean }) {
    super(message, options)
    this.bearerError = options?.request ? 'invalid_request' : 'invalid_token'
  }
}

/**
 * The token's `exp` has passed (beyond the clock tolerance).
 *
 * @example
 * ```ts
 * if (err instanceof TokenExpired) await client.token({ audience: 'payments-api' }) // get a fresh one
 * ```
 */
export class TokenExpired extends VerificationError {
  readonly code = 'ERR_TOKEN_EXPIRED' as const
  readonly bearerError = 'invalid_token' as const
}

/**
 * A genuine broker token, but for another service: its `aud` names none of the verifier's audiences.
 *
 * @example
 * ```ts
 * if (err instanceof WrongAudience) console.warn(`token is for ${err.audience.join(', ')}`)
 * ```
 */
export class WrongAudience extends VerificationError {
  readonly code = 'ERR_WRONG_AUDIENCE' as const
  readonly bearerError = 'invalid_token' as const

  constructor(
    message: string,
    /** The audiences the token is for. */
    readonly audience: string[],
  ) {
    super(message)
  }
}

/**
 * The token is valid but lacks a scope the call requires; `missing` names them.
 *
 * @example
 * ```ts
 * if (err instanceof InsufficientScope) res.status(403).json({ missing: err.missing })
 * ```
 */
export class InsufficientScope extends VerificationError {
  readonly code = 'ERR_INSUFFICIENT_SCOPE' as const
  readonly bearerError = 'insufficient_scope' as const

  constructor(
    message: string,
    /** The required scopes the token does not carry. */
    readonly missing: string[],
  ) {
    super(message)
  }
}

/**
 * The token, a token it was delegated from, its subject, or its signing key has been revoked.
 *
 * @example
 * ```ts
 * if (err instanceof Revoked) alert(`revoked token ${err.tokenId} was presented`)
 * ```
 */
export class Revoked extends VerificationError {
  readonly code = 'ERR_TOKEN_REVOKED' as const
  readonly bearerError = 'invalid_token' as const

  constructor(
    message: string,
    /** The presented token's `jti` (not secret: it identifies, it does not authorize). */
    readonly tokenId: string | undefined,
  ) {
    super(message)
  }
}

/**
 * A certificate-bound token (`cnf.x5t#S256`, RFC 8705) shown over a connection without that client
 * certificate: someone else's stolen token, or the right token over the wrong connection.
 *
 * @example
 * ```ts
 * if (err instanceof CertificateMismatch) log.warn('a bound token came over another certificate')
 * ```
 */
export class CertificateMismatch extends VerificationError {
  readonly code = 'ERR_CERTIFICATE_MISMATCH' as const
  readonly bearerError = 'invalid_token' as const
}

/**
 * The verifier cannot decide, so it refuses (fails closed): the broker's keys could not be fetched, the
 * revocation feed has not completed its first replay, or it has been down longer than `maxStalenessMs`.
 *
 * @example
 * ```ts
 * if (err instanceof VerifierUnavailable) res.setHeader('retry-after', '1')
 * ```
 */
export class VerifierUnavailable extends VerificationError {
  readonly bearerError = 'temporarily_unavailable' as const

  constructor(
    readonly code: 'ERR_KEYS_UNAVAILABLE' | 'ERR_REVOCATIONS_UNAVAILABLE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
