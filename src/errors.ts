/**
 * Typed errors with a stable `code`, in the manner of jose's JOSEError subclasses.
 * Callers switch on `code`; only `src/server/status.ts` (gRPC) and `src/proxy` (HTTP)
 * translate codes into transport statuses.
 *
 * Messages are written for a person and never contain a token, a secret value or a key.
 */
import type { BrokerErrorCode } from './errors/codes.js'

/** The code list lives in one dependency-free module that the client SDK shares. */
export type { BrokerErrorCode }

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
