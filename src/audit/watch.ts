import type { Clock } from '../clock.js'
import type { AuditQuery, ExchangeFilter } from './query.js'
import type { StoredExchange } from './record.js'
import type { AppendListener } from './sqlite_store.js'

/** Where a watch delivers rows (a gRPC server stream, in the broker). */
export interface WatchSink {
  /** Queue one row; false when the sink's buffer is full (wait for `onceDrain`). */
  write(row: StoredExchange): boolean
  onceDrain(resume: () => void): void
}

export interface WatchOptions {
  filter: ExchangeFilter
  /** Deliver rows with seq greater than this. */
  afterSeq: number
  /** A paused watcher this many rows behind the head is dropped. */
  maxLag: number
  clock: Clock
  /** The watcher stopped reading and fell `lag` rows behind; it has been stopped. */
  onDropped(cursor: number, lag: number): void
  /** `until` has passed and every row before it was delivered; it has been stopped. */
  onComplete(): void
}

export interface AppendSource {
  onAppend(listener: AppendListener): () => void
}

const SCAN_ROWS = 256

/**
 * A live tail of the log that never skips or repeats a row: it keeps one cursor (the last seq
 * examined) and always reads what follows it from the database. Appends only wake it up, so a
 * backfill, a burst, or rows written by another process (the CLI) are all read the same way.
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
  #cursor: number
  #paused = false
  #stopped = false

  constructor(query: AuditQuery, source: AppendSource, sink: WatchSink, options: WatchOptions) {
    this.#query = query
    this.#sink = sink
    this.#options = options
    this.#cursor = options.afterSeq
    // subscribe before the first read: an append in between is then either read or announced
    this.#unsubscribe = source.onAppend((rows) => this.#onAppend(rows))
    this.#pump()
  }

  /** The last seq examined: a reconnecting watcher passes it as after_seq. */
  get cursor(): number {
    return this.#cursor
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#unsubscribe()
  }

  #onAppend(rows: StoredExchange[]): void {
    if (this.#stopped || rows.length === 0) return
    if (this.#paused) {
      const lag = rows[rows.length - 1]!.seq - this.#cursor
      if (lag > this.#options.maxLag) {
        this.stop()
        this.#options.onDropped(this.#cursor, lag)
      }
      return
    }
    this.#pump()
  }

  #pump(): void {
    while (!this.#stopped && !this.#paused) {
      const { rows, cursor } = this.#query.scan(this.#options.filter, this.#cursor, SCAN_ROWS)
      for (const row of rows) {
        this.#cursor = row.seq
        if (!this.#sink.write(row)) {
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

  #pause(): void {
    this.#paused = true
    this.#sink.onceDrain(() => {
      this.#paused = false
      this.#pump()
    })
  }
}
