import { Malformed, MissingToken, type VerificationError } from './errors.js'

/** `Bearer <token>` (RFC 6750 §2.1) → the token; absent → MissingToken, anything else → invalid_request. */
export function bearerToken(header: string | readonly string[] | undefined): string {
  if (header === undefined || header.length === 0)
    throw new MissingToken('no bearer token: send "authorization: Bearer <broker token>"')
  if (typeof header !== 'string') throw new Malformed('more than one authorization header', { request: true })
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match) {
    const scheme = header.split(' ')[0]!.slice(0, 20)
    throw new Malformed(`authorization must be "Bearer <token>" (got scheme "${scheme}")`, { request: true })
  }
  return match[1]!
}

/**
 * The RFC 6750 `WWW-Authenticate` challenge for a refusal. The description is cut to printable ASCII
 * without quotes or backslashes, as the header grammar requires.
 */
export function bearerChallenge(
  realm: string,
  error: VerificationError | undefined,
  requiredScopes: readonly string[] = [],
): string {
  const params = [`realm="${quoted(realm)}"`]
  if (error?.bearerError && error.bearerError !== 'temporarily_unavailable') {
    params.push(`error="${error.bearerError}"`, `error_description="${quoted(error.message)}"`)
    if (error.bearerError === 'insufficient_scope' && requiredScopes.length > 0)
      params.push(`scope="${quoted(requiredScopes.join(' '))}"`)
  }
  return `Bearer ${params.join(', ')}`
}

function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, "'").slice(0, 300)
}
