import type { ExchangeRecord } from '../audit/record.js'
import { type AttributeValue, nowMs, type SpanData, SpanKind, SpanStatus } from './span.js'
import { formatTraceparent, newSpanId } from './trace_context.js'

/** The named steps of an exchange, each a child span of the exchange's span. */
export type ExchangeStepName = 'authenticate' | 'authorize' | 'produce' | 'record' | 'upstream'

/** Where finished spans go (the batching exporter); only sampled traces reach it. */
export type SpanSink = (span: SpanData) => void

interface OpenStep {
  name: ExchangeStepName
  spanId: string
  startMs: number
}

/**
 * The record fields copied onto the exchange span: identifiers and names only. The audit row holds
 * no token, secret value or key, and `detail` (which could grow such a field some day) is not copied
 * wholesale — only its `code` and `transport`.
 */
const RECORD_ATTRIBUTES = [
  ['kind', 'keybroker.exchange.kind'],
  ['decision', 'keybroker.decision'],
  ['subject', 'keybroker.subject'],
  ['auth_method', 'keybroker.auth_method'],
  ['audience', 'keybroker.audience'],
  ['scopes', 'keybroker.scopes'],
  ['secret_name', 'keybroker.secret.name'],
  ['route', 'keybroker.route'],
  ['grant_name', 'keybroker.grant'],
  ['run_id', 'keybroker.run_id'],
  ['tool_call_id', 'keybroker.tool_call_id'],
  ['approval_id', 'keybroker.approval_id'],
] as const satisfies ReadonlyArray<readonly [keyof ExchangeRecord, string]>

/**
 * One exchange's span and its steps. Steps are sequential, so `step(name)` ends the open step span
 * and opens the next; `finish` ends the last step and the exchange span. Calls after `finish` are
 * ignored, so a flow that records twice cannot end a span twice.
 */
export class ExchangeTrace {
  readonly traceId: string
  readonly spanId: string
  /**
   * Set by a flow whose work goes on after a committed row (the proxy forwards after its write-ahead
   * row): the exchange span then ends at its last row, not its first.
   */
  held = false
  readonly #parentSpanId: string | undefined
  readonly #sampled: boolean
  readonly #traceState: string | undefined
  readonly #name: string
  readonly #startMs = nowMs()
  readonly #sink: SpanSink
  readonly #attributes: Record<string, AttributeValue>
  #step: OpenStep | undefined
  #ended = false

  constructor(options: {
    traceId: string
    parentSpanId?: string
    sampled: boolean
    traceState?: string
    call: string
    sink: SpanSink
  }) {
    this.traceId = options.traceId
    this.spanId = newSpanId()
    this.#parentSpanId = options.parentSpanId
    this.#sampled = options.sampled
    this.#traceState = options.traceState
    this.#name = `keybroker ${options.call}`
    this.#sink = options.sink
    this.#attributes = { 'keybroker.call': options.call }
  }

  /** End the open step span (if any) and open `name` as the next child of the exchange span. */
  step(name: ExchangeStepName): void {
    if (this.#ended) return
    const at = nowMs()
    this.#endStep(at)
    this.#step = { name, spanId: newSpanId(), startMs: at }
  }

  /** `traceparent` for a request this exchange makes now: the open step is its parent. */
  traceparent(): string {
    return formatTraceparent(this.traceId, this.#step?.spanId ?? this.spanId, this.#sampled)
  }

  /** End the open step and the exchange span, labelled with what its audit row says. */
  finish(record: ExchangeRecord, exchangeId?: string, code?: string): void {
    if (this.#ended) return
    this.#ended = true
    const at = nowMs()
    this.#endStep(at)
    if (!this.#sampled) return
    const attributes = this.#attributes
    for (const [field, key] of RECORD_ATTRIBUTES) {
      const value = record[field]
      if (value !== undefined) attributes[key] = value
    }
    const transport = record.detail?.transport
    if (transport !== undefined) attributes['keybroker.transport'] = transport
    const errorCode = code ?? record.detail?.code
    if (errorCode !== undefined) attributes['keybroker.error.code'] = String(errorCode)
    if (exchangeId !== undefined) attributes['keybroker.exchange.id'] = exchangeId
    this.#sink({
      traceId: this.traceId,
      spanId: this.spanId,
      ...(this.#parentSpanId ? { parentSpanId: this.#parentSpanId } : {}),
      ...(this.#traceState ? { traceState: this.#traceState } : {}),
      name: this.#name,
      kind: SpanKind.SERVER,
      startMs: this.#startMs,
      endMs: at,
      attributes,
      status:
        record.decision === 'error'
          ? { code: SpanStatus.ERROR, message: String(errorCode ?? 'error') }
          : { code: SpanStatus.UNSET },
    })
  }

  #endStep(at: number): void {
    const step = this.#step
    if (!step) return
    this.#step = undefined
    if (!this.#sampled) return
    this.#sink({
      traceId: this.traceId,
      spanId: step.spanId,
      parentSpanId: this.spanId,
      name: step.name,
      kind: step.name === 'upstream' ? SpanKind.CLIENT : SpanKind.INTERNAL,
      startMs: step.startMs,
      endMs: at,
      attributes: {},
      status: { code: SpanStatus.UNSET },
    })
  }
}

// The trace rides on the exchange's audit record under a symbol: object spread (`{ ...base }`)
// carries it to every row the flow writes, while the appender, which copies named fields only,
// never sees it.
const TRACE = Symbol('keybroker.exchangeTrace')
type Traced = { [TRACE]?: ExchangeTrace }

/** Tie `trace` to a record (and to every copy spread from it). */
export function attachTrace(record: ExchangeRecord, trace: ExchangeTrace): void {
  ;(record as Traced)[TRACE] = trace
  record.trace_id = trace.traceId
}

/** The trace tied to `record`, if any. */
export function traceOf(record: ExchangeRecord): ExchangeTrace | undefined {
  return (record as Traced)[TRACE]
}
