import type { DetailValue, ExchangeRecord } from '../record.js'

/** Upper bound for any one text field (and the whole `detail` JSON), in UTF-8 bytes. */
export const MAX_FIELD_BYTES = 2048
const TRUNCATION_MARK = '…'
const TRUNCATION_MARK_BYTES = 3
const TRUNCATION_FLAG_BYTES = Buffer.byteLength(',"_truncated":true')

const encoder = new TextEncoder()
const scratch = new Uint8Array(MAX_FIELD_BYTES)

/**
 * Text as it will read back from SQLite: lone surrogates cannot survive UTF-8, so they are
 * replaced up front (otherwise the stored row would no longer match its hash), and anything
 * over MAX_FIELD_BYTES is cut on a character boundary, so a huge input cannot bloat the log.
 */
export function boundedText(value: unknown): string | null {
  if (value === undefined || value === null) return null
  let text = typeof value === 'string' ? value : String(value)
  // toWellFormed replaces each lone surrogate with U+FFFD, as the UTF-8 round trip would
  if (!(text as unknown as WellFormedText).isWellFormed())
    text = (text as unknown as WellFormedText).toWellFormed()
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

/** ES2024 String methods (Node 20 has them; the ES2022 lib does not declare them). */
interface WellFormedText {
  isWellFormed(): boolean
  toWellFormed(): string
}

/** `detail` as stored (JSON text) and as read back (the parsed object); both null when empty. */
export interface NormalizedDetail {
  json: string | null
  value: Record<string, DetailValue> | null
}

/**
 * `detail` as JSON text, or null when empty. Entries that would push it past MAX_FIELD_BYTES
 * and all after it are dropped and `_truncated: true` says so.
 */
export function detailJson(detail: ExchangeRecord['detail']): string | null {
  return normalizeDetail(detail).json
}

/** detailJson plus the object it encodes, so the caller need not parse the text back. */
export function normalizeDetail(detail: ExchangeRecord['detail']): NormalizedDetail {
  if (!detail || typeof detail !== 'object') return { json: null, value: null }
  const all: Record<string, DetailValue> = {}
  let entries = 0
  for (const rawKey in detail) {
    if (!Object.hasOwn(detail, rawKey)) continue
    const value = detailValue(detail[rawKey])
    if (value === undefined) continue
    all[boundedText(rawKey)!] = value
    entries++
  }
  if (entries === 0) return { json: null, value: null }
  const json = JSON.stringify(all)
  // Fits even with the flag added: then no prefix could have been cut (the common case, one pass).
  if (json.length * 3 + TRUNCATION_FLAG_BYTES <= MAX_FIELD_BYTES) return { json, value: all }
  if (Buffer.byteLength(json) + TRUNCATION_FLAG_BYTES <= MAX_FIELD_BYTES) return { json, value: all }
  const kept = truncatedDetail(detail)
  if (Object.keys(kept).length === 0) return { json: null, value: null }
  return { json: JSON.stringify(kept), value: kept }
}

function truncatedDetail(detail: NonNullable<ExchangeRecord['detail']>): Record<string, DetailValue> {
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
  return kept
}

function detailValue(value: unknown): DetailValue | undefined {
  if (typeof value === 'boolean') return value
  // -0 is written as 0, so it reads back as 0
  if (typeof value === 'number') return Number.isFinite(value) ? value + 0 : undefined
  if (typeof value === 'string') return boundedText(value)!
  return undefined
}
