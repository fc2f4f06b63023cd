import { ExchangeTrace, type SpanSink } from './exchange_trace.js'
import { acceptTracestate, newTraceId, parseTraceparent } from './trace_context.js'

/** What the transport passes along: the caller's raw W3C headers (gRPC metadata or HTTP). */
export interface IncomingTraceContext {
  traceparent?: string
  tracestate?: string
}

/** The narrow seam the exchange steps use; absent (tracing off) costs one null check per step. */
export interface ExchangeTracer {
  /** Open the span of one exchange: a child of the caller's span when it sent a valid `traceparent`. */
  begin(call: string, incoming: IncomingTraceContext): ExchangeTrace
}

/**
 * Builds exchange traces that report to `sink`. A caller's trace that says "not sampled" is
 * continued (its trace id still lands in the audit row) but not exported.
 */
export class Tracer implements ExchangeTracer {
  constructor(private readonly sink: SpanSink) {}

  begin(call: string, incoming: IncomingTraceContext): ExchangeTrace {
    const parent = parseTraceparent(incoming.traceparent)
    if (!parent) return new ExchangeTrace({ traceId: newTraceId(), sampled: true, call, sink: this.sink })
    return new ExchangeTrace({
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      sampled: parent.sampled,
      traceState: acceptTracestate(incoming.tracestate),
      call,
      sink: this.sink,
    })
  }
}
