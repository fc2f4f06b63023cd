/*
 * Tracing: a span per exchange with a child span per step, W3C trace context in and out, OTLP/HTTP
 * JSON export in batches. Written here rather than taken from @opentelemetry/* to keep the broker's
 * dependency tree (and its hot path) small; the wire formats are the standard ones.
 */
export {
  attachTrace,
  type ExchangeStepName,
  ExchangeTrace,
  type SpanSink,
  traceOf,
} from './exchange_trace.js'
export { type Telemetry, telemetryFromConfig } from './from_config.js'
export { type OtlpExporterOptions, OtlpHttpExporter } from './otlp_exporter.js'
export { encodeOtlpJson } from './otlp_json.js'
export type { AttributeValue, SpanData } from './span.js'
export { formatTraceparent, parseTraceparent, type TraceParent } from './trace_context.js'
export { type ExchangeTracer, type IncomingTraceContext, Tracer } from './tracer.js'
