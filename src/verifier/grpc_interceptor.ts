import * as grpc from '@grpc/grpc-js'
import { bearerToken } from './bearer.js'
import type { VerifiedToken } from './claims.js'
import type { Verifier, VerifyOptions } from './create_verifier.js'
import { type BearerErrorCode, VerificationError } from './errors.js'

/**
 * Options of {@link grpcBearerInterceptor}.
 *
 * @example
 * ```ts
 * const options: GrpcAuthOptions = {
 *   scopes: { '/payments.v1.Payments/Refund': ['payments:write'] },
 *   skip: (path) => path.startsWith('/grpc.health.v1.'),
 * }
 * ```
 */
export interface GrpcAuthOptions {
  /** Scopes each method needs: a map from method path (`/pkg.Service/Method`) or a function of it. */
  scopes?: Readonly<Record<string, readonly string[]>> | ((path: string) => readonly string[])
  /** Methods that need no token (health checks, reflection). */
  skip?: (path: string) => boolean
}

const STATUS: Record<BearerErrorCode | 'missing', grpc.status> = {
  missing: grpc.status.UNAUTHENTICATED,
  invalid_request: grpc.status.UNAUTHENTICATED,
  invalid_token: grpc.status.UNAUTHENTICATED,
  insufficient_scope: grpc.status.PERMISSION_DENIED,
  temporarily_unavailable: grpc.status.UNAVAILABLE,
}

/** Principals by the call's metadata object, which grpc-js hands to the handler as `call.metadata`. */
const principals = new WeakMap<grpc.Metadata, VerifiedToken>()

/**
 * A grpc-js server interceptor: verifies `authorization: Bearer <broker token>` metadata before the
 * handler runs, so handlers read the caller with {@link callPrincipal}. Refusals end the call with
 * `UNAUTHENTICATED` (no, bad, expired, revoked, wrongly bound token or another audience),
 * `PERMISSION_DENIED` (a scope the method needs is missing) or `UNAVAILABLE` (the verifier cannot
 * decide), with the stable code in the `keybroker-error-code` trailer. The connection's client
 * certificate is checked against certificate-bound tokens.
 *
 * @example
 * ```ts
 * import * as grpc from '@grpc/grpc-js'
 * import { callPrincipal, grpcBearerInterceptor } from 'keybroker/verifier'
 *
 * const server = new grpc.Server({ interceptors: [grpcBearerInterceptor(verifier, { scopes: () => ['payments:read'] })] })
 * server.addService(PaymentsService, {
 *   getCharge: (call, callback) => callback(null, { owner: callPrincipal(call)?.subject }),
 * })
 * ```
 */
export function grpcBearerInterceptor(
  verifier: Verifier,
  options: GrpcAuthOptions = {},
): grpc.ServerInterceptor {
  const scopesFor = (path: string): readonly string[] =>
    typeof options.scopes === 'function' ? options.scopes(path) : (options.scopes?.[path] ?? [])
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, passOn) => {
            if (options.skip?.(method.path)) return passOn(metadata)
            const scopes = scopesFor(method.path)
            const refuse = (err: VerificationError) => {
              const trailer = new grpc.Metadata()
              trailer.set('keybroker-error-code', err.code)
              if (err.bearerError === 'insufficient_scope')
                trailer.set('keybroker-required-scopes', scopes.join(' '))
              call.sendStatus({
                code: STATUS[err.bearerError ?? 'missing'],
                details: err.message,
                metadata: trailer,
              })
            }
            let token: string
            try {
              token = bearerToken(metadata.get('authorization').map(String).at(0))
            } catch (err) {
              return refuse(err as VerificationError)
            }
            verifier.verify(token, { scopes, peerCertificate: peerCertificate(call) }).then(
              (principal) => {
                principals.set(metadata, principal)
                passOn(metadata)
              },
              (err: unknown) =>
                err instanceof VerificationError
                  ? refuse(err)
                  : call.sendStatus({ code: grpc.status.INTERNAL, details: 'token verification failed' }),
            )
          },
        }),
    })
}

/**
 * The principal {@link grpcBearerInterceptor} verified for this call (undefined for skipped methods).
 *
 * @example
 * ```ts
 * const handler: grpc.handleUnaryCall<Req, Res> = (call, callback) =>
 *   callback(null, { caller: callPrincipal(call)?.subject ?? '' })
 * ```
 */
export function callPrincipal(call: { metadata: grpc.Metadata }): VerifiedToken | undefined {
  return principals.get(call.metadata)
}

function peerCertificate(call: grpc.ServerInterceptingCallInterface): VerifyOptions['peerCertificate'] {
  const raw = call.getAuthContext().sslPeerCertificate?.raw
  return raw && raw.length > 0 ? raw : null
}
