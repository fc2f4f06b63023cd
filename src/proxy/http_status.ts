import type { BrokerErrorCode } from '../errors.js'

/**
 * The one table from error codes to HTTP status for the proxy (src/server/status.ts is gRPC's).
 * 499 is the de-facto "client closed request" status: it is only ever written to the audit log.
 */
export const HTTP_STATUS: Record<BrokerErrorCode, number> = {
  ERR_NO_CREDENTIALS: 401,
  ERR_CERTIFICATE_INVALID: 401,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_ISSUER_UNKNOWN: 401,
  ERR_INSECURE_TRANSPORT: 401,
  ERR_WRONG_AUDIENCE: 401,
  ERR_CERTIFICATE_MISMATCH: 401,
  ERR_INSUFFICIENT_SCOPE: 403,
  ERR_NO_GRANT: 403,
  ERR_AUDIENCE_NOT_GRANTED: 403,
  ERR_SCOPE_NOT_GRANTED: 403,
  ERR_SECRET_NOT_GRANTED: 403,
  ERR_DELEGATION_DENIED: 403,
  ERR_NOT_ADMIN: 403,
  ERR_INVALID_ARGUMENT: 400,
  ERR_REQUEST_TOO_LARGE: 413,
  ERR_NOT_FOUND: 404,
  ERR_BUDGET_EXHAUSTED: 429,
  ERR_RATE_LIMITED: 429,
  ERR_SUBJECT_BLOCKED: 403,
  ERR_FAILED_PRECONDITION: 500,
  // approvals are a gRPC flow; the proxy never parks a request, but the table covers every code
  ERR_APPROVAL_PENDING: 409,
  ERR_APPROVAL_CLOSED: 409,
  ERR_TOO_MANY_APPROVALS: 429,
  ERR_NOT_REQUESTER: 403,
  ERR_NOT_APPROVER: 403,
  ERR_CANCELLED: 499,
  ERR_WATCHER_TOO_SLOW: 429,
  ERR_SHUTTING_DOWN: 503,
  ERR_ISSUER_UNAVAILABLE: 503,
  ERR_AUDIT_UNAVAILABLE: 503,
  ERR_UPSTREAM_UNAVAILABLE: 502,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_UPSTREAM_REFUSED: 502,
  // the route's key is missing at its secret store: a gateway fault, not the broker's (500) nor the API's (404)
  ERR_UPSTREAM_NOT_FOUND: 502,
  ERR_KEYS_UNAVAILABLE: 503,
  ERR_REVOCATIONS_UNAVAILABLE: 503,
  ERR_KEY_STORE_CORRUPT: 500,
  ERR_CONFIG: 500,
  ERR_UNIMPLEMENTED: 501,
  ERR_INTERNAL: 500,
}

/** The `error` field of a JSON error body: the code without its prefix (`ERR_TOKEN_EXPIRED` → `token_expired`). */
export function errorName(code: BrokerErrorCode): string {
  return code.replace(/^ERR_/, '').toLowerCase()
}
