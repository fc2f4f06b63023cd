/**
 * Proxy scopes have two spellings (DESIGN.md "Scopes on the wire"): the wire form `METHOD:/path-glob`,
 * which survives a space-separated `scope` claim or OAuth `scope` parameter, and the spaced alias
 * `METHOD /path-glob`, still accepted in config and in gRPC requests. The broker compares, records and
 * mints the wire form only.
 */

/** Either spelling; METHOD may be `*`. */
const PROXY_SCOPE = /^([A-Z]+|\*)[ :](\/\S*)$/

export interface ProxyScope {
  method: string
  pathGlob: string
}

/** `METHOD /path` or `METHOD:/path` → its parts; any other scope → null. */
export function parseProxyScope(scope: string): ProxyScope | null {
  const parts = PROXY_SCOPE.exec(scope)
  return parts ? { method: parts[1]!, pathGlob: parts[2]! } : null
}

/**
 * The wire spelling of a scope: `GET /v1/charges*` → `GET:/v1/charges*`; everything else unchanged.
 *
 * @example
 * ```ts
 * wireScope('GET /v1/charges*') // 'GET:/v1/charges*'
 * wireScope('payments:read')    // 'payments:read'
 * ```
 */
export function wireScope(scope: string): string {
  // the hot path: plain scopes and wire-form proxy scopes carry no space
  if (!scope.includes(' ')) return scope
  const proxy = parseProxyScope(scope)
  return proxy ? `${proxy.method}:${proxy.pathGlob}` : scope
}
