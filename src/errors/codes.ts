/**
 * The one list of stable error codes, shared by the broker (`src/errors.ts`, mapped to gRPC status in
 * `src/server/status.ts`) and the client SDK (`src/client/errors.ts`, `@keybroker/client`).
 *
 * This module has no imports on purpose: the client package includes it as it is, so it must never
 * pull server code (or anything else) along.
 */

/** Codes the broker itself raises and sends to callers in the `keybroker-error-code` trailer. */
export const BROKER_ERROR_CODES = [
  // caller could not be authenticated
  'ERR_NO_CREDENTIALS',
  'ERR_CERTIFICATE_INVALID',
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_REVOKED',
  'ERR_ISSUER_UNKNOWN',
  'ERR_INSECURE_TRANSPORT',
  // a resource server's verifier refused a broker token (src/verifier)
  'ERR_WRONG_AUDIENCE',
  'ERR_CERTIFICATE_MISMATCH',
  // caller is known but not permitted
  'ERR_NO_GRANT',
  'ERR_AUDIENCE_NOT_GRANTED',
  'ERR_SCOPE_NOT_GRANTED',
  'ERR_SECRET_NOT_GRANTED',
  'ERR_DELEGATION_DENIED',
  'ERR_NOT_ADMIN',
  'ERR_INSUFFICIENT_SCOPE',
  // malformed request
  'ERR_INVALID_ARGUMENT',
  'ERR_REQUEST_TOO_LARGE',
  'ERR_NOT_FOUND',
  'ERR_FAILED_PRECONDITION',
  // a person must approve the request first (trailing metadata keybroker-approval-id; Broker.WaitForApproval)
  'ERR_APPROVAL_PENDING',
  // the approval named was denied, expired, already used, or decided (or may not be decided) by this caller
  'ERR_APPROVAL_CLOSED',
  // the requester already has as many pending approvals as allowed
  'ERR_TOO_MANY_APPROVALS',
  // WaitForApproval by someone other than the requester; a decision by someone not among the approvers
  'ERR_NOT_REQUESTER',
  'ERR_NOT_APPROVER',
  // agent guardrails: a token's max_uses spent, an identity over its rate, a blocked subject
  'ERR_BUDGET_EXHAUSTED',
  'ERR_RATE_LIMITED',
  'ERR_SUBJECT_BLOCKED',
  // the caller went away before the answer
  'ERR_CANCELLED',
  'ERR_WATCHER_TOO_SLOW',
  // broker or upstream faults
  'ERR_ISSUER_UNAVAILABLE',
  'ERR_AUDIT_UNAVAILABLE',
  'ERR_UPSTREAM_UNAVAILABLE',
  'ERR_UPSTREAM_TIMEOUT',
  'ERR_UPSTREAM_REFUSED',
  // the upstream answered that the configured secret does not exist there (Vault 404, AWS ResourceNotFound):
  // neither the caller's fault nor a broker fault, and not a misconfiguration the broker can see
  'ERR_UPSTREAM_NOT_FOUND',
  'ERR_KEYS_UNAVAILABLE',
  'ERR_REVOCATIONS_UNAVAILABLE',
  'ERR_KEY_STORE_CORRUPT',
  'ERR_CONFIG',
  'ERR_SHUTTING_DOWN',
  'ERR_UNIMPLEMENTED',
  'ERR_INTERNAL',
] as const

/** A code the broker raises (see {@link BROKER_ERROR_CODES}). */
export type BrokerErrorCode = (typeof BROKER_ERROR_CODES)[number]

/**
 * Codes only the client SDK raises, when no broker code applies:
 * `ERR_UNREACHABLE` (no broker answered before the deadline), `ERR_TRANSPORT` (another gRPC failure
 * without a broker code), `ERR_CLIENT_CONFIG` (a bad option or an unreadable file),
 * `ERR_CLIENT_CLOSED` (a call after `close()`), `ERR_UNKNOWN_CODE` (a newer broker sent a code this
 * SDK does not know; the raw code is kept on the error).
 */
export const CLIENT_ERROR_CODES = [
  'ERR_UNREACHABLE',
  'ERR_TRANSPORT',
  'ERR_CLIENT_CONFIG',
  'ERR_CLIENT_CLOSED',
  'ERR_UNKNOWN_CODE',
] as const

/** A code only the SDK raises (see {@link CLIENT_ERROR_CODES}). */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]

/** Every code a caller of the SDK can see. */
export type ErrorCode = BrokerErrorCode | ClientErrorCode

const BROKER_CODES: ReadonlySet<string> = new Set(BROKER_ERROR_CODES)

/** True when `value` is a code the broker raises (e.g. read from a trailer). */
export function isBrokerErrorCode(value: string): value is BrokerErrorCode {
  return BROKER_CODES.has(value)
}
