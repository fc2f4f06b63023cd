import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

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
 * Headers returned to the caller: the upstream's minus hop-by-hop fields, and minus any field that
 * carries the injected key (an upstream that echoes credentials must not hand the key to the agent).
 */
export function callerResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  secret: string,
): OutgoingHttpHeaders {
  const dropped = connectionTokens(upstream.connection)
  // as sent, and as it would appear in a redirect's query string
  const forms = secret.length > 0 ? [...new Set([secret, encodeURIComponent(secret)])] : []
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue
    const key = name.toLowerCase()
    if (HOP_BY_HOP.has(key) || dropped.has(key)) continue
    const values = Array.isArray(value) ? value : [value]
    if (forms.length > 0 && values.some((v) => forms.some((f) => v.includes(f)))) continue
    out[key] = value
  }
  return out
}
