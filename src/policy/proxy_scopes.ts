import { BrokerError } from '../errors.js'
import { compileGlob } from './glob.js'
import { parseProxyScope } from './scope_form.js'

const compiled = new Map<string, ((method: string, path: string) => boolean) | null>()
const MAX_COMPILED = 10_000

function matcher(scope: string): ((method: string, path: string) => boolean) | null {
  let match = compiled.get(scope)
  if (match === undefined) {
    const parts = parseProxyScope(scope)
    if (parts) {
      const method = parts.method
      const pathMatches = compileGlob(parts.pathGlob)
      match = (m, p) => (method === '*' || method === m) && pathMatches(p)
    } else match = null
    if (compiled.size >= MAX_COMPILED) compiled.clear()
    compiled.set(scope, match)
  }
  return match
}

/**
 * Pure check of a proxied request against a token's scopes: the first `METHOD:/path-glob` scope (or
 * its spaced alias `METHOD /path-glob`, found in tokens minted before the wire form) that matches the
 * method and the normalized route-relative path allows it. Scopes of any other form say nothing about
 * the proxy and are ignored.
 */
export function evaluateProxyRequest(
  scopes: readonly string[],
  method: string,
  path: string,
): { scope: string } {
  for (const scope of scopes) {
    if (matcher(scope)?.(method, path)) return { scope }
  }
  const proxyScopes = scopes.filter((s) => matcher(s) !== null)
  const held = proxyScopes.length > 0 ? proxyScopes.join(', ') : 'none of the form "METHOD:/path"'
  throw new BrokerError(
    'ERR_SCOPE_NOT_GRANTED',
    `${method} ${path.slice(0, 200)} is outside the token's scopes (${held.slice(0, 500)})`,
  )
}
