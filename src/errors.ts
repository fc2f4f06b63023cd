/**
 * Typed errors with a stable `code`, in the manner of jose's JOSEError subclasses.
 * Callers switch on `code`; only `src/server/status.ts` (gRPC) and `src/proxy` (HTTP)
 * translate codes into transport statuses.
 *
 * Messages are written for a person and never contain a token, a secret value or a key.
 */
export type BrokerErrorCode =
  // caller could not be authenticated
  | 'ERR_NO_CREDENTIALS'
  | 'ERR_CERTIFICATE_INVALID'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_ISSUER_UNKNOWN'
  | 'ERR_INSECURE_TRANSPORT'
  // a resource server's verifier refused a broker token (src/verifier)
  | 'ERR_WRONG_AUDIENCE'
  | 'ERR_CERTIFICATE_MISMATCH'
  // caller is known but not permitted
  | 'ERR_NO_GRANT'
  | 'ERR_AUDIENCE_NOT_GRANTED'
  | 'ERR_SCOPE_NOT_GRANTED'
  | 'ERR_SECRET_NOT_GRANTED'
  | 'ERR_DELEGATION_DENIED'
  | 'ERR_NOT_ADMIN'
  | 'ERR_INSUFFICIENT_SCOPE'
  // malformed request
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_REQUEST_TOO_LARGE'
  | 'ERR_NOT_FOUND'
  | 'ERR_FAILED_PRECONDITION'
  // a person must approve the request first (trailing metadata keybroker-approval-id; Broker.WaitForApproval)
  | 'ERR_APPROVAL_PENDING'
  // the approval named was denied, expired, already used, or decided (or may not be decided) by this caller
  | 'ERR_APPROVAL_CLOSED'
  // the requester already has as many pending approvals as allowed
  | 'ERR_TOO_MANY_APPROVALS'
  // WaitForApproval by someone other than the requester; a decision by someone not among the approvers
  | 'ERR_NOT_REQUESTER'
  | 'ERR_NOT_APPROVER'

  // agent guardrails: a token's max_uses spent, an identity over its rate, a blocked subject
  | 'ERR_BUDGET_EXHAUSTED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_SUBJECT_BLOCKED'
  // the caller went away before the answer
  | 'ERR_CANCELLED'
  | 'ERR_WATCHER_TOO_SLOW'
  // broker or upstream faults
  | 'ERR_ISSUER_UNAVAILABLE'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_REFUSED'
  // the upstream answered that the configured secret does not exist there (Vault 404, AWS ResourceNotFound):
  // neither the caller's fault nor a broker fault, and not a misconfiguration the broker can see
  | 'ERR_UPSTREAM_NOT_FOUND'
  | 'ERR_KEYS_UNAVAILABLE'
  | 'ERR_REVOCATIONS_UNAVAILABLE'
  | 'ERR_KEY_STORE_CORRUPT'
  | 'ERR_CONFIG'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_UNIMPLEMENTED'
  | 'ERR_INTERNAL'

export class BrokerError extends Error {
  readonly code: BrokerErrorCode

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BrokerError'
    this.code = code
  }
}

/** Codes that mean "the caller got something wrong" (audit decision `deny`); the rest are `error`. */
const CALLER_FAULTS: ReadonlySet<BrokerErrorCode> = new Set<BrokerErrorCode>([
  'ERR_NO_CREDENTIALS',
  'ERR_CERTIFICATE_INVALID',
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_REVOKED',
  'ERR_ISSUER_UNKNOWN',
  'ERR_INSECURE_TRANSPORT',
  'ERR_WRONG_AUDIENCE',
  'ERR_CERTIFICATE_MISMATCH',
  'ERR_INSUFFICIENT_SCOPE',
  'ERR_NO_GRANT',
  'ERR_AUDIENCE_NOT_GRANTED',
  'ERR_SCOPE_NOT_GRANTED',
  'ERR_SECRET_NOT_GRANTED',
  'ERR_DELEGATION_DENIED',
  'ERR_NOT_ADMIN',
  'ERR_INVALID_ARGUMENT',
  'ERR_REQUEST_TOO_LARGE',
  'ERR_NOT_FOUND',
  'ERR_CANCELLED',
  'ERR_WATCHER_TOO_SLOW',
  'ERR_APPROVAL_CLOSED',
  'ERR_TOO_MANY_APPROVALS',
  'ERR_NOT_REQUESTER',
  'ERR_NOT_APPROVER',

  'ERR_BUDGET_EXHAUSTED',
  'ERR_RATE_LIMITED',
  'ERR_SUBJECT_BLOCKED',
])

export function isCallerFault(code: BrokerErrorCode): boolean {
  return CALLER_FAULTS.has(code)
}

/** Wrap anything thrown into a BrokerError without leaking its message if it is not ours. */
export function toBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err
  return new BrokerError('ERR_INTERNAL', 'internal error', { cause: err })
}
