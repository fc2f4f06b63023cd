import * as grpc from '@grpc/grpc-js'
import { BrokerError, fromServiceError } from './errors.js'

/** One Broker.WaitForApproval message (decoded by the embedded codec: snake_case fields). */
export interface ApprovalUpdateWire {
  state: string
  reason: string
  approver?: string
  approval_id?: string
  token?: { token: string; token_id: string; expires_at: number; [field: string]: unknown } | null
  secret?: { value: Buffer; version: string; expires_at: number; exchange_id: string } | null
}

type WaitingClient = grpc.Client & {
  WaitForApproval(
    request: { approval_id: string },
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<ApprovalUpdateWire>
}

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
  client: grpc.Client,
  metadata: grpc.Metadata,
  approvalId: string,
): Promise<ApprovalUpdateWire> {
  return new Promise((resolve, reject) => {
    let settled = false
    const call = (client as WaitingClient).WaitForApproval({ approval_id: approvalId }, metadata)
    call.on('data', (update: ApprovalUpdateWire) => {
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
