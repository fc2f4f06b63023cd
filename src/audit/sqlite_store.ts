import { randomFillSync } from 'node:crypto'
import type { Statement, Transaction } from 'better-sqlite3'
import { monotonicFactory } from 'ulid'
import { type Clock, systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { SqliteDatabase } from '../storage/database.js'
import { linkProblem } from './lib/chain.js'
import { boundedText, detailJson, wholeNumber } from './lib/normalize.js'
import { type ChainLink, ensureAuditSchema } from './lib/schema.js'
import {
  CANONICAL_COLUMNS,
  chainHash,
  DECISIONS,
  EXCHANGE_KINDS,
  type ExchangeRecord,
  GENESIS_HASH,
  type RawExchangeRow,
  type StoredExchange,
} from './record.js'

export interface SqliteAuditStoreOptions {
  /** Fills `ts` (and the ULID time) when the caller gave none. Default: system clock. */
  clock?: Clock
  /** Appends per transaction; a batch this large is written at once instead of at the end of the turn. Default 1000. */
  maxBatch?: number
}

export type AppendListener = (rows: StoredExchange[]) => void

type UnchainedRow = Omit<RawExchangeRow, 'seq' | 'prev_hash' | 'hash'>

interface PendingAppend {
  row: UnchainedRow
  resolve: (row: StoredExchange) => void
  reject: (err: BrokerError) => void
}

interface Statements {
  readHead: Statement<[], ChainLink>
  insert: Statement<[RawExchangeRow]>
  writeHead: Statement<[ChainLink]>
  readCheckpoint: Statement<[], ChainLink>
  writeCheckpoint: Statement<[{ seq: number; hash: string; pruned_at: number }]>
  oldest: Statement<[number], RawExchangeRow>
  deleteThrough: Statement<[number]>
  tail: Statement<[number], RawExchangeRow>
  after: Statement<[number, number], RawExchangeRow>
  byTokenId: Statement<[string], RawExchangeRow>
  count: Statement<[], { n: number }>
}

const DEFAULT_MAX_BATCH = 1000

/**
 * The audit log: hash-chained `exchanges` rows in the broker's SQLite file.
 *
 * Appends made in the same event-loop turn are group-committed in one IMMEDIATE transaction,
 * and each promise settles only after COMMIT (synchronous=FULL), so a caller that awaited
 * `append` may reply: the row is durable and visible to every other connection.
 *
 * A write that cannot get the lock waits at most the connection's busy_timeout (set by
 * `openDatabase`) and then fails; better-sqlite3 is synchronous, so that timeout is also how long
 * the event loop can be held by a locked file. A write that fails rejects every append of its
 * batch with ERR_AUDIT_UNAVAILABLE, so the caller issues nothing (fail closed).
 *
 * The chain head is read from `audit_head` inside each write transaction rather than kept in
 * memory: a failed batch therefore never advances it, the next append after recovery continues
 * from what is committed, and another process writing the same file cannot fork the chain.
 */
export class SqliteAuditStore {
  readonly #clock: Clock
  readonly #maxBatch: number
  readonly #nextId: (seedTime?: number) => string
  readonly #statements: Statements
  readonly #writeBatch: Transaction<(batch: PendingAppend[]) => RawExchangeRow[]>
  readonly #pruneBatch: Transaction<(beforeTsMs: number, batchSize: number) => number>
  readonly #listeners = new Set<AppendListener>()
  #pending: PendingAppend[] = []
  #scheduledFlush: NodeJS.Immediate | undefined
  #closed = false

  constructor(db: SqliteDatabase, options: SqliteAuditStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    this.#nextId = monotonicFactory(pooledRandom())
    ensureAuditSchema(db)
    this.#statements = prepareStatements(db)
    this.#writeBatch = db.transaction((batch) => this.#chainAndInsert(batch))
    this.#pruneBatch = db.transaction((beforeTsMs, batchSize) => this.#pruneOldest(beforeTsMs, batchSize))
  }

  /**
   * Record one exchange. Resolves with the committed row; rejects with ERR_AUDIT_UNAVAILABLE when
   * the log cannot be written (the caller must then refuse the exchange).
   */
  append(record: ExchangeRecord): Promise<StoredExchange> {
    if (this.#closed) return Promise.reject(unavailable('closed'))
    let row: UnchainedRow
    try {
      row = this.#normalize(record)
    } catch (err) {
      return Promise.reject(err)
    }
    const committed = new Promise<StoredExchange>((resolve, reject) => {
      this.#pending.push({ row, resolve, reject })
    })
    if (this.#pending.length >= this.#maxBatch) this.#flush()
    else this.#scheduledFlush ??= setImmediate(() => this.#flush())
    return committed
  }

  /** The last `n` rows, oldest first. */
  tail(n: number): StoredExchange[] {
    return this.#statements.tail.all(n).map(toStoredExchange)
  }

  /** Rows with seq greater than `seq`, ascending, at most `limit`. */
  after(seq: number, limit: number): StoredExchange[] {
    return this.#statements.after.all(seq, limit).map(toStoredExchange)
  }

  /** Every row about one token (its issue, uses, revocation), oldest first. */
  findByTokenId(tokenId: string): StoredExchange[] {
    return this.#statements.byTokenId.all(tokenId).map(toStoredExchange)
  }

  count(): number {
    return this.#statements.count.get()!.n
  }

  /** Called with each committed batch, after COMMIT. Returns the unsubscribe function. */
  onAppend(listener: AppendListener): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /**
   * Retention: delete the oldest rows with ts < beforeTsMs, `batchSize` per transaction so
   * appends are not held up. Only a prefix of the chain is removed (it stops at the first newer
   * row), and `audit_checkpoint` records the last pruned row so the rest still verifies.
   * Refuses (ERR_FAILED_PRECONDITION) to prune rows that do not verify: that would hide tampering.
   * Returns the number of rows deleted.
   */
  prune(beforeTsMs: number, batchSize = 1000): number {
    const size = Math.max(1, Math.floor(batchSize))
    let total = 0
    for (;;) {
      const deleted = this.#pruneBatch.immediate(beforeTsMs, size)
      total += deleted
      if (deleted < size) return total
    }
  }

  /** One retention transaction: at most `batchSize` of the oldest rows with ts < beforeTsMs (see prune). */
  pruneBatch(beforeTsMs: number, batchSize: number): number {
    return this.#pruneBatch.immediate(beforeTsMs, Math.max(1, Math.floor(batchSize)))
  }

  /** Write what is pending, then refuse further appends. The database handle stays open: it is shared. */
  async close(): Promise<void> {
    this.#flush()
    this.#closed = true
  }

  #normalize(record: ExchangeRecord): UnchainedRow {
    if (!EXCHANGE_KINDS.includes(record.kind)) throw invalidRecord('kind')
    if (!DECISIONS.includes(record.decision)) throw invalidRecord('decision')
    const ts = wholeNumber(record.ts) ?? this.#clock.now()
    return {
      id: boundedText(record.id) ?? this.#nextId(ts),
      ts,
      kind: record.kind,
      subject: boundedText(record.subject),
      auth_method: boundedText(record.auth_method),
      issuer: boundedText(record.issuer),
      peer: boundedText(record.peer),
      cert_thumbprint: boundedText(record.cert_thumbprint),
      audience: boundedText(record.audience),
      scopes: boundedText(record.scopes),
      ttl: wholeNumber(record.ttl),
      secret_name: boundedText(record.secret_name),
      route: boundedText(record.route),
      decision: record.decision,
      reason: boundedText(record.reason),
      token_id: boundedText(record.token_id),
      expires_at: wholeNumber(record.expires_at),
      latency_us: wholeNumber(record.latency_us),
      detail: detailJson(record.detail),
    }
  }

  #flush(): void {
    if (this.#scheduledFlush) clearImmediate(this.#scheduledFlush)
    this.#scheduledFlush = undefined
    const batch = this.#pending
    if (batch.length === 0) return
    this.#pending = []
    this.#commit(batch)
  }

  #commit(batch: PendingAppend[]): void {
    let rows: RawExchangeRow[]
    try {
      rows = this.#writeBatch.immediate(batch)
    } catch (err) {
      // a duplicate caller-supplied id must fail only its own append, not its whole batch
      if (sqliteCode(err).startsWith('SQLITE_CONSTRAINT') && batch.length > 1) {
        for (const entry of batch) this.#commit([entry])
        return
      }
      const error = unavailable(sqliteCode(err), err)
      for (const entry of batch) entry.reject(error)
      return
    }
    const stored = rows.map(toStoredExchange)
    batch.forEach((entry, i) => {
      entry.resolve(stored[i]!)
    })
    this.#notify(stored)
  }

  #chainAndInsert(batch: PendingAppend[]): RawExchangeRow[] {
    const { insert, writeHead } = this.#statements
    let head = this.#readHead()
    const rows = batch.map(({ row }) => {
      const seq = head.seq + 1
      const chained = { ...row, seq, prev_hash: head.hash, hash: chainHash(head.hash, { ...row, seq }) }
      insert.run(chained)
      head = { seq, hash: chained.hash }
      return chained
    })
    writeHead.run(head)
    return rows
  }

  /** Newest committed link: the head row, else the retention checkpoint, else genesis. */
  #readHead(): ChainLink {
    return (
      this.#statements.readHead.get() ??
      this.#statements.readCheckpoint.get() ?? { seq: 0, hash: GENESIS_HASH }
    )
  }

  #pruneOldest(beforeTsMs: number, batchSize: number): number {
    const { oldest, deleteThrough, writeCheckpoint } = this.#statements
    let previous = this.#statements.readCheckpoint.get() ?? { seq: 0, hash: GENESIS_HASH }
    const first = previous.seq
    for (const row of oldest.all(batchSize)) {
      if (row.ts >= beforeTsMs) break
      const problem = linkProblem(previous, row)
      if (problem) {
        throw new BrokerError(
          'ERR_FAILED_PRECONDITION',
          `audit chain broken at seq ${row.seq} (${problem}); not pruning`,
        )
      }
      previous = { seq: row.seq, hash: row.hash }
    }
    if (previous.seq === first) return 0
    const { changes } = deleteThrough.run(previous.seq)
    writeCheckpoint.run({ ...previous, pruned_at: this.#clock.now() })
    return changes
  }

  #notify(rows: StoredExchange[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(rows)
      } catch (err) {
        // a live-tail subscriber must not turn a committed write into a failure
        process.emitWarning(`audit onAppend listener threw: ${String(err)}`)
      }
    }
  }
}

/**
 * A [0, 1) source for ULID's random part. The library's default makes one getRandomValues call per
 * character (16 per new millisecond); drawing CSPRNG bytes in bulk gives the same distribution.
 */
function pooledRandom(): () => number {
  const pool = new Uint8Array(4096)
  let next = pool.length
  return () => {
    if (next === pool.length) {
      randomFillSync(pool)
      next = 0
    }
    return pool[next++]! / 256
  }
}

function prepareStatements(db: SqliteDatabase): Statements {
  const columns = [...CANONICAL_COLUMNS, 'prev_hash', 'hash']
  return {
    readHead: db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1'),
    insert: db.prepare(
      `INSERT INTO exchanges (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})`,
    ),
    writeHead: db.prepare(
      'INSERT INTO audit_head (id, seq, hash) VALUES (1, @seq, @hash) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    ),
    readCheckpoint: db.prepare('SELECT seq, hash FROM audit_checkpoint WHERE id = 1'),
    writeCheckpoint: db.prepare(
      'INSERT INTO audit_checkpoint (id, seq, hash, pruned_at) VALUES (1, @seq, @hash, @pruned_at) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at',
    ),
    oldest: db.prepare('SELECT * FROM exchanges ORDER BY seq LIMIT ?'),
    deleteThrough: db.prepare('DELETE FROM exchanges WHERE seq <= ?'),
    tail: db.prepare('SELECT * FROM (SELECT * FROM exchanges ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
    after: db.prepare('SELECT * FROM exchanges WHERE seq > ? ORDER BY seq LIMIT ?'),
    byTokenId: db.prepare('SELECT * FROM exchanges WHERE token_id = ? ORDER BY seq'),
    count: db.prepare('SELECT count(*) AS n FROM exchanges'),
  }
}

function toStoredExchange(row: RawExchangeRow): StoredExchange {
  return { ...row, detail: typeof row.detail === 'string' ? JSON.parse(row.detail) : null } as StoredExchange
}

/** SqliteError carries e.g. SQLITE_BUSY; a closed handle throws a plain TypeError without one. */
function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return err instanceof Error ? err.name : 'unknown error'
}

function unavailable(code: string, cause?: unknown): BrokerError {
  return new BrokerError(
    'ERR_AUDIT_UNAVAILABLE',
    `audit log unavailable: ${code}; no credential was issued`,
    { cause },
  )
}

function invalidRecord(field: string): BrokerError {
  return new BrokerError('ERR_INTERNAL', `invalid audit record: unknown ${field}`)
}
