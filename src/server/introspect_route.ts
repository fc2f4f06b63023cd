import type { IncomingMessage, ServerResponse } from 'node:http'
import { BrokerError, toBrokerError } from '../errors.js'
import { type Exchange, introspectToken, RecordedError } from '../exchange/index.js'
import type { AccessTokenClaims } from '../issuer/mint.js'
import { HTTP_STATUS, httpCallerCredentials } from '../proxy/index.js'
import { sendJson } from './http_listener.js'

export const INTROSPECTION_PATH = '/oauth2/introspect'

/** A form with one token is well under 20 KiB; the token itself is capped at 16 KiB. */
const MAX_BODY_BYTES = 64 * 1024
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/**
 * `POST /oauth2/introspect` (RFC 7662) for services that cannot verify broker JWTs themselves. The
 * caller authenticates with its client certificate only (a bearer header is ignored: the endpoint is
 * for resource servers, not for token holders); the rules are in src/exchange/resource_server.ts.
 */
export function introspectionRoute(
  exchange: Exchange,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'POST') {
      return sendJson(
        res,
        405,
        { error: 'invalid_request', error_description: 'use POST with a form body: token=<access token>' },
        { allow: 'POST', ...NO_STORE },
      )
    }
    try {
      const input = await readTokenParameter(req)
      const creds = { ...httpCallerCredentials(req), authorization: undefined }
      const result = await introspectToken(exchange.steps, creds, input)
      const body = result.active && result.claims ? activeBody(result.claims) : { active: false }
      sendJson(res, 200, body, { ...NO_STORE, 'keybroker-exchange-id': result.exchangeId })
    } catch (err) {
      const error = toBrokerError(err)
      if (error.code === 'ERR_INTERNAL') throw err
      const status = HTTP_STATUS[error.code]
      const headers: Record<string, string> = { ...NO_STORE }
      if (err instanceof RecordedError && err.exchangeId) headers['keybroker-exchange-id'] = err.exchangeId
      sendJson(
        res,
        status,
        { error: oauthError(status), error_description: error.message, code: error.code },
        headers,
      )
    }
  }
}

/** RFC 7662 §2.2: the standard members, plus `cnf` (RFC 8705 §3.2) and the delegation chain. */
function activeBody(claims: AccessTokenClaims): Record<string, unknown> {
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    token_type: 'Bearer',
    exp: claims.exp,
    iat: claims.iat,
    nbf: claims.nbf,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
    ...(claims.cnf ? { cnf: claims.cnf } : {}),
    ...(claims.act ? { act: claims.act } : {}),
    ...(claims.kb_ancestors ? { kb_ancestors: claims.kb_ancestors } : {}),
  }
}

function oauthError(status: number): string {
  if (status === 401) return 'invalid_client'
  if (status === 403) return 'unauthorized_client'
  if (status === 400 || status === 413 || status === 415) return 'invalid_request'
  if (status === 503) return 'temporarily_unavailable'
  return 'server_error'
}

/** The form's `token`, or what is wrong with the request (refused after authentication, so it is audited). */
async function readTokenParameter(
  req: IncomingMessage,
): Promise<{ token: string } | { problem: BrokerError }> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume()
    return {
      problem: new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'content-type must be application/x-www-form-urlencoded (a form with token=<access token>)',
      ),
    }
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    // keep reading (and discarding) so the answer can still be sent on this connection
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES)
    return {
      problem: new BrokerError(
        'ERR_REQUEST_TOO_LARGE',
        `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`,
      ),
    }
  return { token: new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '' }
}
