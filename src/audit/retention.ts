import type { Clock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { AuditPruner, AuditReader, ChainLink } from '../storage/ports.js'
import { GENESIS_HASH } from './canonical.js'
import { linkProblem } from './lib/chain.js'

export interface RetentionOptions {
  clock: Clock
  retentionDays: number
  /** Rows per transaction; small, so a broker append never waits long behind pruning. */
  batchSize?: number
}

const DAY_MS = 86_400_000

/**
 * `audit.retention_days`: per chain, deletes the oldest rows past the window in small batches,
 * each behind the chain's retention checkpoint (so `verify` still passes). A prefix is deleted
 * only after it verifies: pruning must never hide tampering. The cutoff comes from the injected
 * clock, so tests move time instead of waiting.
 */
export class AuditRetention {
  readonly #reader: AuditReader
  readonly #pruner: AuditPruner
  readonly #options: Required<RetentionOptions>
  #running: Promise<number> | undefined

  constructor(reader: AuditReader, pruner: AuditPruner, options: RetentionOptions) {
    this.#reader = reader
    this.#pruner = pruner
    this.#options = { batchSize: 500, ...options }
  }

  /** Prune everything past the window now; resolves with the rows deleted. Runs are never concurrent. */
  run(): Promise<number> {
    this.#running ??= this.#pruneAll().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #pruneAll(): Promise<number> {
    const cutoff = this.#options.clock.now() - this.#options.retentionDays * DAY_MS
    const checkpoints = new Map((await this.#reader.retentionCheckpoints()).map((c) => [c.nodeId, c]))
    let total = 0
    for (const head of await this.#reader.heads()) {
      let previous: ChainLink = checkpoints.get(head.nodeId) ?? { seq: 0, hash: GENESIS_HASH }
      for (;;) {
        const rows = await this.#reader.chainRows(head.nodeId, previous.seq, this.#options.batchSize)
        const start = previous
        for (const row of rows) {
          if (row.ts >= cutoff) break
          const problem = linkProblem(previous, row)
          if (problem)
            throw new BrokerError(
              'ERR_FAILED_PRECONDITION',
              `audit chain ${head.nodeId} broken at seq ${row.seq} (${problem}); not pruning`,
            )
          previous = { seq: row.seq, hash: row.hash }
        }
        if (previous.seq === start.seq) break
        total += await this.#pruner.prunePrefix(head.nodeId, previous)
        if (rows.length < this.#options.batchSize || rows[rows.length - 1]!.seq !== previous.seq) break
      }
    }
    return total
  }
}
