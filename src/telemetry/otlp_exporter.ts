import { encodeOtlpJson } from './otlp_json.js'
import type { AttributeValue, SpanData } from './span.js'

export interface OtlpExporterOptions {
  /** Collector base URL; spans go to `{endpoint}/v1/traces`. */
  endpoint: string
  resource: Record<string, AttributeValue>
  /** Spans held while waiting to be sent; beyond this, new spans are dropped. Default 4096. */
  maxQueue?: number
  /** Spans per POST. Default 512. */
  batchSize?: number
  /** How often a partial batch is sent. Default 1000 ms. */
  flushMs?: number
  /** Per-POST time limit. Default 5000 ms. */
  timeoutMs?: number
  /** Told (at most once a minute) that export is failing or spans were dropped. */
  onProblem?: (problem: { message: string; dropped: number; err?: unknown }) => void
}

const PROBLEM_REPORT_INTERVAL_MS = 60_000

/**
 * Sends finished spans to an OTLP/HTTP collector as JSON, in batches, off the request path:
 * `export` only pushes onto an array. One POST is in flight at a time; when the queue is full
 * (collector slow or down) new spans are dropped and counted, so tracing can never hold up,
 * slow down or grow the memory of an exchange.
 */
export class OtlpHttpExporter {
  readonly #url: string
  readonly #options: Required<Omit<OtlpExporterOptions, 'onProblem'>> & Pick<OtlpExporterOptions, 'onProblem'>
  #queue: SpanData[] = []
  #sending: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout
  #dropped = 0
  #droppedReported = 0
  #lastReportAt = 0
  #closed = false

  constructor(options: OtlpExporterOptions) {
    this.#options = { maxQueue: 4096, batchSize: 512, flushMs: 1000, timeoutMs: 5000, ...options }
    this.#url = `${options.endpoint.replace(/\/+$/, '')}/v1/traces`
    this.#timer = setInterval(() => this.#sendNext(), this.#options.flushMs)
    this.#timer.unref()
  }

  /** Spans dropped so far because the queue was full or the collector refused them. */
  get dropped(): number {
    return this.#dropped
  }

  /** Queue a finished span; never blocks, never throws. */
  export(span: SpanData): void {
    if (this.#closed || this.#queue.length >= this.#options.maxQueue) {
      this.#dropped++
      return
    }
    this.#queue.push(span)
    if (this.#queue.length >= this.#options.batchSize) this.#sendNext()
  }

  /** Send everything queued now (waits for the POSTs; used by shutdown and tests). */
  async flush(): Promise<void> {
    while (this.#sending || this.#queue.length > 0) {
      if (this.#sending) await this.#sending
      else this.#sendNext()
    }
  }

  /** Flush, then stop: later spans are dropped. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
    this.#closed = true
  }

  #sendNext(): void {
    if (this.#sending || this.#queue.length === 0) return
    const batch = this.#queue.splice(0, this.#options.batchSize)
    this.#sending = this.#post(batch).finally(() => {
      this.#sending = undefined
      // a backlog is sent right away rather than at the next tick
      if (this.#queue.length >= this.#options.batchSize) this.#sendNext()
    })
  }

  async #post(batch: SpanData[]): Promise<void> {
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: encodeOtlpJson(batch, this.#options.resource),
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      })
      await res.arrayBuffer().catch(() => undefined)
      if (!res.ok) this.#lost(batch.length, `collector answered HTTP ${res.status}`)
    } catch (err) {
      this.#lost(batch.length, 'could not reach the collector', err)
    }
    this.#reportDrops()
  }

  #lost(count: number, message: string, err?: unknown): void {
    this.#dropped += count
    this.#report(message, err)
  }

  #reportDrops(): void {
    if (this.#dropped > this.#droppedReported) this.#report('spans dropped: export queue full')
  }

  #report(message: string, err?: unknown): void {
    const now = Date.now()
    if (now - this.#lastReportAt < PROBLEM_REPORT_INTERVAL_MS) return
    this.#lastReportAt = now
    this.#droppedReported = this.#dropped
    this.#options.onProblem?.({
      message: `OTLP export to ${this.#url}: ${message}`,
      dropped: this.#dropped,
      err,
    })
  }
}
