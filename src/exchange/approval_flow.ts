import type { ExchangeRecord } from '../audit/index.js'
import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { entryMatches } from '../policy/admins.js'
import type { ApprovalRow, ApprovalState } from '../storage/ports.js'
import type { AdminExchange } from './admin.js'
import { type ApprovalDeps, storedRequest } from './approvals.js'
import { type FetchedSecret, fetchSecret } from './fetch.js'
import { issueToken } from './issue.js'
import type { ExchangeSteps, IssuedToken } from './steps.js'

export type ApprovalUpdate =
  | { state: 'pending'; row: ApprovalRow }
  | { state: 'denied' | 'expired'; row: ApprovalRow }
  | { state: 'issued'; row: ApprovalRow; token?: IssuedToken; secret?: FetchedSecret }

const ID_PATTERN = /^[0-9A-Za-z]{1,64}$/
const MAX_REASON = 1000
const STATES: readonly ApprovalState[] = ['pending', 'approved', 'denied', 'expired', 'issued']

/**
 * The approval workflow around a parked request: the requester waits (and receives the credential
 * once), approvers list and decide, expiry ends what nobody decided. Every step is audited; the
 * requester's rows, the decision and the issuance share `approval_id`.
 */
export class ApprovalFlow {
  constructor(
    private readonly steps: ExchangeSteps,
    private readonly deps: ApprovalDeps,
    private readonly admin: AdminExchange,
  ) {}

  /**
   * WaitForApproval, step by step: only the requester (same subject and issuer) may wait. Calls
   * `send` with the current state, then polls until the approval leaves `pending`; once approved it
   * is moved to `issued` (compare-and-set: one stream wins) and the credential minted for that stream.
   */
  async wait(
    creds: CallerCredentials,
    approvalId: string,
    send: (update: ApprovalUpdate) => void,
    cancelled: () => boolean,
    pollMs = 250,
  ): Promise<void> {
    const started = process.hrtime.bigint()
    const identity = await this.steps.authenticate(creds, started, 'wait_for_approval')
    const base = this.steps.identityFields(creds, identity, {
      kind: 'approval',
      approval_id: approvalId.slice(0, 64),
      detail: { method: 'WaitForApproval' },
    })
    let row: ApprovalRow | undefined
    try {
      if (!ID_PATTERN.test(approvalId))
        throw new BrokerError('ERR_INVALID_ARGUMENT', 'approval_id is not an approval id')
      row = await this.deps.store.get(approvalId)
      if (!row) throw new BrokerError('ERR_NOT_FOUND', `approval ${approvalId} does not exist`)
      if (row.subject !== identity.subject || row.issuer !== identity.issuer)
        throw new BrokerError(
          'ERR_NOT_REQUESTER',
          `approval ${approvalId} belongs to another identity; only the requester may wait for it`,
        )
      if (row.state === 'issued')
        throw new BrokerError(
          'ERR_APPROVAL_CLOSED',
          `approval ${approvalId} was already used: its credential was handed out once; ask again for a new one`,
        )
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    let sentPending = false
    for (;;) {
      if (cancelled()) return
      if (row.state === 'pending' && row.expires_at <= this.steps.deps.clock.now()) await this.expire()
      row = (await this.deps.store.get(approvalId)) ?? row
      if (row.state === 'pending') {
        if (!sentPending) send({ state: 'pending', row })
        sentPending = true
        await new Promise((resolve) => setTimeout(resolve, pollMs))
        continue
      }
      if (row.state === 'denied' || row.state === 'expired') return send({ state: row.state, row })
      if (row.state === 'issued')
        throw new BrokerError('ERR_APPROVAL_CLOSED', `approval ${approvalId} was used by another stream`)
      return this.#issue(creds, row, send)
    }
  }

  /** Approved: take it (approved → issued), mint for the requester on this stream; give it back if minting fails. */
  async #issue(creds: CallerCredentials, row: ApprovalRow, send: (u: ApprovalUpdate) => void): Promise<void> {
    const now = this.steps.deps.clock.now()
    const taken = await this.deps.store.transition(row.id, ['approved'], 'issued', now)
    if (!taken) throw new BrokerError('ERR_APPROVAL_CLOSED', `approval ${row.id} was used by another stream`)
    const { request } = storedRequest(row)
    const approved = { id: row.id, approver: row.approver ?? '', reason: row.reason ?? '' }
    try {
      if (request.kind === 'issue') {
        if (request.bindToCertificate && creds.verifiedCertificate === undefined)
          throw new BrokerError(
            'ERR_CERTIFICATE_MISMATCH',
            'this approval binds the token to the certificate it was requested with; wait over that certificate',
          )
        const token = await issueToken(this.steps, creds, {
          audience: request.audience,
          scopes: request.scopes,
          ttlSeconds: request.ttlSeconds,
          bindToCertificate: request.bindToCertificate,
          approved,
          requireThumbprint: request.bindToCertificate ? (row.cert_thumbprint ?? '') : undefined,
        })
        send({ state: 'issued', row: taken, token })
      } else {
        const secret = await fetchSecret(this.steps, creds, request.name, undefined, approved)
        send({ state: 'issued', row: taken, secret })
      }
    } catch (err) {
      // nothing was handed out: the approval stands, the requester may wait again
      await this.deps.store.transition(row.id, ['issued'], 'approved', now).catch(() => {})
      throw err
    }
  }

  /** Admin.ListApprovals (any operator role). */
  async list(
    creds: CallerCredentials,
    input: { state?: string; subject?: string; limit?: number },
  ): Promise<ApprovalRow[]> {
    const { base, started } = await this.admin.authorize(creds, 'ListApprovals', {
      ...(input.state ? { filter_state: input.state } : {}),
      ...(input.subject ? { filter_subject: input.subject } : {}),
    })
    let rows: ApprovalRow[]
    try {
      if (input.state && !STATES.includes(input.state as ApprovalState))
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          `state: "${input.state.slice(0, 32)}" is not one of ${STATES.join(', ')}`,
        )
      const limit = input.limit || 100
      if (limit > 1000) throw new BrokerError('ERR_INVALID_ARGUMENT', 'limit: at most 1000')
      await this.expire()
      rows = await this.deps.store.list({
        state: (input.state || undefined) as ApprovalState | undefined,
        subject: input.subject || undefined,
        limit,
      })
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    await this.steps.record({ ...base, detail: { ...base.detail, returned: rows.length } }, started)
    return rows
  }

  /**
   * Admin.DecideApproval: an approver (or admin) named in the approval's `approvers`, who is not the
   * requester, moves a pending, unexpired approval to approved or denied, with a reason.
   */
  async decide(
    creds: CallerCredentials,
    input: { approvalId: string; approve: boolean; reason: string },
  ): Promise<{ row: ApprovalRow; exchangeId: string }> {
    const { identity, base: adminBase, started } = await this.admin.authorize(creds, 'DecideApproval')
    const base: ExchangeRecord = {
      ...adminBase,
      kind: 'approval',
      approval_id: input.approvalId.slice(0, 64),
      reason: input.reason.slice(0, MAX_REASON) || undefined,
      detail: { ...adminBase.detail, approve: input.approve },
    }
    let decided: ApprovalRow
    try {
      checkDecisionInput(input)
      await this.expire()
      const row = await this.deps.store.get(input.approvalId)
      if (!row) throw new BrokerError('ERR_NOT_FOUND', `approval ${input.approvalId} does not exist`)
      base.detail = { ...base.detail, requester: row.subject }
      if (row.subject === identity.subject && row.issuer === identity.issuer)
        throw new BrokerError(
          'ERR_NOT_APPROVER',
          `${identity.subject} asked for approval ${row.id}: nobody approves their own request`,
        )
      if (!storedRequest(row).approvers.some((entry) => entryMatches(identity, entry)))
        throw new BrokerError(
          'ERR_NOT_APPROVER',
          `${identity.subject} is not among the approvers of approval ${row.id} (grant ${row.grant_name ?? '?'})`,
        )
      if (row.state !== 'pending') throw approvalClosed(row)
      const now = this.steps.deps.clock.now()
      const after = await this.deps.store.transition(
        row.id,
        ['pending'],
        input.approve ? 'approved' : 'denied',
        now,
        {
          approver: identity.subject,
          reason: input.reason,
          unexpiredAt: now,
        },
      )
      if (!after) throw approvalClosed((await this.deps.store.get(row.id)) ?? row)
      decided = after
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const { id } = await this.steps.record(base, started)
    return { row: decided, exchangeId: id }
  }

  /** Pending approvals past their timeout become expired, each audited (kind approval, deny). */
  async expire(): Promise<number> {
    const due = await this.deps.store.expireDue(this.steps.deps.clock.now())
    await Promise.all(due.map((row) => this.steps.record(expiryRecord(row), process.hrtime.bigint())))
    return due.length
  }
}

/** Shape checks of a decision (the RPC and `keybroker approvals approve|deny` in file mode). */
export function checkDecisionInput(input: { approvalId: string; reason: string }): void {
  if (!ID_PATTERN.test(input.approvalId))
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'approval_id is not an approval id')
  if (input.reason.length > MAX_REASON)
    throw new BrokerError('ERR_INVALID_ARGUMENT', `reason: at most ${MAX_REASON} characters`)
}

/** The audit row of an approval that nobody decided in time (kind approval, deny, the requester's identity). */
export function expiryRecord(row: ApprovalRow): ExchangeRecord {
  return {
    kind: 'approval',
    decision: 'deny',
    subject: row.subject,
    issuer: row.issuer,
    auth_method: row.auth_method,
    approval_id: row.id,
    grant_name: row.grant_name ?? undefined,
    reason: `approval ${row.id} expired: nobody decided before ${new Date(row.expires_at).toISOString()}`,
    detail: { method: 'expire', state: 'expired' },
  }
}

/** Why `row` can no longer be decided (expired, or already decided and by whom). */
export function approvalClosed(row: ApprovalRow): BrokerError {
  const by = row.approver ? ` by ${row.approver}` : ''
  const what =
    row.state === 'pending' || row.state === 'expired'
      ? `expired at ${new Date(row.expires_at).toISOString()}`
      : `already ${row.state}${by}`
  return new BrokerError('ERR_APPROVAL_CLOSED', `approval ${row.id} cannot be decided: it ${what}`)
}
