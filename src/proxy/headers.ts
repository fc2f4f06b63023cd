import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { LeakScanner } from './leak_scanner.js'

/** RFC 9110 §7.6.1 connection-specific fields, plus the old Proxy-Connection / Keep-Alive. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** Fields named in `Connection:` are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '')
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t.length > 0),
  )
}

/**
 * Headers sent upstream: the caller's, minus its credentials (`Authorization`, every `Proxy-*`),
 * hop-by-hop fields, `Host` (set from the upstream origin) and `Expect` (handled by this hop),
 * plus the injected key when the route uses a header.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  injection?: { name: string; value: string },
): Record<string, string | string[]> {
  const dropped = connectionTokens(incoming.connection)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue
    if (name === 'authorization' || name === 'host' || name === 'expect' || name.startsWith('proxy-'))
      continue
    if (HOP_BY_HOP.has(name) || dropped.has(name)) continue
    out[name] = value
  }
  if (injection) out[injection.name.toLowerCase()] = injection.value
  return out
}

/**
 * Headers returned to the caller: the upstream's minus hop-by-hop fields, with every copy of the
 * injected key masked (an upstream that echoes credentials must not hand the key to the agent).
 * Values are scanned one by one and also as one concatenation, in the order received, so a key
 * split over two fields is found too; a field whose name carries the key is dropped.
 */
export function callerResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  scanner: LeakScanner,
): { headers: OutgoingHttpHeaders; redacted: number } {
  const dropped = connectionTokens(upstream.connection)
  const kept: Array<{ name: string; values: Buffer[]; multi: boolean }> = []
  let redacted = 0
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue
    const key = name.toLowerCase()
    if (HOP_BY_HOP.has(key) || dropped.has(key)) continue
    const nameBytes = Buffer.from(key, 'latin1')
    const inName = scanner.redact(nameBytes)
    if (inName > 0) {
      redacted += inName
      continue
    }
    const values = (Array.isArray(value) ? value : [value]).map((v) => Buffer.from(v, 'latin1'))
    for (const v of values) redacted += scanner.redact(v)
    kept.push({ name: key, values, multi: Array.isArray(value) })
  }
  // What is left can only be a key spread over several values: mask it in the concatenation,
  // then cut the concatenation back at the value boundaries.
  const all = kept.flatMap((h) => h.values)
  if (all.length > 1) {
    const joined = Buffer.concat(all)
    const split = scanner.redact(joined)
    if (split > 0) {
      redacted += split
      let at = 0
      for (const v of all) {
        joined.copy(v, 0, at, at + v.length)
        at += v.length
      }
    }
  }
  const headers: OutgoingHttpHeaders = {}
  for (const h of kept) {
    const text = h.values.map((v) => v.toString('latin1'))
    headers[h.name] = h.multi ? text : text[0]
  }
  return { headers, redacted }
}
