import { monotonicUlid } from '../audit/lib/ulid.js'
import type { DetailValue, ExchangeRecord } from '../audit/record.js'

export interface RefusalFolderOptions {
  /** Rows written in full per key per window; past this, refusals are counted into one summary row. */
  rowsPerWindow: number
  windowMs: number
  /** Keys tracked at once; refusals of further keys share one overflow key. */
  maxKeys: number
  /** The summary row of a window (reason and detail); `count` refusals were folded into it. */
  summary: (
    first: ExchangeRecord,
    count: number,
    windowStartMs: number,
  ) => Pick<ExchangeRecord, 'reason'> & {
    detail: Record<string, DetailValue>
  }
  now: () => number
  /** Writes a summary row (the appender). */
  write: (record: ExchangeRecord) => Promise<unknown>
  /** A summary row that could not be written: never silent. */
  onWriteFailed: (err: unknown, record: ExchangeRecord) => void
}

interface Window {
  start: number
  rows: number
  folded: number
  /** allocated at the first folded refusal: every folded refusal names it */
  summaryId?: string
  /** the first folded refusal: its fields (kind, subject, peer…) head the summary row */
  first?: ExchangeRecord
}

/** Key used once `maxKeys` are tracked (an address flood must not grow memory without bound). */
export const OVERFLOW_KEY = '(overflow)'

/**
 * Folds repeated refusals into summary rows so a flood cannot flood the audit log: per key, the
 * first `rowsPerWindow` refusals in a window are ordinary rows; the rest are counted, and one
 * summary row per key per window records the count. The summary row's id is allocated at the
 * first folded refusal, so every folded refusal can already name the row that will record it.
 */
export class RefusalFolder {
  readonly #windows = new Map<string, Window>()
  readonly #nextId: (ms: number) => string = monotonicUlid()
  readonly #pending = new Set<Promise<unknown>>()

  constructor(private readonly options: RefusalFolderOptions) {}

  /**
   * Decide for one refusal: undefined = write its row as usual; a string = it was folded into the
   * summary row with that exchange id (written when the window closes).
   */
  fold(key: string, record: ExchangeRecord): string | undefined {
    const now = this.options.now()
    let k = key
    if (!this.#windows.has(k) && this.#windows.size >= this.options.maxKeys) {
      this.sweep()
      if (this.#windows.size >= this.options.maxKeys) k = OVERFLOW_KEY
    }
    let window = this.#windows.get(k)
    if (window && now - window.start >= this.options.windowMs) {
      this.#close(k, window)
      window = undefined
    }
    if (!window) {
      window = { start: now, rows: 0, folded: 0 }
      this.#windows.set(k, window)
    }
    if (window.rows < this.options.rowsPerWindow) {
      window.rows++
      return undefined
    }
    window.folded++
    window.first ??= k === OVERFLOW_KEY ? { ...record, peer: OVERFLOW_KEY } : record
    window.summaryId ??= this.#nextId(now)
    return window.summaryId
  }

  /** Write the summary rows of every window that has ended; forget idle keys. */
  sweep(): void {
    const now = this.options.now()
    for (const [key, window] of this.#windows)
      if (now - window.start >= this.options.windowMs) this.#close(key, window)
  }

  /** Write every open summary now (shutdown, tests) and wait for the writes. */
  async flush(): Promise<void> {
    for (const [key, window] of this.#windows) this.#close(key, window)
    await Promise.allSettled([...this.#pending])
  }

  get trackedKeys(): number {
    return this.#windows.size
  }

  #close(key: string, window: Window): void {
    this.#windows.delete(key)
    if (window.folded === 0 || !window.first || !window.summaryId) return
    const summary = this.options.summary(window.first, window.folded, window.start)
    const record: ExchangeRecord = {
      ...window.first,
      id: window.summaryId,
      ts: undefined,
      decision: 'deny',
      reason: summary.reason,
      token_id: undefined,
      latency_us: undefined,
      detail: summary.detail,
    }
    const write = this.options
      .write(record)
      .catch((err) => this.options.onWriteFailed(err, record))
      .finally(() => this.#pending.delete(write))
    this.#pending.add(write)
  }
}
