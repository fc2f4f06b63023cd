import { type Clock, systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import {
  type ChainLink,
  type ChainStore,
  type CommitEffects,
  type ExchangeRow,
  StorageError,
} from '../storage/ports.js'
import { CANONICAL_FORM, rowHash } from './canonical.js'
import { boundedText, normalizeDetail, wholeNumber } from './lib/normalize.js'
import { monotonicUlid } from './lib/ulid.js'
import { DECISIONS, EXCHANGE_KINDS, type ExchangeRecord, type StoredExchange } from './record.js'

export interface ChainAppenderOptions {
  /** This process's chain. */
  nodeId: string
  clock?: Clock
  /** `audit.write_timeout`: an append not committed this long after it arrived fails. */
  writeTimeoutMs: number
  /** Rows per commit. Default 1000. */
  maxBatch?: number
}

export type AppendListener = (rows: StoredExchange[]) => void

/** What readiness and health report about the log, without touching the database. */
export interface AppendHealth {
  /** unix ms of the last commit that succeeded */
  lastOkAt?: number
  /** the last failure, when it is more recent than the last success */
  lastError?: { at: number; code: string; message: string }
  /** unix ms since which a commit has been in flight (a stuck writer shows here) */
  inFlightSince?: number
}

/** A committed row, and what its guardrail effects reported (the budget left after a spend). */
export type AppendedExchange = StoredExchange & { remaining?: number }

interface PendingAppend {
  row: ExchangeRow
  detail: StoredExchange['detail']
  /** committed alone, in the same transaction as the row */
  effects?: CommitEffects
  /** monotonic ms by which it must be committed */
  deadline: number
  settled: boolean
  resolve: (row: AppendedExchange) => void
  reject: (err: BrokerError) => void
}

const DEFAULT_MAX_BATCH = 1000

/**
 * The write side of the audit log, for any driver: appends to this process's own chain.
 *
 * The chain head is kept in memory (this process holds the chain's lease, so nobody else appends
 * to it) and re-read from the database after any commit whose outcome is unknown. Appends made in
 * the same turn are group-committed; one batch is in flight at a time and the next accumulates
 * meanwhile. Each append settles only after its batch is durable, so a caller that awaited it may
 * reply (fail closed otherwise: ERR_AUDIT_UNAVAILABLE).
 *
 * Every append has its own deadline, `writeTimeoutMs` after it arrived, however many batches are
 * queued before it: a timer rejects whatever is still unsettled at its deadline. A batch declared
 * failed may still commit later (a refused exchange may then have a row, never the reverse).
 */
export class ChainAppender {
  readonly nodeId: string
  readonly #chains: ChainStore
  readonly #clock: Clock
  readonly #writeTimeoutMs: number
  readonly #maxBatch: number
  readonly #nextId: (timeMs: number) => string
  readonly #listeners = new Set<AppendListener>()
  #head: ChainLink | undefined
  #pending: PendingAppend[] = []
  #inFlight: PendingAppend[] | undefined
  #scheduled: NodeJS.Immediate | undefined
  #deadlineTimer: NodeJS.Timeout | undefined
  #closed = false
  readonly health: AppendHealth = {}

  constructor(chains: ChainStore, options: ChainAppenderOptions) {
    this.nodeId = options.nodeId
    this.#chains = chains
    this.#clock = options.clock ?? systemClock
    this.#writeTimeoutMs = options.writeTimeoutMs
    this.#maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    this.#nextId = monotonicUlid()
  }

  /**
   * Record one exchange. Resolves with the committed row; rejects with ERR_AUDIT_UNAVAILABLE when
   * the log cannot be written in time (the caller must then refuse the exchange).
   *
   * With `effects` (a usage budget created or spent) the row is committed in a batch of its own,
   * in one transaction with the effect; a spent budget rejects with ERR_BUDGET_EXHAUSTED and
   * writes nothing.
   */
  append(record: ExchangeRecord, effects?: CommitEffects): Promise<AppendedExchange> {
    if (this.#closed) return Promise.reject(unavailable('the audit log is closed'))
    let entry!: PendingAppend
    const committed = new Promise<AppendedExchange>((resolve, reject) => {
      entry = { row: undefined!, detail: null, deadline: 0, settled: false, resolve, reject }
      if (effects) entry.effects = effects
    })
    try {
      this.#normalize(record, entry)
    } catch (err) {
      return Promise.reject(err)
    }
    entry.deadline = performance.now() + this.#writeTimeoutMs
    this.#pending.push(entry)
    this.#armDeadline()
    if (this.#inFlight) return committed // sent when the batch in flight settles
    if (this.#pending.length >= this.#maxBatch) this.#flush()
    else this.#scheduled ??= setImmediate(() => this.#flush())
    return committed
  }

  /** Called with each committed batch, after COMMIT. Returns the unsubscribe function. */
  onAppend(listener: AppendListener): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /** Write what is pending (bounded by its deadlines), then refuse further appends. */
  async close(): Promise<void> {
    this.#closed = true
    this.#flush()
    while (this.#inFlight || this.#pending.length > 0) await new Promise((r) => setTimeout(r, 5))
    clearTimeout(this.#deadlineTimer)
  }

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
    entry.row = {
      node_id: this.nodeId,
      seq: 0,
      form: CANONICAL_FORM,
      id,
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
      detail: detail.json,
      run_id: boundedText(record.run_id),
      tool_call_id: boundedText(record.tool_call_id),
      approval_id: boundedText(record.approval_id),
      trace_id: boundedText(record.trace_id),
      grant_name: boundedText(record.grant_name),
      prev_hash: '',
      hash: '',
    }
  }

  #flush(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    if (this.#inFlight) return
    // entries already refused at their deadline are not written
    this.#pending = this.#pending.filter((e) => !e.settled)
    if (this.#pending.length === 0) return
    const batch = this.#pending.splice(0, this.#batchLength())
    this.#inFlight = batch
    this.health.inFlightSince ??= this.#clock.now()
    void this.#commit(batch).finally(() => {
      this.#inFlight = undefined
      this.health.inFlightSince = undefined
      this.#flush()
    })
  }

  /** Up to maxBatch plain appends; an append with effects goes alone. */
  #batchLength(): number {
    if (this.#pending[0]!.effects) return 1
    const withEffects = this.#pending.findIndex((e, i) => i < this.#maxBatch && e.effects !== undefined)
    return withEffects < 0 ? this.#maxBatch : withEffects
  }

  async #commit(batch: PendingAppend[]): Promise<void> {
    const remaining = () =>
      Math.max(1, Math.ceil(Math.max(...batch.map((e) => e.deadline)) - performance.now()))
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        this.#head ??= await this.#chains.readHead(this.nodeId)
        const head = this.#head
        const rows = this.#chain(batch, head)
        const result = await this.#chains.commit(this.nodeId, head, rows, remaining(), batch[0]!.effects)
        this.#head = { seq: rows[rows.length - 1]!.seq, hash: rows[rows.length - 1]!.hash }
        this.health.lastOkAt = this.#clock.now()
        this.health.lastError = undefined
        this.#settleCommitted(batch, rows, result?.remaining)
        return
      } catch (err) {
        const failure = asStorageError(err)
        if (failure.code === 'BUDGET_EXHAUSTED') {
          // the database answered: the head did not move and the log is healthy
          this.#reject(
            batch[0]!,
            new BrokerError('ERR_BUDGET_EXHAUSTED', failure.message, { cause: failure }),
          )
          return
        }
        if (failure.code === 'HEAD_MOVED' || failure.outcomeUnknown) this.#head = undefined
        if (failure.code === 'HEAD_MOVED' && attempt === 0) continue // re-read the head and chain again
        if (failure.code === 'DUPLICATE_ID' && batch.length > 1) {
          // a duplicate caller-supplied id fails only its own append
          for (const entry of batch) await this.#commit([entry])
          return
        }
        const code = failure.driverCode ?? failure.code
        this.health.lastError = { at: this.#clock.now(), code, message: failure.message }
        // a driver code (SQLITE_BUSY) says it all; otherwise the driver's message names what failed
        const error = unavailable(failure.driverCode ?? failure.message, failure)
        for (const entry of batch) this.#reject(entry, error)
        return
      }
    }
  }

  #chain(batch: PendingAppend[], head: ChainLink): ExchangeRow[] {
    let seq = head.seq
    let previous = head.hash
    return batch.map((entry) => {
      const row = entry.row
      row.seq = ++seq
      row.prev_hash = previous
      row.hash = rowHash(previous, row)
      previous = row.hash
      return row
    })
  }

  #settleCommitted(batch: PendingAppend[], rows: ExchangeRow[], remaining?: number): void {
    const stored: StoredExchange[] = []
    batch.forEach((entry, i) => {
      const { form: _form, detail: _detail, ...row } = rows[i]!
      const out = { ...row, detail: entry.detail } as StoredExchange
      stored.push(out)
      if (!entry.settled) {
        entry.settled = true
        entry.resolve(remaining === undefined ? out : { ...out, remaining })
      }
    })
    for (const listener of this.#listeners) {
      try {
        listener(stored)
      } catch (err) {
        // a live-tail subscriber must not turn a committed write into a failure
        process.emitWarning(`audit onAppend listener threw: ${String(err)}`)
      }
    }
  }

  #reject(entry: PendingAppend, error: BrokerError): void {
    if (entry.settled) return
    entry.settled = true
    entry.reject(error)
  }

  /** One timer for the oldest unsettled append; it refuses everything past its deadline. */
  #armDeadline(): void {
    if (this.#deadlineTimer) return
    const oldest = this.#inFlight?.find((e) => !e.settled) ?? this.#pending.find((e) => !e.settled)
    if (!oldest) return
    this.#deadlineTimer = setTimeout(
      () => this.#onDeadline(),
      Math.max(0, oldest.deadline - performance.now()),
    )
    this.#deadlineTimer.unref?.()
  }

  #onDeadline(): void {
    this.#deadlineTimer = undefined
    const now = performance.now()
    const late = unavailable(`write not committed within audit.write_timeout (${this.#writeTimeoutMs} ms)`)
    let expired = 0
    for (const entry of [...(this.#inFlight ?? []), ...this.#pending])
      if (!entry.settled && entry.deadline <= now) {
        this.#reject(entry, late)
        expired++
      }
    if (expired > 0) this.health.lastError = { at: this.#clock.now(), code: 'TIMEOUT', message: late.message }
    this.#armDeadline()
  }
}

function asStorageError(err: unknown): StorageError {
  if (err instanceof StorageError) return err
  return new StorageError('UNAVAILABLE', err instanceof Error ? err.message : String(err), {
    cause: err,
    outcomeUnknown: true,
  })
}

function unavailable(why: string, cause?: unknown): BrokerError {
  return new BrokerError('ERR_AUDIT_UNAVAILABLE', `audit log unavailable: ${why}; no credential was issued`, {
    cause,
  })
}

function invalidRecord(problem: string): BrokerError {
  return new BrokerError('ERR_INTERNAL', `invalid audit record: ${problem}`)
}
