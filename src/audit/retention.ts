import type { Clock } from '../clock.js'
import type { SqliteAuditStore } from './sqlite_store.js'

export interface RetentionOptions {
  clock: Clock
  retentionDays: number
  /** Rows per transaction; small, so a broker append never waits long behind pruning. */
  batchSize?: number
}

const DAY_MS = 86_400_000

/**
 * `audit.retention_days`: deletes rows older than the window, one small transaction per turn of
 * the event loop, behind the store's checkpoint (so `verify` still passes). The cutoff comes from
 * the injected clock, so tests move time instead of waiting.
 */
export class AuditRetention {
  readonly #audit: SqliteAuditStore
  readonly #options: Required<RetentionOptions>
  #running: Promise<number> | undefined

  constructor(audit: SqliteAuditStore, options: RetentionOptions) {
    this.#audit = audit
    this.#options = { batchSize: 500, ...options }
  }

  /** Prune everything past the window now; resolves with the rows deleted. Runs are never concurrent. */
  run(): Promise<number> {
    this.#running ??= this.#prune().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #prune(): Promise<number> {
    const cutoff = this.#options.clock.now() - this.#options.retentionDays * DAY_MS
    let total = 0
    for (;;) {
      const deleted = this.#audit.pruneBatch(cutoff, this.#options.batchSize)
      total += deleted
      if (deleted < this.#options.batchSize) return total
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }
}
