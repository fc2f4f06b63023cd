/**
 * keybroker verifier (`keybroker/verifier`, later `@keybroker/client/verifier`): for resource servers that
 * receive broker tokens. Verifies them against the broker's published keys, follows the broker's
 * revocation feed, and adapts to grpc-js and Node http/Express. Shares only the proto and the error-code
 * list with the broker; runtime dependencies are jose and @grpc/grpc-js.
 */
export type { ActorClaim, BrokerTokenClaims, TaskClaim, VerifiedToken } from './claims.js'
export { createVerifier, type Verifier, type VerifierOptions, type VerifyOptions } from './create_verifier.js'
export {
  type BearerErrorCode,
  CertificateMismatch,
  InsufficientScope,
  Malformed,
  MissingToken,
  Revoked,
  TokenExpired,
  VerificationError,
  type VerifierErrorCode,
  VerifierUnavailable,
  WrongAudience,
} from './errors.js'
export { callPrincipal, type GrpcAuthOptions, grpcBearerInterceptor } from './grpc_interceptor.js'
export {
  type AuthenticatedRequest,
  bearerMiddleware,
  type HttpAuthOptions,
  requestPrincipal,
} from './http_middleware.js'
export type { RevocationFeedOptions } from './revocation_feed.js'
