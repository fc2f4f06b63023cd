import type { OutgoingHttpHeaders } from 'node:http'
import type { BrokerError, BrokerErrorCode } from '../../errors.js'

/**
 * RFC 6749 §5.2 error codes, plus RFC 8707 `invalid_target` and `temporarily_unavailable`; RFC 8628's
 * `authorization_pending` for a request parked for a person; and the broker's own `rate_limited` and
 * `too_many_approvals` (HTTP 429, as at the proxy: RFC 6749 has no code for either).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'temporarily_unavailable'
  | 'server_error'
  | 'authorization_pending'
  | 'rate_limited'
  | 'too_many_approvals'

export interface OAuthError {
  status: number
  error: OAuthErrorCode
}

/** What the endpoint is doing when a refusal happens; decides how a broker error reads in OAuth terms. */
export type GrantKind = 'client_credentials' | 'token_exchange' | 'delegation'

/**
 * A refusal the endpoint itself decided before any exchange ran (wrong method, malformed body,
 * unsupported grant). Not yet audited: the endpoint records `cause` and then replies with `reply`.
 */
export class OAuthRefusal extends Error {
  constructor(
    readonly reply: OAuthError,
    override readonly cause: BrokerError,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(cause.message)
    this.name = 'OAuthRefusal'
  }
}

/** Codes that are the broker's own trouble, not the caller's: retry later. */
const UNAVAILABLE: ReadonlySet<BrokerErrorCode> = new Set<BrokerErrorCode>([
  'ERR_AUDIT_UNAVAILABLE',
  'ERR_ISSUER_UNAVAILABLE',
  'ERR_KEYS_UNAVAILABLE',
  'ERR_SHUTTING_DOWN',
])

const TOKEN_PROBLEMS: ReadonlySet<BrokerErrorCode> = new Set<BrokerErrorCode>([
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_REVOKED',
  'ERR_ISSUER_UNKNOWN',
])

/**
 * The one table from a broker error to an RFC 6749 §5.2 answer. `authentication` is true when the
 * exchange's step 1 refused the caller's credentials.
 *
 * - The caller's own credentials (client certificate, client_assertion) failing → `invalid_client`, 401.
 *   For a workload-JWT token exchange the subject_token *is* the credential: it is a token problem.
 * - A subject_token or actor_token that is invalid → `invalid_request` (RFC 8693 §2.2.2 MUST).
 * - The caller is not entitled to what it presented (no grant, not the parent's subject, a subject
 *   blocked by `revoke --block`, a parent with no proxy use left) → `invalid_grant`; under
 *   client_credentials, no grant for (or a block on) the client → `unauthorized_client`.
 * - Guardrails and approvals: over the rate limit → 429 `rate_limited` (with Retry-After); a request a
 *   person must approve → 400 `authorization_pending` (with `approval_id`); too many of those pending →
 *   429 `too_many_approvals`.
 */
export function oauthErrorFor(
  error: BrokerError,
  grant: GrantKind | undefined,
  authentication: boolean,
): OAuthError {
  const code = error.code
  if (UNAVAILABLE.has(code)) return { status: 503, error: 'temporarily_unavailable' }
  if (code === 'ERR_CERTIFICATE_INVALID' || code === 'ERR_NO_CREDENTIALS') {
    return { status: 401, error: 'invalid_client' }
  }
  if (TOKEN_PROBLEMS.has(code)) {
    if (authentication && grant !== 'token_exchange') return { status: 401, error: 'invalid_client' }
    return { status: 400, error: 'invalid_request' }
  }
  switch (code) {
    case 'ERR_SCOPE_NOT_GRANTED':
      return { status: 400, error: 'invalid_scope' }
    case 'ERR_AUDIENCE_NOT_GRANTED':
      return { status: 400, error: 'invalid_target' }
    case 'ERR_NO_GRANT':
    case 'ERR_SUBJECT_BLOCKED':
      return { status: 400, error: grant === 'client_credentials' ? 'unauthorized_client' : 'invalid_grant' }
    case 'ERR_DELEGATION_DENIED':
    case 'ERR_BUDGET_EXHAUSTED':
      return { status: 400, error: 'invalid_grant' }
    case 'ERR_RATE_LIMITED':
      return { status: 429, error: 'rate_limited' }
    case 'ERR_APPROVAL_PENDING':
      return { status: 400, error: 'authorization_pending' }
    case 'ERR_TOO_MANY_APPROVALS':
      return { status: 429, error: 'too_many_approvals' }
    case 'ERR_INVALID_ARGUMENT':
    case 'ERR_INSECURE_TRANSPORT':
      return { status: 400, error: 'invalid_request' }
    case 'ERR_REQUEST_TOO_LARGE':
      return { status: 413, error: 'invalid_request' }
    default:
      return { status: 500, error: 'server_error' }
  }
}

/**
 * `error_description` may only hold %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2): our messages quote
 * names with `"`, which becomes `'`.
 */
export function errorDescription(message: string): string {
  return message
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x7e]/g, '?')
}
