import type { IncomingMessage, ServerResponse } from 'node:http'
import { TLSSocket } from 'node:tls'
import { bearerChallenge, bearerToken } from './bearer.js'
import type { VerifiedToken } from './claims.js'
import type { Verifier, VerifyOptions } from './create_verifier.js'
import { VerificationError, VerifierUnavailable } from './errors.js'

/**
 * Options of {@link bearerMiddleware}.
 *
 * @example
 * ```ts
 * const options: HttpAuthOptions = {
 *   realm: 'payments',
 *   scopes: (req) => (req.method === 'GET' ? ['payments:read'] : ['payments:write']),
 * }
 * ```
 */
export interface HttpAuthOptions {
  /** Scopes every request needs, or a function of the request. */
  scopes?: readonly string[] | ((req: IncomingMessage) => readonly string[])
  /** `realm` of the `WWW-Authenticate` challenge (default `keybroker`). */
  realm?: string
  /**
   * The client certificate the request came with, for certificate-bound tokens. Default: the TLS
   * connection's own (none on plain HTTP, so bound tokens are refused there). Behind a TLS-terminating
   * proxy, return the certificate it forwarded, and only if you trust that proxy.
   */
  peerCertificate?: (req: IncomingMessage) => VerifyOptions['peerCertificate']
}

/**
 * A request the middleware accepted: the verified principal is on `principal`.
 *
 * @example
 * ```ts
 * app.get('/charges', (req, res) => res.json({ caller: (req as AuthenticatedRequest).principal.subject }))
 * ```
 */
export type AuthenticatedRequest = IncomingMessage & { principal: VerifiedToken }

const STATUS = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  temporarily_unavailable: 503,
}

/**
 * Node `http` / Express-style middleware: verifies `authorization: Bearer <broker token>`, puts the
 * principal on `req.principal` and calls `next()`; otherwise answers itself, per RFC 6750: 401 with
 * `WWW-Authenticate: Bearer …, error="invalid_token"` (no, bad, expired, revoked, wrongly bound token or
 * another audience), 403 `insufficient_scope` naming the scopes needed, 400 `invalid_request` for a
 * malformed header, 503 while the verifier cannot decide (keys or revocation feed unavailable).
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { bearerMiddleware, requestPrincipal } from 'keybroker/verifier'
 *
 * const app = express()
 * app.use(bearerMiddleware(verifier, { scopes: ['payments:read'] }))
 * app.get('/charges', (req, res) => res.json({ caller: requestPrincipal(req)?.subject }))
 *
 * // or with node:http alone
 * const auth = bearerMiddleware(verifier)
 * http.createServer((req, res) => auth(req, res, () => res.end(`hello ${requestPrincipal(req)?.subject}`)))
 * ```
 */
export function bearerMiddleware(
  verifier: Verifier,
  options: HttpAuthOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const realm = options.realm ?? 'keybroker'
  return (req, res, next) => {
    const scopes = typeof options.scopes === 'function' ? options.scopes(req) : (options.scopes ?? [])
    let token: string
    try {
      token = bearerToken(req.headers.authorization)
    } catch (err) {
      return refuse(res, realm, err as VerificationError, scopes)
    }
    const peerCertificate = options.peerCertificate
      ? options.peerCertificate(req)
      : connectionCertificate(req)
    verifier.verify(token, { scopes, peerCertificate }).then(
      (principal) => {
        ;(req as AuthenticatedRequest).principal = principal
        next()
      },
      (err: unknown) => {
        if (err instanceof VerificationError) refuse(res, realm, err, scopes)
        else next(err)
      },
    )
  }
}

/**
 * The principal {@link bearerMiddleware} put on the request (undefined if it did not run or refused).
 *
 * @example
 * ```ts
 * const who = requestPrincipal(req)?.subject ?? 'anonymous'
 * ```
 */
export function requestPrincipal(req: IncomingMessage): VerifiedToken | undefined {
  return (req as Partial<AuthenticatedRequest>).principal
}

function connectionCertificate(req: IncomingMessage): VerifyOptions['peerCertificate'] {
  if (!(req.socket instanceof TLSSocket)) return null
  const cert = req.socket.getPeerCertificate()
  return cert?.raw && cert.raw.length > 0 ? cert.raw : null
}

function refuse(res: ServerResponse, realm: string, err: VerificationError, scopes: readonly string[]): void {
  const status = err.bearerError ? STATUS[err.bearerError] : 401
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' }
  if (err instanceof VerifierUnavailable) headers['retry-after'] = '1'
  else headers['www-authenticate'] = bearerChallenge(realm, err, scopes)
  const body = JSON.stringify({
    error: err.bearerError ?? 'unauthorized',
    error_description: err.message,
    code: err.code,
  })
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
