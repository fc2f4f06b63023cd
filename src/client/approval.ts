import * as grpc from '@grpc/grpc-js'
import type { ApprovalUpdate__Output } from '../generated/keybroker/v1/ApprovalUpdate.js'
import type { BrokerClient as RawBrokerClient } from '../generated/keybroker/v1/Broker.js'
import { BrokerError, fromServiceError } from './errors.js'

/** The approval id of a refusal that parked the request (`ERR_APPROVAL_PENDING`), if it is one. */
export function pendingApprovalId(err: unknown): string | undefined {
  if (!(err instanceof BrokerError) || err.code !== 'ERR_APPROVAL_PENDING') return undefined
  const value = (err.cause as grpc.ServiceError | undefined)?.metadata?.get('keybroker-approval-id')[0]
  return value === undefined ? undefined : String(value)
}

/**
 * Wait on Broker.WaitForApproval until the approval is decided: resolves with the update that
 * carries the credential (state `issued`), rejects with ERR_APPROVAL_CLOSED when it was denied or
 * expired. The broker hands the credential out once; nothing here asks again by itself.
 *
 * @example
 * ```ts
 * const update = await waitForApproval(raw, metadata, approvalId)
 * console.log(update.token?.token_id)
 * ```
 */
export function waitForApproval(
  client: RawBrokerClient,
  metadata: grpc.Metadata,
  approvalId: string,
): Promise<ApprovalUpdate__Output> {
  return new Promise((resolve, reject) => {
    let settled = false
    const call = client.WaitForApproval({ approval_id: approvalId }, metadata)
    call.on('data', (update: ApprovalUpdate__Output) => {
      if (update.state === 'issued') {
        settled = true
        resolve(update)
      } else if (update.state === 'denied' || update.state === 'expired') {
        settled = true
        const why = update.reason ? `: ${update.reason}` : ''
        reject(
          new BrokerError(
            'ERR_APPROVAL_CLOSED',
            grpc.status.FAILED_PRECONDITION,
            `approval ${approvalId} was ${update.state}${update.approver ? ` by ${update.approver}` : ''}${why}`,
          ),
        )
      }
    })
    call.on('error', (err: grpc.ServiceError) => {
      if (!settled) reject(fromServiceError(err))
    })
    call.on('end', () => {
      if (!settled)
        reject(
          new BrokerError(
            'ERR_TRANSPORT',
            grpc.status.UNKNOWN,
            `WaitForApproval for ${approvalId} ended without a decision`,
          ),
        )
    })
  })
}
