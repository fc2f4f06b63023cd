import type { DetailValue, ExchangeRecord } from '../record.js'

/** Upper bound for any one text field (and the whole `detail` JSON), in UTF-8 bytes. */
export const MAX_FIELD_BYTES = 2048
const TRUNCATION_MARK = '…'
const TRUNCATION_MARK_BYTES = 3
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

const encoder = new TextEncoder()
const scratch = new Uint8Array(MAX_FIELD_BYTES)

/**
 * Text as it will read back from SQLite: lone surrogates cannot survive UTF-8, so they are
 * replaced up front (otherwise the stored row would no longer match its hash), and anything
 * over MAX_FIELD_BYTES is cut on a character boundary, so a huge input cannot bloat the log.
 */
export function boundedText(value: unknown): string | null {
  if (value === undefined || value === null) return null
  const text = String(value).replace(LONE_SURROGATE, '\uFFFD')
  if (text.length * 3 <= MAX_FIELD_BYTES || Buffer.byteLength(text) <= MAX_FIELD_BYTES) return text
  // encodeInto stops before a character that does not fit, so `read` is a safe cut point
  const { read } = encoder.encodeInto(text, scratch.subarray(0, MAX_FIELD_BYTES - TRUNCATION_MARK_BYTES))
  return text.slice(0, read) + TRUNCATION_MARK
}

/** Whole numbers only: SQLite and JSON then agree on the value the hash covers. */
export function wholeNumber(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null
  return Math.round(value)
}

/**
 * `detail` as JSON text, or null when empty. Entries that would push it past MAX_FIELD_BYTES
 * and all after it are dropped and `_truncated: true` says so.
 */
export function detailJson(detail: ExchangeRecord['detail']): string | null {
  if (!detail || typeof detail !== 'object') return null
  const kept: Record<string, DetailValue> = {}
  let truncated = false
  for (const [rawKey, rawValue] of Object.entries(detail)) {
    const value = detailValue(rawValue)
    if (value === undefined) continue
    const key = boundedText(rawKey)!
    const candidate = { ...kept, [key]: value, _truncated: true }
    if (Buffer.byteLength(JSON.stringify(candidate)) > MAX_FIELD_BYTES) {
      // stop at the first entry that does not fit, so a huge object costs one pass, not n²
      truncated = true
      break
    }
    kept[key] = value
  }
  if (truncated) kept['_truncated'] = true
  return Object.keys(kept).length === 0 ? null : JSON.stringify(kept)
}

function detailValue(value: unknown): DetailValue | undefined {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string') return boundedText(value)!
  return undefined
}
