import type { Transform } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'

/** What the body must go through before it can be scanned, and the headers that change with it. */
export type ScanDecoding =
  | { kind: 'identity' }
  | { kind: 'decode'; decoder: () => Transform; encoding: string }
  | { kind: 'unreadable'; encoding: string }

const DECODERS = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
])

/**
 * The proxy asks the upstream for `Accept-Encoding: identity` while it scans responses, but an
 * upstream may compress anyway. A compressed body cannot be scanned, so it is decompressed first
 * (gzip, deflate, br — one layer); anything else is unreadable and must not be passed on.
 */
export function scanDecoding(contentEncoding: string | string[] | undefined): ScanDecoding {
  const tokens = (Array.isArray(contentEncoding) ? contentEncoding.join(',') : (contentEncoding ?? ''))
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0 && t !== 'identity')
  if (tokens.length === 0) return { kind: 'identity' }
  const decoder = tokens.length === 1 ? DECODERS.get(tokens[0]!) : undefined
  return decoder
    ? { kind: 'decode', decoder, encoding: tokens[0]! }
    : { kind: 'unreadable', encoding: tokens.join(', ') }
}
