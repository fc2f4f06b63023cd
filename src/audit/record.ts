export type ExchangeKind =
  | 'issue'
  | 'delegate'
  | 'fetch'
  | 'proxy'
  | 'revoke'
  | 'admin'
  | 'auth_failure'
  | 'alert'
  | 'approval'
  | 'block'
  | 'log_reset'
  // resource servers: a revocation feed opened (Broker.WatchRevocations), a token introspected (RFC 7662)
  | 'revocation_watch'
  | 'introspect'
export type Decision = 'allow' | 'deny' | 'error' | 'pending'

export const EXCHANGE_KINDS: readonly ExchangeKind[] = [
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
export const DECISIONS: readonly Decision[] = ['allow', 'deny', 'error', 'pending']

export type DetailValue = string | number | boolean

/**
 * What a caller appends: one row per exchange. The store fills `id` (ULID) and `ts` (clock ms)
 * when absent. Never put a token, a secret value or a key here; a failed token may be recorded
 * by a short SHA-256 fingerprint.
 */
export interface ExchangeRecord {
  id?: string
  ts?: number
  kind: ExchangeKind
  decision: Decision
  subject?: string
  auth_method?: string
  issuer?: string
  peer?: string
  cert_thumbprint?: string
  audience?: string
  /** space-separated */
  scopes?: string
  ttl?: number
  secret_name?: string
  route?: string
  reason?: string
  token_id?: string
  /** unix seconds */
  expires_at?: number
  latency_us?: number
  /** non-secret extras (provider, version, stale, http status, transport); stored as JSON text */
  detail?: Record<string, DetailValue>
  /** agent task context (TaskContext) */
  run_id?: string
  tool_call_id?: string
  approval_id?: string
  /** W3C trace id of the span that carried this exchange */
  trace_id?: string
  /** the grant that allowed it */
  grant_name?: string
}

type OptionalRecordFields = Omit<ExchangeRecord, 'id' | 'ts' | 'kind' | 'decision'>
type NullableFields = {
  [K in keyof OptionalRecordFields]-?: Exclude<OptionalRecordFields[K], undefined> | null
}

/** A committed row, as read back from the log. */
export interface StoredExchange
  extends Required<Pick<ExchangeRecord, 'id' | 'ts' | 'kind' | 'decision'>>,
    NullableFields {
  /** the writer process's chain */
  node_id: string
  /** position in its chain */
  seq: number
  prev_hash: string
  hash: string
}

export { GENESIS_HASH } from './canonical.js'
