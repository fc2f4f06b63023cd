/** Wire shapes as the console API returns them (the Admin messages, JSON). */

export interface Exchange {
  seq: number
  id: string
  ts_ms: number
  kind: string
  subject: string
  auth_method: string
  issuer: string
  peer: string
  cert_thumbprint: string
  audience: string
  scopes: string
  ttl: number
  secret_name: string
  route: string
  decision: string
  reason: string
  token_id: string
  expires_at: number
  latency_us: number
  prev_hash: string
  hash: string
  detail: string
  node_id: string
  run_id: string
  tool_call_id: string
  approval_id: string
  trace_id: string
  grant_name: string
  cursor: string
}

export interface Page {
  exchanges: Exchange[]
  next_page_token: string
}

export interface CountEntry {
  key: string
  count: number
}

export interface StatsBucket {
  start: number
  allow: number
  deny: number
  error: number
  pending: number
  latency_p50_us: number
  latency_p99_us: number
}

export interface Stats {
  buckets: StatsBucket[]
  top_subjects: CountEntry[]
  top_audiences: CountEntry[]
  denials_by_reason: CountEntry[]
  by_kind: CountEntry[]
  total: number
}

export interface SigningKey {
  kid: string
  alg: string
  created_at: number
  activates_at: number
  retired_at: number
  state: string
}

export interface Revocation {
  token_id: string
  subject: string
  issuer: string
  kid: string
  reason: string
  not_after: number
  revoked_at: number
}

export interface Approval {
  id: string
  state: string
  subject: string
  kind: string
  audience: string
  scopes: string[]
  secret_name: string
  grant_name: string
  approver: string
  reason: string
  created_at: number
  expires_at: number
}

export interface Alert {
  id: string
  rule: string
  subject: string
  sink: string
  /** pending | delivered | failed | recorded (no sink configured) */
  state: string
  attempts: number
  last_error: string
  created_at: number
  delivered_at: number
  exchange_ids: string[]
  summary: string
}

export interface UsageRow {
  grant_name: string
  subject: string
  allowed: number
  denied: number
  last_used: number
  distinct_peers: number
  live_tokens: number
}

export interface UnusedItem {
  kind: string
  name: string
  last_used: number
}

export interface Usage {
  rows: UsageRow[]
  unused: UnusedItem[]
  since: number
}

// the broker's lists (src/audit/record.ts); test/console_server.test.ts checks they stay equal
export const KINDS: readonly string[] = [
  'issue',
  'delegate',
  'fetch',
  'proxy',
  'revoke',
  'admin',
  'auth_failure',
  'alert',
  'approval',
  'block',
  'log_reset',
  'revocation_watch',
  'introspect',
]
export const DECISIONS: readonly string[] = ['allow', 'deny', 'error', 'pending']
