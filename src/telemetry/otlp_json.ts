import type { AttributeValue, SpanData } from './span.js'

/**
 * The OTLP/HTTP JSON body (ExportTraceServiceRequest) for a batch of spans: ids as hex strings,
 * times as decimal strings of Unix nanoseconds, attributes as typed `AnyValue`s — the encoding
 * https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding prescribes.
 */
export function encodeOtlpJson(spans: readonly SpanData[], resource: Record<string, AttributeValue>): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: keyValues(resource) },
        scopeSpans: [
          {
            scope: { name: 'keybroker' },
            spans: spans.map((span) => ({
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              ...(span.traceState ? { traceState: span.traceState } : {}),
              name: span.name,
              kind: span.kind,
              startTimeUnixNano: unixNanos(span.startMs),
              endTimeUnixNano: unixNanos(span.endMs),
              attributes: keyValues(span.attributes),
              status: span.status,
            })),
          },
        ],
      },
    ],
  })
}

function keyValues(attributes: Record<string, AttributeValue>) {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }))
}

function anyValue(value: AttributeValue) {
  if (typeof value === 'string') return { stringValue: value }
  if (typeof value === 'boolean') return { boolValue: value }
  // int64 travels as a decimal string in OTLP JSON
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value }
}

/** Epoch ms (fractional) → decimal nanoseconds, exact to the microsecond (string work, no BigInt: hot). */
function unixNanos(ms: number): string {
  let whole = Math.floor(ms)
  let micros = Math.round((ms - whole) * 1000)
  if (micros === 1000) {
    whole += 1
    micros = 0
  }
  return `${whole}${String(micros).padStart(3, '0')}000`
}
