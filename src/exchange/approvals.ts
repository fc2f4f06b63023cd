import { createHash } from 'node:crypto'
import type { ExchangeRecord } from '../audit/index.js'
import { monotonicUlid } from '../audit/lib/ulid.js'
import type { ApprovalConfig, ApproverEntry } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { ApprovalRow, ApprovalRows } from '../storage/ports.js'
import type { ExchangeSteps } from './steps.js'
import { RecordedError } from './steps.js'

/** What the approval steps need; built by the composition root. */
export interface ApprovalDeps {
  store: ApprovalRows
  /** `secrets.<name>.approval` of the current config. */
  secretApproval: (name: string) => ApprovalConfig | undefined
  /** Pending approvals one requester may hold at once; further requests are refused. */
  maxPendingPerSubject: number
  /** Told when a requester hits the cap (an alert). */
  onCapped?: (info: { subject: string; pending: number; exchangeId?: string }) => void
}

/** The exact request a person approves (frozen: what is minted later is this, nothing else). */
export type FrozenRequest =
  | { kind: 'issue'; audience: string; scopes: string[]; ttlSeconds: number; bindToCertificate: boolean }
  | { kind: 'fetch'; name: string }

/** What the approval row's JSON holds: the request, and who may approve it (frozen with it). */
export interface StoredRequest {
  request: FrozenRequest
  approvers: ApproverEntry[]
}

/** Set on an exchange that runs because a person approved it: skips the gate, marks the credential. */
export interface ApprovedBy {
  id: string
  approver: string
  reason: string
}

/** A request parked for a person; `approvalId` goes out as trailing metadata `keybroker-approval-id`. */
export class ApprovalPendingError extends RecordedError {
  readonly approvalId: string
  constructor(error: BrokerError, exchangeId: string, approvalId: string) {
    super(error, exchangeId)
    this.approvalId = approvalId
  }
}

const newApprovalId = monotonicUlid()

/** The key under which identical requests from one identity meet (binding includes the certificate). */
export function requestKey(request: FrozenRequest, certThumbprint: string | undefined): string {
  const bound = request.kind === 'issue' && request.bindToCertificate ? (certThumbprint ?? '') : ''
  const canonical =
    request.kind === 'issue'
      ? [
          'issue',
          request.audience,
          [...request.scopes].sort(),
          request.ttlSeconds,
          request.bindToCertificate,
          bound,
        ]
      : ['fetch', request.name]
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

/**
 * Park a request that policy allows but a person must approve: find or open the pending approval,
 * audit this request as decision `pending` (with approval_id), and throw ApprovalPendingError.
 * A requester at the cap is refused (ERR_TOO_MANY_APPROVALS), audited, and reported.
 */
export async function holdForApproval(
  steps: ExchangeSteps,
  deps: ApprovalDeps,
  base: ExchangeRecord,
  identity: Identity,
  request: FrozenRequest,
  approval: ApprovalConfig,
  grant: string,
  started: bigint,
): Promise<never> {
  const now = steps.deps.clock.now()
  const stored: StoredRequest = { request, approvers: approval.approvers }
  const opened = await deps.store.openPending(
    {
      id: newApprovalId(now),
      subject: identity.subject,
      issuer: identity.issuer,
      auth_method: identity.method,
      request_key: requestKey(request, identity.certThumbprint),
      request: JSON.stringify(stored),
      kind: request.kind,
      grant_name: grant,
      state: 'pending',
      approver: null,
      reason: null,
      cert_thumbprint: identity.certThumbprint ?? null,
      created_at: now,
      expires_at: now + approval.timeout * 1000,
      decided_at: null,
    },
    deps.maxPendingPerSubject,
    now,
  )
  if ('capped' in opened) {
    const error = new BrokerError(
      'ERR_TOO_MANY_APPROVALS',
      `${identity.subject} already has ${opened.pending} requests waiting for approval (limit ${deps.maxPendingPerSubject}); wait for a decision, or for them to expire, before asking again`,
    )
    const refused = await steps.refuse({ ...base, grant_name: grant }, error, started)
    deps.onCapped?.({ subject: identity.subject, pending: opened.pending, exchangeId: refused.exchangeId })
    throw refused
  }
  const { row, created } = opened
  const error = new BrokerError(
    'ERR_APPROVAL_PENDING',
    `this request needs a person's approval (approval ${row.id}, expires ${new Date(row.expires_at).toISOString()}); wait with Broker.WaitForApproval`,
  )
  const { id } = await steps.record(
    {
      ...base,
      decision: 'pending',
      approval_id: row.id,
      grant_name: grant,
      reason: error.message,
      detail: { ...base.detail, code: error.code, grant, approval_created: created },
    },
    started,
    error,
  )
  throw new ApprovalPendingError(error, id, row.id)
}

/** The frozen request of an approval row. */
export function storedRequest(row: ApprovalRow): StoredRequest {
  return JSON.parse(row.request) as StoredRequest
}
