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

/**
 * Side effects a commit carries in its own transaction (agent guardrails, migration 3). Only
 * allowed on a one-row batch, so a refusal of the effect never takes another caller's row with it.
 */
export interface CommitEffects {
  /** Create the budget rows of the tokens this row minted (the issue/delegate `allow` row). */
  budgets?: Array<{ tokenId: string; remaining: number /** unix seconds */; expiresAt: number }>
  /**
   * Spend one use of every listed token (a proxy token and its budgeted ancestors): every listed
   * counter must exist with remaining > 0, else StorageError 'BUDGET_EXHAUSTED' and nothing is
   * written (neither the counts nor the row).
   */
  spend?: { tokenIds: string[] }
}

/** What a commit reports besides durability. */
export interface CommitResult {
  /** After a spend: the smallest remaining count among the spent tokens. */
  remaining?: number
}

/** One time bucket of ExchangeStatsResult: counts by decision and latency percentiles. */
export interface StatsBucketRow {
  /** unix ms, a multiple of the bucket size */
  startMs: number
  allow: number
  deny: number
  error: number
  pending: number
  /** nearest-rank percentiles over the bucket's rows that have a latency; 0 when none has */
  p50Us: number
  p99Us: number
}

/** A key and how many rows have it, most first (ties by key, byte order). */
export interface CountRow {
  key: string
  count: number
}

/** Aggregates over the rows a filter matches, computed by the store (GetExchangeStats, `audit stats`). */
export interface ExchangeStatsResult {
  total: number
  /** oldest first; only buckets that have rows; at most `maxBuckets` */
  buckets: StatsBucketRow[]
  /** true when more than `maxBuckets` buckets had rows (the newest were left out) */
  bucketsTruncated: boolean
  /** subject '' = no subject (an unauthenticated caller) */
  topSubjects: CountRow[]
  /** rows without an audience are not counted */
  topAudiences: CountRow[]
  /** deny rows by reason code ('' = none recorded) */
  denialsByReason: CountRow[]
  /** every kind present */
  byKind: CountRow[]
}

export interface StatsQuery {
  /** bucket size in ms (> 0) */
  bucketMs: number
  /** how many subjects, audiences and reasons */
  top: number
  maxBuckets: number
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
   * says whether the rows may nevertheless have been committed. `effects` (one-row batches only,
   * else 'INVALID') commit in the same transaction; a spent budget rejects with 'BUDGET_EXHAUSTED'.
   */
  commit(
    nodeId: string,
    expected: ChainLink,
    rows: ExchangeRow[],
    timeoutMs: number,
    effects?: CommitEffects,
  ): Promise<CommitResult>
}

/** Usage budgets as stored (written only through ChainStore.commit effects). */
export interface UsageRows {
  /** Remaining uses of the listed tokens that have a budget row (absent: no budget). */
  remaining(tokenIds: string[]): Promise<Map<string, number>>
  /** Forget counters of tokens expired before `beforeSec`. */
  pruneExpired(beforeSec: number): Promise<number>
}

/** A subject refused new tokens (`revoke --subject S --block`) until unblocked. */
export interface SubjectBlockRow {
  subject: string
  reason: string | null
  /** who blocked it (the admin's subject) */
  blocked_by: string | null
  /** unix ms */
  blocked_at: number
}

export interface SubjectBlockRows {
  /** Block (or re-block, updating the reason); true when the subject was not blocked before. */
  add(row: SubjectBlockRow): Promise<boolean>
  /** Lift a block; false when there was none. */
  remove(subject: string): Promise<boolean>
  list(): Promise<SubjectBlockRow[]>
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
  /** Counts, percentiles and top lists over the rows `filter` matches, in the database (one pass per list). */
  stats(filter: RowFilter, query: StatsQuery): Promise<ExchangeStatsResult>
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

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'issued'

/**
 * A request frozen while it waits for a person. `request` is the JSON of the exact request
 * (audience, scopes, ttl, binding, or the secret name); `request_key` its digest, so an identical
 * request from the same identity finds the same pending approval. Never a credential.
 */
export interface ApprovalRow {
  id: string
  subject: string
  issuer: string
  auth_method: string
  request_key: string
  request: string
  kind: 'issue' | 'fetch'
  grant_name: string | null
  state: ApprovalState
  approver: string | null
  reason: string | null
  cert_thumbprint: string | null
  /** unix ms */
  created_at: number
  /** unix ms: a pending approval expires then */
  expires_at: number
  /** unix ms of the last transition (decided, expired, issued) */
  decided_at: number | null
}

export type OpenApprovalResult =
  | { row: ApprovalRow; created: boolean }
  /** the requester already has `pending` unexpired approvals (at least the cap): nothing written */
  | { capped: true; pending: number }

export interface ApprovalRows {
  /**
   * In one transaction: the requester's unexpired pending approval with the same request_key, or
   * else `row` inserted — unless the requester (subject, issuer) already has `cap` unexpired
   * pending approvals.
   */
  openPending(row: ApprovalRow, cap: number, nowMs: number): Promise<OpenApprovalResult>
  get(id: string): Promise<ApprovalRow | undefined>
  /** Newest first. */
  list(filter: { state?: ApprovalState; subject?: string; limit: number }): Promise<ApprovalRow[]>
  /**
   * Compare-and-set: move `id` from one of `from` to `to` (with approver/reason when given) at
   * `nowMs`; when `unexpiredAt` is given the row must also have expires_at > it. Returns the row
   * after the change, or undefined when nothing changed (another decision won, or it expired).
   */
  transition(
    id: string,
    from: readonly ApprovalState[],
    to: ApprovalState,
    nowMs: number,
    fields?: { approver?: string; reason?: string; unexpiredAt?: number },
  ): Promise<ApprovalRow | undefined>
  /** Pending approvals whose expires_at <= nowMs become `expired`; returns them. */
  expireDue(nowMs: number): Promise<ApprovalRow[]>
}

export type AlertDeliveryState = 'pending' | 'delivered' | 'failed' | 'recorded'

/** One alert for one sink (sink '' and state `recorded` when no sink is configured). */
export interface AlertOutboxRow {
  id: string
  sink: string
  rule: string
  subject: string | null
  /** the exact JSON body POSTed (and signed) */
  body: string
  state: AlertDeliveryState
  attempts: number
  /** unix ms: not retried (nor claimed by another replica) before then */
  next_attempt_at: number
  last_error: string | null
  created_at: number
  delivered_at: number | null
}

export interface AlertOutbox {
  /**
   * Add alerts and, in the same transaction, move the evaluator's saved `state` (its resume cursor):
   * a crash between the two can neither lose an alert nor raise it twice.
   */
  enqueue(rows: AlertOutboxRow[], state?: { name: string; value: string }): Promise<void>
  /**
   * Take up to `limit` pending rows due at nowMs and push their next_attempt_at to nowMs + leaseMs,
   * so no other replica sends them meanwhile (PostgreSQL: FOR UPDATE SKIP LOCKED).
   */
  claim(nowMs: number, limit: number, leaseMs: number): Promise<AlertOutboxRow[]>
  markDelivered(id: string, sink: string, nowMs: number): Promise<void>
  /** Another failed attempt: retry at nextAttemptAt, or `failed` for good when giveUp. */
  markFailed(id: string, sink: string, error: string, nextAttemptAt: number, giveUp: boolean): Promise<void>
  /** Newest first. */
  list(filter: { state?: AlertDeliveryState; limit: number }): Promise<AlertOutboxRow[]>
  readState(name: string): Promise<string | undefined>
  /**
   * Take or keep the lease `name` for `owner` until nowMs + ttlMs; false when another owner holds
   * an unexpired one. One replica evaluates alert rules.
   */
  lead(name: string, owner: string, ttlMs: number, nowMs: number): Promise<boolean>
}

/** What another process's commit announces (PostgreSQL LISTEN/NOTIFY, sent in the committing transaction). */
export type NotificationTopic = 'revocation' | 'append' | 'keys'

/**
 * Wake-ups from other processes sharing the database. A notification carries no data: the
 * listener re-reads from its own cursor, so a lost or duplicated one costs nothing but latency.
 * While the connection is down nothing arrives (callers keep their poll as the fallback); on
 * reconnect every listener is woken once, since something may have been missed meanwhile.
 */
export interface Notifications {
  /** Call `listener` after each commit of `topic` by any process (this one included); returns unsubscribe. */
  on(topic: NotificationTopic, listener: () => void): () => void
  /** True while the listening connection is up and LISTENing. */
  readonly listening: boolean
  /** Be told when the connection goes down (with why) or comes back (logs). */
  onState?(listener: (listening: boolean, error?: Error) => void): void
}

/** One replica's self-description, refreshed by its heartbeat (times in the database's unix ms). */
export interface ReplicaRecord {
  node_id: string
  policy_hash: string
  version: string
  started_at: number
  heartbeat_at: number
}

/** The cluster's membership table: each replica heartbeats its policy hash; peers compare. */
export interface ClusterRows {
  /** Insert or refresh this replica's row, stamped with the database's clock. */
  heartbeat(row: Pick<ReplicaRecord, 'node_id' | 'policy_hash' | 'version'>): Promise<void>
  /** Replicas whose heartbeat is at most `withinMs` old by the database's clock. */
  live(withinMs: number): Promise<ReplicaRecord[]>
  leave(nodeId: string): Promise<void>
  /** The database's clock (`now()`), unix ms. */
  databaseTime(): Promise<number>
}

/**
 * Bulk load, for `keybroker storage copy` and `restore`: rows arrive exactly as another database
 * stored them (never re-hashed, never re-sequenced), one transaction per call.
 */
export interface BulkImport {
  /**
   * Create chain `nodeId` with its head at `start` (genesis, or the retention checkpoint its first
   * row continues from) and, when given, that retention checkpoint; no lease. Refused with
   * DUPLICATE_ID (nothing written) when the chain already exists: an import never merges chains.
   */
  createChain(nodeId: string, start: ChainLink, retention?: ChainLink & { prunedAt: number }): Promise<void>
  /**
   * Insert `rows` of chain `nodeId` verbatim and move its head to the last one, in one
   * transaction, only if the head is still `expected` (HEAD_MOVED otherwise; nothing written).
   */
  appendRows(nodeId: string, expected: ChainLink, rows: ExchangeRow[]): Promise<void>
  /** Insert sealed keys as stored (still sealed); a kid already present is left alone. Returns the kids inserted. */
  insertKeys(rows: SealedKeyRow[]): Promise<string[]>
  /** Set the log metadata (a copy carries its source's log id; a restore starts a new log id). */
  setMeta(meta: LogMeta): Promise<void>
}

/**
 * Exchanges of one subject under one grant (grant_name '' when no grant allowed it: most refusals).
 * Exchanges are the kinds issue, delegate, fetch and proxy; `peer` counts addresses without the port.
 */
export interface UsageRow {
  grant_name: string
  subject: string
  allowed: number
  denied: number
  /** unix ms of the newest exchange in the window; null when only live tokens put the row here */
  last_used: number | null
  distinct_peers: number
  /** tokens minted (any time) that have not expired and were not revoked by id */
  live_tokens: number
}

/** Aggregates for `keybroker usage`, computed by the database (never by paging rows out). */
export interface UsageReports {
  /** One row per (grant_name, subject) active since `sinceMs` or holding live tokens at `nowSec`. */
  bySubject(sinceMs: number, nowSec: number): Promise<UsageRow[]>
  /** The newest allowed exchange (unix ms) per grant_name and per secret_name, over the whole log. */
  lastAllowed(): Promise<{ grants: Record<string, number>; secrets: Record<string, number> }>
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
  readonly approvals: ApprovalRows
  readonly alerts: AlertOutbox

  readonly usage: UsageRows
  readonly blocks: SubjectBlockRows

  /** Cross-process wake-ups; absent on drivers with a single writer host (SQLite), which poll. */
  readonly notifications?: Notifications
  /** Replica membership; absent on SQLite (one process). */
  readonly cluster?: ClusterRows

  readonly bulk: BulkImport
  /** Usage reports (`keybroker usage`, Admin.GetUsage), computed in the database. */
  readonly reports: UsageReports
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
  /** a spend found a listed usage counter at 0 (or missing): nothing was written */
  | 'BUDGET_EXHAUSTED'

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
