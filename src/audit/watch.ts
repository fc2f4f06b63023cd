import type { Clock } from '../clock.js'
import type { ChainCursor } from '../storage/ports.js'
import type { AppendListener } from './appender.js'
import type { AuditQuery, ExchangeFilter } from './query.js'
import type { StoredExchange } from './record.js'

/** Where a watch delivers rows (a gRPC server stream, in the broker). */
export interface WatchSink {
  /** Queue one row (with the cursor just after it); false when the sink's buffer is full (wait for `onceDrain`). */
  write(row: StoredExchange, cursor: ChainCursor): boolean
  onceDrain(resume: () => void): void
}

export interface WatchOptions {
  filter: ExchangeFilter
  /** Deliver rows past this cursor (per chain). */
  cursor: ChainCursor
  /** Also look for rows of other processes this often (they do not announce their appends here). Default 1000 ms. */
  pollMs?: number
  /** A paused watcher this many rows behind the head is dropped. */
  maxLag: number
  clock: Clock
  /** The watcher stopped reading and fell `lag` rows behind; it has been stopped. */
  onDropped(cursor: ChainCursor, lag: number): void
  /** `until` has passed and every row before it was delivered; it has been stopped. */
  onComplete(): void
}

export interface AppendSource {
  onAppend(listener: AppendListener): () => void
}

const SCAN_ROWS = 256

/**
 * A live tail of the log that never skips or repeats a row: it keeps one cursor (the last seq
 * examined on each chain) and always reads what follows it from the database. Local appends wake
 * it up at once; rows of other writer processes (the CLI, other replicas) are found by a poll.
 *
 * Memory per watcher is bounded by the sink's own buffer: when `write` returns false the watch
 * pauses and reads nothing more; if the log then runs more than `maxLag` rows ahead, the watcher
 * is dropped (other watchers are untouched) and told the cursor to resume from.
 */
export class ExchangeWatch {
  readonly #query: AuditQuery
  readonly #sink: WatchSink
  readonly #options: WatchOptions
  readonly #unsubscribe: () => void
  readonly #poll: NodeJS.Timeout
  #cursor: ChainCursor
  #paused = false
  #stopped = false
  #pumping = false
  #again = false
  #behind = 0

  constructor(query: AuditQuery, source: AppendSource, sink: WatchSink, options: WatchOptions) {
    this.#query = query
    this.#sink = sink
    this.#options = options
    this.#cursor = { ...options.cursor }
    // subscribe before the first read: an append in between is then either read or announced
    this.#unsubscribe = source.onAppend((rows) => this.#onAppend(rows))
    this.#poll = setInterval(() => this.#wake(), options.pollMs ?? 1000)
    this.#poll.unref()
    this.#wake()
  }

  /** Where a reconnecting watcher resumes. */
  get cursor(): ChainCursor {
    return { ...this.#cursor }
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#poll)
    this.#unsubscribe()
  }

  /** `rows` committed here; an empty list means another process committed rows (a notification): read. */
  #onAppend(rows: StoredExchange[]): void {
    if (this.#stopped) return
    if (this.#paused) {
      this.#behind += rows.length
      if (this.#behind > this.#options.maxLag) {
        this.stop()
        this.#options.onDropped(this.cursor, this.#behind)
      }
      return
    }
    this.#wake()
  }

  #wake(): void {
    if (this.#stopped || this.#paused) return
    if (this.#pumping) {
      this.#again = true
      return
    }
    this.#pumping = true
    this.#pump()
      .catch(() => {
        // a failed read is retried on the next wake (append or poll)
      })
      .finally(() => {
        this.#pumping = false
        if (this.#again) {
          this.#again = false
          this.#wake()
        }
      })
  }

  async #pump(): Promise<void> {
    while (!this.#stopped && !this.#paused) {
      const { rows, cursor } = await this.#query.scan(this.#options.filter, this.#cursor, SCAN_ROWS)
      if (this.#stopped) return
      for (const row of rows) {
        this.#cursor[row.node_id] = Math.max(this.#cursor[row.node_id] ?? 0, row.seq)
        if (!this.#sink.write(row, this.#cursor)) {
          this.#advance(cursor, rows, row)
          this.#pause()
          return
        }
      }
      this.#cursor = cursor
      if (rows.length < SCAN_ROWS) break
    }
    const until = this.#options.filter.untilMs
    if (!this.#stopped && !this.#paused && until !== undefined && this.#options.clock.now() >= until) {
      this.stop()
      this.#options.onComplete()
    }
  }

  /**
   * Paused mid-scan: keep the cursor at the last row delivered on each chain that had rows after
   * it, and take the scan's cursor for the chains whose rows were all delivered.
   */
  #advance(scanned: ChainCursor, rows: StoredExchange[], lastDelivered: StoredExchange): void {
    const index = rows.indexOf(lastDelivered)
    const undelivered = new Set(rows.slice(index + 1).map((r) => r.node_id))
    for (const [node, seq] of Object.entries(scanned)) if (!undelivered.has(node)) this.#cursor[node] = seq
  }

  #pause(): void {
    this.#paused = true
    this.#behind = 0
    this.#sink.onceDrain(() => {
      this.#paused = false
      this.#wake()
    })
  }
}
