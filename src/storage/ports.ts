/**
 * The storage seam. Everything above src/storage (exchange, audit, issuer, server, cli) depends on
 * these interfaces only; each driver (sqlite/, postgres/) implements them and holds all the SQL.
 *
 * Rules every driver keeps (the conformance suite in test/storage_conformance.test.ts checks them):
 * - Every write is asynchronous (SQLite: the writer thread; PostgreSQL: the pool). Nothing writes
 *   the database synchronously on the main thread.
 * - Rows come back typed (ExchangeRow), never as positional arrays; `detail` stays the exact JSON
 *   text that was hashed.
 * - A failure is a StorageError with a stable code; the layer above turns it into a BrokerError.
 */
import type { Decision, ExchangeKind } from '../audit/record.js'

/** A chain is identified by the writer process's node id; positions (`seq`) are per chain. */
export interface ChainLink {
  seq: number
  hash: string
}

export interface ChainHead extends ChainLink {
  nodeId: string
}

/**
 * One audit row exactly as stored (and hashed). `form` is the canonical-form version
 * (src/audit/canonical.ts): 1 for rows written before per-node chains (node_id ''), 2 since.
 */
export interface ExchangeRow {
  node_id: string
  seq: number
  form: number
  id: string
  /** unix ms */
  ts: number
  kind: ExchangeKind
  subject: string | null
  auth_method: string | null
  issuer: string | null
  peer: string | null
  cert_thumbprint: string | null
  audience: string | null
  scopes: string | null
  ttl: number | null
  secret_name: string | null
  route: string | null
  decision: Decision
  reason: string | null
  token_id: string | null
  /** unix seconds */
  expires_at: number | null
  latency_us: number | null
  /** JSON text, exactly as hashed */
  detail: string | null
  run_id: string | null
  tool_call_id: string | null
  approval_id: string | null
  trace_id: string | null
  grant_name: string | null
  prev_hash: string
  hash: string
}

/** Validated filters for listing and scanning; absent fields match everything. Times in unix ms. */
export interface RowFilter {
  subject?: string
  /** rows whose subject starts with this text (a `*` glob at the end of --subject) */
  subjectPrefix?: string
  kind?: ExchangeKind
  decision?: Decision
  audience?: string
  secretName?: string
  route?: string
  tokenId?: string
  peer?: string
  runId?: string
  sinceMs?: number
  untilMs?: number
}

/**
 * Where a newest-first listing continues: rows strictly older than this one. Rows are ordered
 * by (ts, id) descending; ids are ULIDs, unique across nodes, so the order is total.
 */
export interface ListPosition {
  ts: number
  id: string
}

/** Per-chain cursor of a scan or a watch: the last seq seen on each chain (absent chain = 0). */
export type ChainCursor = Record<string, number>

export interface IssuedTokenRecord {
  tokenId: string
  subject: string | null
  issuer: string | null
  /** unix seconds */
  expiresAt: number
}

/** The write side of the audit log: appends to this process's own chain. */
export interface ChainStore {
  /**
   * The committed head of `nodeId`'s chain (seq 0 / genesis hash when it has no row), read from
   * the database, never from a cache: called at start and after any commit of unknown outcome.
   */
  readHead(nodeId: string): Promise<ChainLink>
  /**
   * Commit `rows` (already chained: seq, prev_hash and hash filled) atomically with the new head,
   * only if the stored head still equals `expected`. Resolves once durable. Rejects with
   * StorageError: code 'HEAD_MOVED' if the head was not `expected` (nothing written), 'DUPLICATE_ID'
   * when a row id exists (nothing written), 'TIMEOUT' / 'UNAVAILABLE' otherwise; `outcomeUnknown`
   * says whether the rows may nevertheless have been committed.
   */
  commit(nodeId: string, expected: ChainLink, rows: ExchangeRow[], timeoutMs: number): Promise<void>
}

/** The read side of the audit log (every chain). */
export interface AuditReader {
  /** Newest first: (ts desc, id desc), strictly after `before` when given; at most `limit`. */
  listPage(filter: RowFilter, limit: number, before?: ListPosition): Promise<ExchangeRow[]>
  /**
   * Rows past `cursor` on every chain, each chain in seq order, at most `limit` in all; the
   * returned cursor covers exactly the rows returned plus, for a chain that had no more
   * matching rows, its head (so non-matching rows are not examined twice).
   */
  scan(
    filter: RowFilter,
    cursor: ChainCursor,
    limit: number,
  ): Promise<{ rows: ExchangeRow[]; cursor: ChainCursor }>
  /** One chain's rows with seq > afterSeq, ascending, at most `limit` (verify, copy, export). */
  chainRows(nodeId: string, afterSeq: number, limit: number): Promise<ExchangeRow[]>
  /** Every chain's committed head. */
  heads(): Promise<ChainHead[]>
  /** Per-chain retention checkpoints: rows with seq <= checkpoint.seq were pruned. */
  retentionCheckpoints(): Promise<ChainHead[]>
  byId(id: string): Promise<ExchangeRow | undefined>
  /** Every row about one token (issue, uses, revocation), oldest first. */
  byTokenId(tokenId: string): Promise<ExchangeRow[]>
  /** The allow row of the issue/delegate exchange that minted `tokenId`. */
  issuedToken(tokenId: string): Promise<IssuedTokenRecord | undefined>
  /** Tokens minted to `subject` that have not expired at `nowSec`. */
  liveTokensOf(subject: string, nowSec: number): Promise<IssuedTokenRecord[]>
  count(): Promise<number>
  /** The cursor that starts a scan at `tsMs` (the head of every chain when tsMs is undefined). */
  cursorAt(tsMs: number | undefined): Promise<ChainCursor>
}

/** Retention: delete a chain's oldest rows, behind its retention checkpoint. */
export interface AuditPruner {
  /**
   * Delete the rows of `nodeId` with seq <= checkpoint.seq and set the chain's retention
   * checkpoint to `checkpoint` (the last deleted row's seq and hash), in one transaction.
   * The caller (src/audit/retention.ts) has verified that prefix. Returns the rows deleted.
   */
  prunePrefix(nodeId: string, checkpoint: ChainLink): Promise<number>
}

/** The exclusive right of one live process to append to a chain. */
export interface ChainLeases {
  /**
   * Take `nodeId` for `owner` until now + ttlMs. Refused (StorageError 'LEASE_HELD') when another
   * owner holds an unexpired lease. Creates the chain's head row (seq 0) when new.
   */
  acquire(nodeId: string, owner: string, ttlMs: number): Promise<void>
  /** Extend; 'LEASE_LOST' when someone else took it meanwhile. */
  renew(nodeId: string, owner: string, ttlMs: number): Promise<void>
  release(nodeId: string, owner: string): Promise<void>
}

/** A signing key at rest: the private key is sealed under the KEK by src/issuer (never plaintext here). */
export interface SealedKeyRow {
  kid: string
  alg: string
  /** JSON text of the public JWK (bound into the seal's AAD). */
  public_jwk: string
  sealed_private_key: Buffer
  /** unix ms */
  created_at: number
  /** unix ms: signs from here on */
  activates_at: number
  /** unix ms: stopped signing and left JWKS at once (a compromised key); null when not retired */
  retired_at: number | null
}

export interface KeyRows {
  insert(row: SealedKeyRow): Promise<void>
  /** Ordered by activates_at. */
  list(): Promise<SealedKeyRow[]>
  delete(kid: string): Promise<void>
  markRetired(kid: string, atMs: number): Promise<boolean>
  /**
   * Run `fn` while holding the cluster-wide key-rotation lock (one rotation at a time across
   * replicas). `fn` re-reads the keys before deciding to add one.
   */
  withRotationLock<T>(fn: () => Promise<T>): Promise<T>
}

/** One revocation. `seq` orders the feed (assigned by the store). */
export interface RevocationRow {
  seq: number
  /** token id; for a subject-wide or key revocation a synthetic id ("subject:…", "kid:…") */
  jti: string
  subject: string | null
  issuer: string | null
  kid: string | null
  reason: string | null
  /** unix seconds: the longest exp this revocation covers; kept until then */
  not_after: number
  /** unix ms */
  revoked_at: number
}

export interface RevocationRows {
  /** Insert (ignoring jtis already present); returns the rows actually added, with their seq. */
  add(rows: Array<Omit<RevocationRow, 'seq'>>): Promise<RevocationRow[]>
  /** Rows with seq > afterSeq and not_after >= nowSec, ascending. */
  since(afterSeq: number, nowSec: number): Promise<RevocationRow[]>
  /** Forget rows whose not_after < beforeSec. */
  pruneExpired(beforeSec: number): Promise<number>
}

/** Facts recorded with the log when it was created. */
export interface LogMeta {
  log_id: string
  issuer: string
  created_at: number
}

export interface MetaRows {
  get(): Promise<LogMeta | undefined>
  /** Create once; returns what is stored (the existing meta when another process won). */
  init(meta: LogMeta): Promise<LogMeta>
}

export interface SchemaState {
  /** Highest migration applied (0 for an empty database). */
  version: number
  /** The oldest binary version that may run against this schema (from the newest migration applied). */
  minBinary: string
}

/** One database, opened: every port over it. Built only by src/storage/open.ts. */
export interface Storage {
  readonly driver: 'sqlite' | 'postgres'
  /** Where, for messages: a file path, or a URL without its password. */
  readonly location: string
  readonly chains: ChainStore
  readonly reader: AuditReader
  readonly pruner: AuditPruner
  readonly leases: ChainLeases
  readonly keys: KeyRows
  readonly revocations: RevocationRows
  readonly meta: MetaRows
  schema(): Promise<SchemaState>
  /** Apply pending migrations (serialized across processes); returns the versions applied. */
  migrate(binaryVersion: string): Promise<number[]>
  /**
   * A cheap round trip proving the database answers (readiness; off the main thread's critical path).
   * With `allocate`, also prove it can grow by a few pages (after a full disk: SQLite writes and
   * rolls back nothing durable; PostgreSQL ignores it).
   */
  ping(timeoutMs: number, options?: { allocate?: boolean }): Promise<void>
  close(): Promise<void>
}

export type StorageErrorCode =
  | 'HEAD_MOVED'
  | 'DUPLICATE_ID'
  | 'LEASE_HELD'
  | 'LEASE_LOST'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'FULL'
  | 'CORRUPT'
  | 'SCHEMA_TOO_NEW'
  | 'AUTH_FAILED'
  | 'NOT_FOUND'
  | 'INVALID'

/** A driver failure. `outcomeUnknown`: a write may have committed although the call failed. */
export class StorageError extends Error {
  readonly code: StorageErrorCode
  readonly outcomeUnknown: boolean
  /** The driver's own code (SQLITE_BUSY, a SQLSTATE), for messages and readiness. */
  readonly driverCode?: string
  constructor(
    code: StorageErrorCode,
    message: string,
    options: { cause?: unknown; outcomeUnknown?: boolean; driverCode?: string } = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'StorageError'
    this.code = code
    this.outcomeUnknown = options.outcomeUnknown ?? false
    if (options.driverCode) this.driverCode = options.driverCode
  }
}
