import type { AdminRole } from '../config/index.js'

/** Every Admin RPC; each one appears in ROLE_RIGHTS, so a new RPC cannot be added without deciding who may call it. */
export type AdminMethod =
  | 'ListExchanges'
  | 'WatchExchanges'
  | 'RevokeTokens'
  | 'VerifyAuditLog'
  | 'RotateSigningKey'
  | 'ListApprovals'
  | 'DecideApproval'
  | 'GetUsage'
  | 'ListAlerts'
  | 'UnblockSubject'
  | 'ListSigningKeys'
  | 'RetireSigningKey'
  | 'ListRevocations'
  | 'GetExchangeStats'
  | 'ExportExchanges'

const EVERYONE: readonly AdminRole[] = ['admin', 'auditor', 'approver']

/**
 * Who may call what. Auditors read (the log, reports, alerts, approvals); approvers read and decide
 * approvals; only admins change state that affects every caller (revoke, rotate, retire).
 */
export const ROLE_RIGHTS: Readonly<Record<AdminMethod, readonly AdminRole[]>> = {
  ListExchanges: EVERYONE,
  WatchExchanges: EVERYONE,
  VerifyAuditLog: EVERYONE,
  GetUsage: EVERYONE,
  ListAlerts: EVERYONE,
  ListApprovals: EVERYONE,
  ListSigningKeys: EVERYONE,
  ListRevocations: EVERYONE,
  GetExchangeStats: EVERYONE,
  ExportExchanges: EVERYONE,
  DecideApproval: ['admin', 'approver'],
  RevokeTokens: ['admin'],
  RotateSigningKey: ['admin'],
  UnblockSubject: ['admin'],

  RetireSigningKey: ['admin'],
}

/** May a caller with `role` call `method`? */
export function mayCall(role: AdminRole, method: AdminMethod): boolean {
  return ROLE_RIGHTS[method].includes(role)
}
