import type { AlertOutboxRow, ApprovalRow } from './ports.js'

/** Column order of the approval and outbox tables, shared by both drivers' mappings. */
export const APPROVAL_COLUMNS = [
  'id',
  'subject',
  'issuer',
  'auth_method',
  'request_key',
  'request',
  'kind',
  'grant_name',
  'state',
  'approver',
  'reason',
  'cert_thumbprint',
  'created_at',
  'expires_at',
  'decided_at',
] as const satisfies ReadonlyArray<keyof ApprovalRow>

export const OUTBOX_COLUMNS = [
  'id',
  'sink',
  'rule',
  'subject',
  'body',
  'state',
  'attempts',
  'next_attempt_at',
  'last_error',
  'created_at',
  'delivered_at',
] as const satisfies ReadonlyArray<keyof AlertOutboxRow>
