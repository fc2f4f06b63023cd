import { randomFillSync } from 'node:crypto'

/** A caller's W3C trace context (https://www.w3.org/TR/trace-context/), as parsed from `traceparent`. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string
  /** The caller's span: 16 lower-case hex digits, not all zero. */
  spanId: string
  sampled: boolean
}

/** Longer headers are ignored unread: the spec's headers are 55 characters (tracestate ≤ 512). */
const MAX_HEADER = 512
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ALL_ZERO = /^0+$/

/**
 * Parse a `traceparent` header; undefined when absent or invalid (the spec says: start a new trace).
 * Version 00 must have exactly four fields; a later version may append fields, which are ignored.
 */
export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  if (header === undefined || header.length > MAX_HEADER) return undefined
  const match = TRACEPARENT.exec(header.trim())
  if (!match) return undefined
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 }
}

/** The `traceparent` value naming `spanId` of `traceId` as the parent of what the receiver does. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`
}

/** `tracestate` is passed through untouched when it is of a sane size; it is vendor data, never ours. */
export function acceptTracestate(header: string | undefined): string | undefined {
  return header !== undefined && header.length > 0 && header.length <= MAX_HEADER ? header : undefined
}

const ZERO_IDS: Record<number, string> = { 8: '0'.repeat(16), 16: '0'.repeat(32) }

// Ids come from a pool refilled 4 KiB at a time: one CSPRNG call per ~500 spans, not one per span.
const pool = Buffer.allocUnsafe(4096)
let offset = pool.length

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const hex = pool.toString('hex', offset, offset + bytes)
    offset += bytes
    if (hex !== ZERO_IDS[bytes]) return hex // all-zero ids are invalid
  }
}

/** A new random 16-byte trace id (hex). */
export function newTraceId(): string {
  return randomHex(16)
}

/** A new random 8-byte span id (hex). */
export function newSpanId(): string {
  return randomHex(8)
}
