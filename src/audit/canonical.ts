import { hash as sha } from 'node:crypto'
import type { ExchangeRow } from '../storage/ports.js'

/**
 * The one canonical form the hash chain hashes: `hash = SHA-256(prev_hash ‖ canonical(row))`.
 * A row carries the version of the form it was written in, so the form can change without
 * breaking the rows already written. prev_hash is fixed-length hex, so the join is unambiguous.
 *
 * - Form 1 (rows written before per-node chains; node_id ''): JSON of
 *   [seq, id, ts, kind, subject, auth_method, issuer, peer, cert_thumbprint, audience, scopes, ttl,
 *    secret_name, route, decision, reason, token_id, expires_at, latency_us, detail].
 * - Form 2: JSON of [2, node_id, seq, <form 1 columns after seq>, run_id, tool_call_id,
 *   approval_id, trace_id, grant_name]. The leading 2 makes a form-2 text unable to equal a
 *   form-1 text, and node_id binds each row to its chain.
 */
export const CANONICAL_FORM = 2

export const GENESIS_HASH = '0'.repeat(64)

/** The form-1 columns, in order: every form hashes them (form 2 wraps them, see above). */
function formOneColumns(row: ExchangeRow): unknown[] {
  return [
    row.seq,
    row.id,
    row.ts,
    row.kind,
    row.subject,
    row.auth_method,
    row.issuer,
    row.peer,
    row.cert_thumbprint,
    row.audience,
    row.scopes,
    row.ttl,
    row.secret_name,
    row.route,
    row.decision,
    row.reason,
    row.token_id,
    row.expires_at,
    row.latency_us,
    row.detail,
  ]
}

export function canonicalRow(row: ExchangeRow): string {
  if (row.form === 1) return JSON.stringify(formOneColumns(row))
  if (row.form === 2) {
    return JSON.stringify([
      2,
      row.node_id,
      ...formOneColumns(row),
      row.run_id,
      row.tool_call_id,
      row.approval_id,
      row.trace_id,
      row.grant_name,
    ])
  }
  throw new Error(`audit row ${row.id}: unknown canonical form ${row.form}`)
}

/** hex SHA-256(prev_hash ‖ canonical row) */
export function rowHash(prevHash: string, row: ExchangeRow): string {
  return sha('sha256', prevHash + canonicalRow(row), 'hex')
}
