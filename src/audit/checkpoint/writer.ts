import type { Logger } from 'pino'
import type { Clock } from '../../clock.js'
import type { AuditReader } from '../../storage/ports.js'
import type { ChainAppender } from '../appender.js'
import type { CheckpointFile } from './file.js'
import type { CheckpointKey } from './key.js'
import { type CheckpointHead, type SignedCheckpoint, signCheckpoint } from './token.js'

export interface CheckpointWriterOptions {
  logId: string
  reader: AuditReader
  appender: ChainAppender
  key: CheckpointKey
  /** undefined: checkpoints are signed and served, but kept nowhere (warned at start) */
  file?: CheckpointFile
  clock: Clock
  logger: Logger
  /** A checkpoint after this many rows appended by this process. */
  everyRows: number
  /** …and every this many ms when any chain moved. */
  intervalMs: number
  /** Called with each checkpoint written (alert sinks, metrics). */
  onCheckpoint?: (signed: SignedCheckpoint) => void
}

/**
 * Writes signed checkpoints of every chain's committed head: every `everyRows` rows this process
 * appends, every `intervalMs` when a head moved (rows of other replicas or the CLI included), once
 * at start and once at close. One write at a time; a trigger during a write runs one more after it.
 * A failed write is logged and retried at the next trigger: the log itself keeps working.
 */
export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions
  #timer: NodeJS.Timeout | undefined
  #unsubscribe: (() => void) | undefined
  #rowsSince = 0
  #writing: Promise<void> | undefined
  #again = false
  #lastHeads = ''
  #latest: SignedCheckpoint | undefined
  #closed = false

  constructor(options: CheckpointWriterOptions) {
    this.#o = options
  }

  /** Write the first checkpoint (must succeed), then keep writing. */
  async start(): Promise<void> {
    await this.#write(true)
    this.#unsubscribe = this.#o.appender.onAppend((rows) => {
      this.#rowsSince += rows.length
      if (this.#rowsSince >= this.#o.everyRows) this.trigger()
    })
    this.#timer = setInterval(() => this.trigger(), this.#o.intervalMs)
    this.#timer.unref()
  }

  /** The newest checkpoint written (GET /audit/checkpoint). */
  get latest(): SignedCheckpoint | undefined {
    return this.#latest
  }

  /** Write a checkpoint now if any head moved; resolves when it is durable. */
  trigger(): Promise<void> {
    if (this.#writing) {
      this.#again = true
      return this.#writing
    }
    this.#writing = this.#write(false)
      .catch((err) =>
        this.#o.logger.error({ err }, 'could not write an audit checkpoint; retrying at the next one'),
      )
      .finally(() => {
        this.#writing = undefined
        if (this.#again && !this.#closed) {
          this.#again = false
          void this.trigger()
        }
      })
    return this.#writing
  }

  /** Stop the triggers and write a last checkpoint (call after the appender has drained). */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    this.#unsubscribe?.()
    await this.#writing
    await this.#write(false).catch((err) =>
      this.#o.logger.error({ err }, 'could not write the final audit checkpoint'),
    )
  }

  async #write(force: boolean): Promise<void> {
    const rowsBefore = this.#rowsSince
    const heads: CheckpointHead[] = (await this.#o.reader.heads())
      .filter((h) => h.seq > 0)
      .map((h) => ({ node_id: h.nodeId, seq: h.seq, hash: h.hash }))
      .sort((a, b) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0))
    const fingerprint = JSON.stringify(heads)
    if (!force && fingerprint === this.#lastHeads) return
    const checkpoint = await signCheckpoint(
      { log_id: this.#o.logId, ts: this.#o.clock.now(), heads },
      this.#o.key,
    )
    const signed = { checkpoint, key: this.#o.key.publicJwk }
    await this.#o.file?.append(signed)
    this.#lastHeads = fingerprint
    this.#rowsSince = Math.max(0, this.#rowsSince - rowsBefore)
    this.#latest = signed
    this.#o.onCheckpoint?.(signed)
  }
}
