import { resolve as resolvePath } from 'node:path'
import type { Statement, Transaction } from 'better-sqlite3'
import { type Clock, systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { SqliteDatabase } from '../storage/database.js'
import { linkProblem } from './lib/chain.js'
import type { BatchOutcome, RowValues } from './lib/chain_writer.js'
import { boundedText, normalizeDetail, wholeNumber } from './lib/normalize.js'
import { type ChainLink, ensureAuditSchema } from './lib/schema.js'
import { monotonicUlid } from './lib/ulid.js'
import { WriterThread } from './lib/writer_thread.js'
import {
  DECISIONS,
  type DetailValue,
  EXCHANGE_KINDS,
  type ExchangeKind,
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
  /**
   * `audit.write_timeout`: an append whose commit is not confirmed within this long fails with
   * ERR_AUDIT_UNAVAILABLE. Default: the connection's busy_timeout (which openDatabase sets).
   */
  writeTimeoutMs?: number
}

export type AppendListener = (rows: StoredExchange[]) => void

interface PendingAppend {
  /** The canonical columns after seq (see ChainWriter), exactly as they will be stored. */
  values: RowValues
  detail: Record<string, DetailValue> | null
  resolve: (row: StoredExchange) => void
  reject: (err: BrokerError) => void
}

interface Statements {
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
 * Appends are committed by a writer thread (lib/writer_thread.ts) that owns its own connection,
 * so neither the commit's fsync nor a locked file blocks the event loop. Appends made in the same
 * event-loop turn are group-committed in one IMMEDIATE transaction; while one batch commits, the
 * next accumulates and is sent as soon as the first is confirmed. Each promise settles only after
 * COMMIT (WAL, synchronous=FULL), so a caller that awaited `append` may reply: the row is durable
 * and visible to every other connection, including this store's reads.
 *
 * A batch that fails, or is not confirmed within `writeTimeoutMs`, rejects every append of its
 * batch with ERR_AUDIT_UNAVAILABLE, so the caller issues nothing (fail closed); a hung writer
 * thread is replaced, so later appends recover without a restart. The chain head is read from
 * `audit_head` inside each write transaction, so a failed batch never advances it and another
 * process writing the same file cannot fork the chain.
 *
 * The connection given to the constructor serves reads and retention; closing it stops appends.
 */
export class SqliteAuditStore {
  readonly #db: SqliteDatabase
  readonly #clock: Clock
  readonly #maxBatch: number
  readonly #nextId: (timeMs: number) => string
  readonly #statements: Statements
  readonly #writer: WriterThread
  readonly #pruneBatch: Transaction<(beforeTsMs: number, batchSize: number) => number>
  readonly #listeners = new Set<AppendListener>()
  #pending: PendingAppend[] = []
  #scheduledFlush: NodeJS.Immediate | undefined
  #inFlight: Promise<void> | undefined
  #closed = false

  constructor(db: SqliteDatabase, options: SqliteAuditStoreOptions = {}) {
    if (db.memory)
      throw new Error('SqliteAuditStore needs a database file: its writer thread opens its own connection')
    this.#db = db
    this.#clock = options.clock ?? systemClock
    this.#maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    this.#nextId = monotonicUlid()
    ensureAuditSchema(db)
    this.#statements = prepareStatements(db)
    this.#pruneBatch = db.transaction((beforeTsMs, batchSize) => this.#pruneOldest(beforeTsMs, batchSize))
    const writeTimeoutMs = options.writeTimeoutMs ?? (db.pragma('busy_timeout', { simple: true }) as number)
    this.#writer = new WriterThread({ path: resolvePath(db.name), writeTimeoutMs })
  }

  /**
   * Record one exchange. Resolves with the committed row; rejects with ERR_AUDIT_UNAVAILABLE when
   * the log cannot be written (the caller must then refuse the exchange).
   */
  append(record: ExchangeRecord): Promise<StoredExchange> {
    if (this.#closed) return Promise.reject(unavailable('closed'))
    let entry: PendingAppend
    const committed = new Promise<StoredExchange>((resolve, reject) => {
      entry = { values: [], detail: null, resolve, reject }
    })
    try {
      this.#normalize(record, entry!)
    } catch (err) {
      return Promise.reject(err)
    }
    this.#pending.push(entry!)
    if (this.#inFlight) return committed // sent when the batch in flight is confirmed
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

  /** Write what is pending, then refuse further appends and stop the writer thread. The database handle stays open: it is shared. */
  async close(): Promise<void> {
    this.#closed = true
    this.#flush()
    while (this.#inFlight) await this.#inFlight
    await this.#writer.close()
  }

  /** Test hook: make the writer thread hang for `ms`, as a write stuck in the kernel would. */
  stallWriterForTest(ms: number): void {
    this.#writer.stallForTest(ms)
  }

  /** Validates the record and fills `entry` with the row exactly as it will be stored (and hashed). */
  #normalize(record: ExchangeRecord, entry: PendingAppend): void {
    if (!EXCHANGE_KINDS.includes(record.kind)) throw invalidRecord('unknown kind')
    if (!DECISIONS.includes(record.decision)) throw invalidRecord('unknown decision')
    const ts = wholeNumber(record.ts) ?? this.#clock.now()
    let id = boundedText(record.id)
    if (id === null) {
      try {
        id = this.#nextId(ts)
      } catch {
        throw invalidRecord('ts out of range')
      }
    }
    const detail = normalizeDetail(record.detail)
    entry.detail = detail.value
    // CANONICAL_COLUMNS order, without seq
    entry.values = [
      id,
      ts,
      record.kind,
      boundedText(record.subject),
      boundedText(record.auth_method),
      boundedText(record.issuer),
      boundedText(record.peer),
      boundedText(record.cert_thumbprint),
      boundedText(record.audience),
      boundedText(record.scopes),
      wholeNumber(record.ttl),
      boundedText(record.secret_name),
      boundedText(record.route),
      record.decision,
      boundedText(record.reason),
      boundedText(record.token_id),
      wholeNumber(record.expires_at),
      wholeNumber(record.latency_us),
      detail.json,
    ]
  }

  /** Send up to maxBatch pending appends to the writer thread, unless a batch is already in flight. */
  #flush(): void {
    if (this.#scheduledFlush) clearImmediate(this.#scheduledFlush)
    this.#scheduledFlush = undefined
    if (this.#inFlight || this.#pending.length === 0) return
    let batch = this.#pending
    if (batch.length > this.#maxBatch) {
      batch = batch.slice(0, this.#maxBatch)
      this.#pending = this.#pending.slice(this.#maxBatch)
    } else {
      this.#pending = []
    }
    if (!this.#db.open) {
      // the owner closed the shared connection: the broker is shutting down
      this.#settle(batch, { ok: false, error: { code: 'database connection closed', message: '' } })
      this.#flush()
      return
    }
    this.#inFlight = this.#writer.write(batch.map((entry) => entry.values)).then((outcome) => {
      this.#inFlight = undefined
      // pipelining: the next batch goes out before this one's callers run
      this.#flush()
      this.#settle(batch, outcome)
    })
  }

  #settle(batch: PendingAppend[], outcome: BatchOutcome): void {
    if (outcome.ok === false) {
      const error = unavailable(outcome.error.code, sqliteError(outcome.error))
      for (const entry of batch) entry.reject(error)
      return
    }
    const stored: StoredExchange[] = []
    const settleOne = (entry: PendingAppend, seq: number, prevHash: string, hash: string) => {
      const row = storedExchange(entry, seq, prevHash, hash)
      stored.push(row)
      entry.resolve(row)
    }
    if (outcome.ok === true) {
      let previous = outcome.prevHash
      for (let i = 0; i < batch.length; i++) {
        const hash = outcome.hashes[i]!
        settleOne(batch[i]!, outcome.firstSeq + i, previous, hash)
        previous = hash
      }
    } else {
      outcome.outcomes.forEach((one, i) => {
        if (one.ok === true) settleOne(batch[i]!, one.firstSeq, one.prevHash, one.hashes[0]!)
        else this.#settle([batch[i]!], one)
      })
    }
    if (stored.length > 0) this.#notify(stored)
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

function prepareStatements(db: SqliteDatabase): Statements {
  return {
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

/** The committed row from what was sent (no read-back: every column is known). */
function storedExchange(entry: PendingAppend, seq: number, prevHash: string, hash: string): StoredExchange {
  const v = entry.values
  return {
    seq,
    id: v[0] as string,
    ts: v[1] as number,
    kind: v[2] as ExchangeKind,
    subject: v[3] as string | null,
    auth_method: v[4] as string | null,
    issuer: v[5] as string | null,
    peer: v[6] as string | null,
    cert_thumbprint: v[7] as string | null,
    audience: v[8] as string | null,
    scopes: v[9] as string | null,
    ttl: v[10] as number | null,
    secret_name: v[11] as string | null,
    route: v[12] as string | null,
    decision: v[13] as StoredExchange['decision'],
    reason: v[14] as string | null,
    token_id: v[15] as string | null,
    expires_at: v[16] as number | null,
    latency_us: v[17] as number | null,
    detail: entry.detail,
    prev_hash: prevHash,
    hash,
  }
}

function toStoredExchange(row: RawExchangeRow): StoredExchange {
  return { ...row, detail: typeof row.detail === 'string' ? JSON.parse(row.detail) : null } as StoredExchange
}

/** The writer thread's failure as an Error with SQLite's `code`, for `cause`. */
function sqliteError(failure: { code: string; message: string }): Error {
  return Object.assign(new Error(failure.message), { code: failure.code })
}

function unavailable(code: string, cause?: unknown): BrokerError {
  return new BrokerError(
    'ERR_AUDIT_UNAVAILABLE',
    `audit log unavailable: ${code}; no credential was issued`,
    { cause },
  )
}

function invalidRecord(problem: string): BrokerError {
  return new BrokerError('ERR_INTERNAL', `invalid audit record: ${problem}`)
}
