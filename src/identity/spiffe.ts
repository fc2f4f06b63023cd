/** SPIFFE ID syntax (SPIFFE standard §2): lower-case trust domain, non-empty path segments, no dot segments. */
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)((\/[A-Za-z0-9._-]+)*)$/

export interface SpiffeId {
  id: string
  trustDomain: string
  path: string
}

export function parseSpiffeId(uri: string): SpiffeId | undefined {
  if (uri.length > 2048) return undefined
  const m = SPIFFE_ID.exec(uri)
  if (!m) return undefined
  const path = m[2] ?? ''
  if (path.split('/').some((seg) => seg === '.' || seg === '..')) return undefined
  return { id: uri, trustDomain: m[1]!, path }
}
