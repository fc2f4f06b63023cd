import type { CallerCredentials } from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import { type AdminDeps, AdminExchange } from './admin.js'
import { ApprovalFlow } from './approval_flow.js'
import { type DelegateTokenInput, delegateToken } from './delegate.js'
import { type FetchedSecret, fetchSecret } from './fetch.js'
import { type IssuedToken, type IssueTokenInput, issueToken } from './issue.js'
import { ProxyExchange } from './proxy.js'
import { type ExchangeDeps, ExchangeSteps } from './steps.js'

/*
 * The one place the five steps run for every kind of exchange:
 *   1 authenticate → 2 authorize → 3 produce → 4 record → 5 reply.
 * Handlers (gRPC, HTTP proxy) only translate their transport to and from these calls.
 * Step 4 is not optional: if the audit row cannot be committed, the caller gets
 * ERR_AUDIT_UNAVAILABLE and no credential, whatever steps 1–3 decided.
 * Shared steps live in steps.ts; each exchange kind has its own file.
 */

export type {
  AdminDeps,
  AdminExchange,
  AdminMethod,
  ListExchangesInput,
  RevokeInput,
  RevokeResult,
  RotateResult,
  WatchInput,
} from './admin.js'
export type { ApprovalFlow, ApprovalUpdate } from './approval_flow.js'
export { type ApprovalDeps, ApprovalPendingError } from './approvals.js'
export type { DelegateTokenInput } from './delegate.js'
export type { FetchedSecret } from './fetch.js'
export type { IssuedToken, IssueTokenInput } from './issue.js'
export type { AuditAppender, ProxySecretSource, ResolvedSecret, RevocationPort } from './ports.js'
export type {
  ProxyExchange,
  ProxyGrant,
  ProxyOutcome,
  ProxyRequest,
} from './proxy.js'
export {
  type Introspection,
  introspectToken,
  mayStillWatchRevocations,
  type OpenedRevocationWatch,
  openRevocationWatch,
} from './resource_server.js'
export { type ExchangeDeps, type ExchangeEvent, RecordedError } from './steps.js'

export interface WhoAmIResult {
  identity: Identity
  grants: string[]
}

export class Exchange {
  readonly steps: ExchangeSteps
  /** Injection proxy: authorize, then record the forwarded (or failed) request. */
  readonly proxy: ProxyExchange

  constructor(readonly deps: ExchangeDeps) {
    this.steps = new ExchangeSteps(deps)
    this.proxy = new ProxyExchange(this.steps)
  }

  issueToken(creds: CallerCredentials, input: IssueTokenInput): Promise<IssuedToken> {
    return issueToken(this.steps, creds, input)
  }

  fetchSecret(creds: CallerCredentials, name: string, signal?: AbortSignal): Promise<FetchedSecret> {
    return fetchSecret(this.steps, creds, name, signal)
  }

  delegateToken(creds: CallerCredentials, input: DelegateTokenInput): Promise<IssuedToken> {
    return delegateToken(this.steps, creds, input)
  }

  /** WhoAmI: who the broker thinks the caller is, and which grants match. Audited only when refused. */
  async whoAmI(creds: CallerCredentials): Promise<WhoAmIResult> {
    const identity = await this.steps.authenticate(creds, process.hrtime.bigint(), 'whoami')
    return {
      identity,
      grants: this.deps
        .policy()
        .matchingGrants(identity)
        .map((g) => g.name),
    }
  }

  /** The approval workflow (WaitForApproval, ListApprovals, DecideApproval, expiry). */
  approvals(admin: AdminExchange): ApprovalFlow {
    if (!this.deps.approvals) throw new Error('approvals are not wired')
    return new ApprovalFlow(this.steps, this.deps.approvals, admin)
  }

  /** The operator calls (Admin service): same steps, plus the `admins` check. */
  admin(deps: AdminDeps): AdminExchange {
    return new AdminExchange(this.steps, deps)
  }

  /** JWKS of the broker's published keys (public: no authentication beyond the transport). */
  jwks(): string {
    return this.deps.keys.jwksText()
  }
}
