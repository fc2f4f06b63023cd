/** Attribute values a span may carry; by construction never a token, secret value or key. */
export type AttributeValue = string | number | boolean

/** OTLP span kinds used here. */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const
/** OTLP status codes. */
export const SpanStatus = { UNSET: 0, OK: 1, ERROR: 2 } as const

/** A finished span as handed to the exporter; times are epoch milliseconds (fractional). */
export interface SpanData {
  traceId: string
  spanId: string
  parentSpanId?: string
  traceState?: string
  name: string
  kind: number
  startMs: number
  endMs: number
  attributes: Record<string, AttributeValue>
  status: { code: number; message?: string }
}

const timeOrigin = performance.timeOrigin

/** Wall-clock epoch milliseconds with sub-millisecond precision, monotonic within the process. */
export function nowMs(): number {
  return timeOrigin + performance.now()
}
