import type { BrokerConfig } from '../../config/index.js'
import type { HttpRoute } from '../http_listener.js'
import { authorizationServerMetadata, DISCOVERY_PATHS, discoveryHandler } from './discovery.js'
import { TOKEN_ENDPOINT_PATH, type TokenEndpointDeps, tokenEndpoint } from './token_endpoint.js'

export { TOKEN_ENDPOINT_PATH } from './token_endpoint.js'

export interface OAuthRoutesDeps extends Omit<TokenEndpointDeps, 'issuer'> {
  config: Pick<BrokerConfig, 'issuer' | 'keys'>
}

/**
 * The OAuth 2.0 face of the broker, as exact routes for the HTTP listener: `POST /oauth2/token` and
 * the two discovery documents.
 *
 * @example
 * ```ts
 * const exact = { ...oauthRoutes({ exchange, clock, onUnexpected, config }) }
 * ```
 */
export function oauthRoutes(deps: OAuthRoutesDeps): Record<string, HttpRoute> {
  const { config } = deps
  const issuer = () => config.issuer
  const discovery = discoveryHandler(() => authorizationServerMetadata(issuer(), config.keys.algorithm))
  const routes: Record<string, HttpRoute> = { [TOKEN_ENDPOINT_PATH]: tokenEndpoint({ ...deps, issuer }) }
  for (const path of DISCOVERY_PATHS) routes[path] = discovery
  return routes
}
