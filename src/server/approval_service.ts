import type { ApprovalFlow, ApprovalUpdate } from '../exchange/approval_flow.js'
import { storedRequest } from '../exchange/approvals.js'
import type { AdminHandlers } from '../generated/keybroker/v1/Admin.js'
import type { Approval } from '../generated/keybroker/v1/Approval.js'
import type { ApprovalUpdate as WireUpdate } from '../generated/keybroker/v1/ApprovalUpdate.js'
import type { BrokerHandlers } from '../generated/keybroker/v1/Broker.js'
import type { ApprovalRow } from '../storage/ports.js'
import { callerCredentials, toServiceError, unary } from './broker_service.js'
import type { GrpcListener } from './grpc_listener.js'

export interface ApprovalServiceDeps {
  flow: () => ApprovalFlow
  listener: () => GrpcListener | undefined
  onUnexpected: (err: unknown) => void
}

/** An approval row on the wire (the frozen request, never a credential). */
export function approvalToWire(row: ApprovalRow): Approval {
  const { request } = storedRequest(row)
  return {
    id: row.id,
    state: row.state,
    subject: row.subject,
    issuer: row.issuer,
    kind: row.kind,
    audience: request.kind === 'issue' ? request.audience : '',
    scopes: request.kind === 'issue' ? request.scopes : [],
    secret_name: request.kind === 'fetch' ? request.name : '',
    ttl_seconds: request.kind === 'issue' ? request.ttlSeconds : 0,
    bind_to_certificate: request.kind === 'issue' && request.bindToCertificate,
    grant_name: row.grant_name ?? '',
    approver: row.approver ?? '',
    reason: row.reason ?? '',
    created_at: Math.floor(row.created_at / 1000),
    expires_at: Math.floor(row.expires_at / 1000),
    decided_at: row.decided_at ? Math.floor(row.decided_at / 1000) : 0,
    cert_thumbprint: row.cert_thumbprint ?? '',
  }
}

function updateToWire(update: ApprovalUpdate): WireUpdate {
  const wire: WireUpdate = {
    state: update.state,
    approval_id: update.row.id,
    approver: update.row.approver ?? '',
    reason: update.row.reason ?? '',
    expires_at: Math.floor(update.row.expires_at / 1000),
  }
  if (update.state === 'issued' && update.token)
    wire.token = {
      token: update.token.token,
      token_type: update.token.tokenType,
      expires_at: update.token.expiresAt,
      scopes: update.token.scopes,
      audience: update.token.audience,
      token_id: update.token.tokenId,
      exchange_id: update.token.exchangeId,
    }
  if (update.state === 'issued' && update.secret)
    wire.secret = {
      value: update.secret.value,
      version: update.secret.version ?? '',
      expires_at: update.secret.expiresAt ?? 0,
      exchange_id: update.secret.exchangeId,
    }
  return wire
}

/** Broker.WaitForApproval and Admin.ListApprovals / DecideApproval: gRPC ⇄ ApprovalFlow. */
export function approvalHandlers(deps: ApprovalServiceDeps): {
  broker: Pick<BrokerHandlers, 'WaitForApproval'>
  admin: Pick<AdminHandlers, 'ListApprovals' | 'DecideApproval'>
} {
  const { onUnexpected } = deps
  const creds = (call: Parameters<typeof callerCredentials>[0]) => callerCredentials(call, deps.listener())
  return {
    broker: {
      WaitForApproval: (call) => {
        let gone = false
        call.on('cancelled', () => {
          gone = true
        })
        deps
          .flow()
          .wait(
            creds(call),
            call.request.approval_id ?? '',
            (update) => call.write(updateToWire(update)),
            () => gone,
          )
          .then(
            () => call.end(),
            (err) => call.emit('error', toServiceError(err, onUnexpected)),
          )
      },
    },
    admin: {
      ListApprovals: unary(async (call) => {
        const rows = await deps.flow().list(creds(call), call.request)
        return { approvals: rows.map(approvalToWire) }
      }, onUnexpected),
      DecideApproval: unary(async (call) => {
        const req = call.request
        const { row, exchangeId } = await deps.flow().decide(creds(call), {
          approvalId: req.approval_id ?? '',
          approve: req.approve ?? false,
          reason: req.reason ?? '',
        })
        return { approval: approvalToWire(row), exchange_id: exchangeId }
      }, onUnexpected),
    },
  }
}
