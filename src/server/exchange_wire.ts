import { encodeCursor, type StoredExchange } from '../audit/index.js'
import type { Exchange, Exchange__Output } from '../generated/keybroker/v1/Exchange.js'
import type { ChainCursor } from '../storage/ports.js'

/** An audit row as the `Exchange` message (proto3: absent = '' or 0; detail as JSON text). */
export function exchangeToWire(row: StoredExchange, cursor?: ChainCursor): Exchange {
  return {
    seq: row.seq,
    id: row.id,
    ts_ms: row.ts,
    kind: row.kind,
    subject: row.subject ?? '',
    auth_method: row.auth_method ?? '',
    issuer: row.issuer ?? '',
    peer: row.peer ?? '',
    cert_thumbprint: row.cert_thumbprint ?? '',
    audience: row.audience ?? '',
    scopes: row.scopes ?? '',
    ttl: row.ttl ?? 0,
    secret_name: row.secret_name ?? '',
    route: row.route ?? '',
    decision: row.decision,
    reason: row.reason ?? '',
    token_id: row.token_id ?? '',
    expires_at: row.expires_at ?? 0,
    latency_us: row.latency_us ?? 0,
    prev_hash: row.prev_hash,
    hash: row.hash,
    detail: row.detail ? JSON.stringify(row.detail) : '',
    node_id: row.node_id,
    run_id: row.run_id ?? '',
    tool_call_id: row.tool_call_id ?? '',
    approval_id: row.approval_id ?? '',
    trace_id: row.trace_id ?? '',
    grant_name: row.grant_name ?? '',
    cursor: cursor ? encodeCursor(cursor) : '',
  }
}

/** The reverse, for clients (the CLI) that print rows the same way whether they came from a file or a broker. */
export function exchangeFromWire(message: Exchange__Output): StoredExchange {
  const text = (value: string) => (value === '' ? null : value)
  const number = (value: number) => (value === 0 ? null : Number(value))
  let detail: StoredExchange['detail'] = null
  if (message.detail) {
    try {
      detail = JSON.parse(message.detail)
    } catch {
      detail = { unparsed: message.detail }
    }
  }
  return {
    node_id: message.node_id,
    seq: Number(message.seq),
    id: message.id,
    ts: Number(message.ts_ms),
    kind: message.kind as StoredExchange['kind'],
    subject: text(message.subject),
    auth_method: text(message.auth_method),
    issuer: text(message.issuer),
    peer: text(message.peer),
    cert_thumbprint: text(message.cert_thumbprint),
    audience: text(message.audience),
    scopes: text(message.scopes),
    ttl: number(Number(message.ttl)),
    secret_name: text(message.secret_name),
    route: text(message.route),
    decision: message.decision as StoredExchange['decision'],
    reason: text(message.reason),
    token_id: text(message.token_id),
    expires_at: number(Number(message.expires_at)),
    latency_us: number(Number(message.latency_us)),
    prev_hash: message.prev_hash,
    hash: message.hash,
    detail,
    run_id: text(message.run_id),
    tool_call_id: text(message.tool_call_id),
    approval_id: text(message.approval_id),
    trace_id: text(message.trace_id),
    grant_name: text(message.grant_name),
  }
}
