import { userInfo } from 'node:os'
import type { ExchangeRecord } from '../audit/index.js'
import { type Clock, systemClock } from '../clock.js'
import { BrokerError, isCallerFault, toBrokerError } from '../errors.js'
import { approvalClosed, checkDecisionInput, expiryRecord } from '../exchange/approval_flow.js'
import { RecordedError } from '../exchange/index.js'
import type { ApprovalRow, Storage } from '../storage/ports.js'
import { openCliChain } from './storage_access.js'

export interface LocalDecision {
  approvalId: string
  approve: boolean
  reason: string
}

/**
 * `keybroker approvals approve|deny <id> --config F`: decide straight in the database, as the local
 * operator `local:<user>` — whoever can write the broker's database is trusted, as with a file-mode
 * `keybroker revoke` (the approval's `approvers` list names broker identities, which a file cannot
 * prove). Only the decision is recorded here: nothing is minted in this process. The running
 * broker hands the credential out on the requester's `Broker.WaitForApproval` stream, which polls
 * the approval and picks the decision up; the token then carries `kb_approval` and its audit row
 * names `local:<user>` as approver.
 *
 * Audited like `Admin.DecideApproval`: one `approval` row, `allow` with the reason, or `deny` with
 * the refusal (which is then thrown as a RecordedError naming that row). Approvals already past
 * their timeout are expired first, each with its row.
 */
export async function decideApprovalInFile(
  storage: Storage,
  input: LocalDecision,
  clock: Clock = systemClock,
): Promise<{ row: ApprovalRow; exchangeId: string }> {
  const operator = `local:${userInfo().username}`
  const base: ExchangeRecord = {
    kind: 'approval',
    decision: 'allow',
    subject: operator,
    auth_method: 'local',
    approval_id: input.approvalId.slice(0, 64),
    reason: input.reason.slice(0, 1000) || undefined,
    detail: { method: `keybroker approvals ${input.approve ? 'approve' : 'deny'}`, approve: input.approve },
  }
  const chain = await openCliChain(storage)
  try {
    let decided: ApprovalRow
    try {
      checkDecisionInput(input)
      const now = clock.now()
      const due = await storage.approvals.expireDue(now)
      await Promise.all(due.map((row) => chain.appender.append(expiryRecord(row))))
      const row = await storage.approvals.get(input.approvalId)
      if (!row) throw new BrokerError('ERR_NOT_FOUND', `approval ${input.approvalId} does not exist`)
      base.detail = { ...base.detail, requester: row.subject }
      if (row.state !== 'pending') throw approvalClosed(row)
      // compare-and-set, as the RPC: a decision racing this one (or the timeout) wins cleanly
      const after = await storage.approvals.transition(
        row.id,
        ['pending'],
        input.approve ? 'approved' : 'denied',
        now,
        { approver: operator, reason: input.reason, unexpiredAt: now },
      )
      if (!after) throw approvalClosed((await storage.approvals.get(row.id)) ?? row)
      decided = after
    } catch (err) {
      const error = toBrokerError(err)
      const refused = await chain.appender.append({
        ...base,
        decision: isCallerFault(error.code) ? 'deny' : 'error',
        reason: error.message,
        detail: { ...base.detail, code: error.code },
      })
      throw new RecordedError(error, refused.id)
    }
    const recorded = await chain.appender.append(base)
    return { row: decided, exchangeId: recorded.id }
  } finally {
    await chain.close()
  }
}
