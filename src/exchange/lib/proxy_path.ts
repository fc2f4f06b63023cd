import { BrokerError } from '../../errors.js'

export interface NormalizedProxyPath {
  /** Decoded, route-relative path (`/v1/charges`): what scopes are matched against. */
  path: string
  /** The same path, each segment percent-encoded once, for the upstream request line. */
  encoded: string
}

const MAX_PATH_LENGTH = 8192

/**
 * Normalize the part of a proxy URL after `/proxy/<route>` so that the path the scopes are checked
 * against is exactly the path the upstream receives, and that path stays under the route's base.
 *
 * Decoded once; encoded slashes (`%2F`, `%5C`) and backslashes are refused because upstreams
 * disagree on whether they separate segments; `//` is refused rather than collapsed for the same
 * reason; `.`/`..` (also as `%2e`) are resolved, and a `..` that would climb above the route's base
 * is refused. Control characters and malformed escapes are refused.
 */
export function normalizeProxyPath(raw: string): NormalizedProxyPath {
  if (raw.length > MAX_PATH_LENGTH) {
    throw invalid(`path is longer than ${MAX_PATH_LENGTH} characters`)
  }
  if (raw.includes('\\')) throw invalid('backslashes are not allowed in proxy paths; use /')
  if (/%(2f|5c)/i.test(raw)) {
    throw invalid('encoded slashes (%2F, %5C) are not allowed in proxy paths')
  }
  if (raw !== '' && !raw.startsWith('/')) throw invalid('path must start with /')
  const parts = raw === '' ? [''] : raw.slice(1).split('/')
  const kept: string[] = []
  let trailingSlash = false
  parts.forEach((part, i) => {
    const last = i === parts.length - 1
    let segment: string
    try {
      segment = decodeURIComponent(part)
    } catch {
      throw invalid('path contains a malformed percent-escape')
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(segment)) throw invalid('path contains control characters')
    if (segment === '') {
      if (!last) throw invalid('empty path segments (//) are not allowed in proxy paths')
      trailingSlash = true
      return
    }
    // `..;x` is a `..` to some servlet containers: refuse rather than guess.
    if (/^\.\.?;/.test(segment)) throw invalid('dot segments with parameters (..;) are not allowed')
    if (segment === '.' || segment === '..') {
      if (segment === '..') {
        if (kept.length === 0) throw invalid("path climbs above the route's base with '..'")
        kept.pop()
      }
      trailingSlash = last
      return
    }
    kept.push(segment)
  })
  const tail = trailingSlash && kept.length > 0 ? '/' : ''
  return {
    path: `/${kept.join('/')}${tail}`,
    encoded: `/${kept.map(encodeSegment).join('/')}${tail}`,
  }
}

/** encodeURIComponent, but keep the characters RFC 3986 allows unescaped in a path segment. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(3A|40|24|26|2B|2C|3B|3D)/g, (percent) =>
    decodeURIComponent(percent),
  )
}

function invalid(message: string): BrokerError {
  return new BrokerError('ERR_INVALID_ARGUMENT', message)
}
