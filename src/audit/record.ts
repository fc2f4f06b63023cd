import { createHash } from 'node:crypto'

export type ExchangeKind =
  | 'issue'
  | 'delegate'
  | 'fetch'
  | 'proxy'
  | 'revoke'
  | 'admin'
  | 'auth_failure'
  // resource servers: a revocation feed opened (Broker.WatchRevocations), a token introspected (RFC 7662)
  | 'revocation_watch'
  | 'introspect'
export type Decision = 'allow' | 'deny' | 'error'

export const EXCHANGE_KINDS: readonly ExchangeKind[] = [
  'issue',
  'delegate',
  'fetch',
  'proxy',
  'revoke',
  'admin',
  'auth_failure',
  'revocation_watch',
  'introspect',
]
export const DECISIONS: readonly Decision[] = ['allow', 'deny', 'error']

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
  /** non-secret extras (provider, version, stale, http status); stored as JSON text */
  detail?: Record<string, DetailValue>
}

type OptionalRecordFields = Omit<ExchangeRecord, 'id' | 'ts' | 'kind' | 'decision'>
type NullableFields = {
  [K in keyof OptionalRecordFields]-?: Exclude<OptionalRecordFields[K], undefined> | null
}

/** A committed row, as read back from the log. */
export interface StoredExchange
  extends Required<Pick<ExchangeRecord, 'id' | 'ts' | 'kind' | 'decision'>>,
    NullableFields {
  seq: number
  prev_hash: string
  hash: string
}

/** prev_hash of the first row ever written. */
export const GENESIS_HASH = '0'.repeat(64)

/**
 * Column order of the canonical form. Changing it (or adding a column) changes every hash:
 * a new column must be appended here and old rows verified with the old list (version the form).
 */
export const CANONICAL_COLUMNS = [
  'seq',
  'id',
  'ts',
  'kind',
  'subject',
  'auth_method',
  'issuer',
  'peer',
  'cert_thumbprint',
  'audience',
  'scopes',
  'ttl',
  'secret_name',
  'route',
  'decision',
  'reason',
  'token_id',
  'expires_at',
  'latency_us',
  'detail',
] as const

export type CanonicalColumn = (typeof CANONICAL_COLUMNS)[number]

/** A row exactly as stored in SQLite (`detail` is the JSON text); this is what gets hashed. */
export type RawExchangeRow = {
  [K in CanonicalColumn]: K extends 'seq' | 'ts'
    ? number
    : K extends 'id' | 'kind' | 'decision'
      ? string
      : string | number | null
} & {
  prev_hash: string
  hash: string
}

/** JSON of the columns in fixed order, nulls explicit; `seq` is included so moving a row is detected. */
export function canonicalRow(row: Record<CanonicalColumn, unknown>): string {
  return JSON.stringify(CANONICAL_COLUMNS.map((column) => row[column] ?? null))
}

/** hex SHA-256(prev_hash ‖ canonical row). prev_hash is fixed-length hex, so the join is unambiguous. */
export function chainHash(prevHash: string, row: Record<CanonicalColumn, unknown>): string {
  return createHash('sha256').update(prevHash).update(canonicalRow(row)).digest('hex')
}
