import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson } from '../http_listener.js'
import { TOKEN_ENDPOINT_PATH } from './token_endpoint.js'
import { GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE } from './token_request.js'

/** Where RFC 8414 and OIDC Discovery clients look for the metadata. */
export const DISCOVERY_PATHS = [
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
]

/**
 * RFC 8414 authorization-server metadata (also served as the OIDC discovery document): the token
 * endpoint, its two grants, certificate-bound tokens. There is no authorization endpoint, so no
 * response types. `client_assertion` is accepted only to prove a delegating caller's identity with
 * its workload JWT, so `tls_client_auth` is the one client authentication method listed.
 */
export function authorizationServerMetadata(
  issuer: string,
  signingAlgorithm: string,
): Record<string, unknown> {
  const base = issuer.replace(/\/$/, '')
  return {
    issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    token_endpoint: `${base}${TOKEN_ENDPOINT_PATH}`,
    grant_types_supported: [GRANT_TOKEN_EXCHANGE, GRANT_CLIENT_CREDENTIALS],
    token_endpoint_auth_methods_supported: ['tls_client_auth'],
    tls_client_certificate_bound_access_tokens: true,
    introspection_endpoint: `${base}/oauth2/introspect`,
    introspection_endpoint_auth_methods_supported: ['tls_client_auth'],
    response_types_supported: [],
    id_token_signing_alg_values_supported: [signingAlgorithm],
  }
}

export function discoveryHandler(
  metadata: () => Record<string, unknown>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => sendJson(res, 200, metadata())
}
