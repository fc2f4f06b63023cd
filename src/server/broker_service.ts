import * as grpc from '@grpc/grpc-js'
import { toBrokerError } from '../errors.js'
import { ApprovalPendingError } from '../exchange/approvals.js'
import { type Exchange, type IssuedToken, RecordedError } from '../exchange/index.js'
import type { BrokerHandlers } from '../generated/keybroker/v1/Broker.js'
import type { IssueTokenResponse } from '../generated/keybroker/v1/IssueTokenResponse.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import type { GrpcListener } from './grpc_listener.js'
import { GRPC_STATUS } from './status.js'

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>

/** Read what the transport knows about the caller; nothing here is trusted until step 1. */
export function callerCredentials(call: AnyCall, listener: GrpcListener | undefined): CallerCredentials {
  const peer = call.getPeer()
  const authorization = call.metadata.get('authorization')
  const status = listener?.peerStatus(peer)
  // Our TLS listener read the certificate once per connection; only other transports ask grpc-js.
  const verifiedCertificate = status ? status.verified : call.getAuthContext().sslPeerCertificate?.raw
  return {
    peer,
    verifiedCertificate,
    rejectedCertificate: status?.rejected,
    authorization: authorization.length > 0 ? String(authorization[0]) : undefined,
    secureTransport: listener !== undefined || call.getAuthContext().transportSecurityType === 'ssl',
    transport: 'grpc',
    traceparent: firstText(call.metadata.get('traceparent')),
    tracestate: firstText(call.metadata.get('tracestate')),
  }
}

function firstText(values: grpc.MetadataValue[]): string | undefined {
  return typeof values[0] === 'string' ? values[0] : undefined
}

/** BrokerError → gRPC status + message, with the audit row's id as trailing metadata. */
export function toServiceError(err: unknown, onUnexpected?: (err: unknown) => void): grpc.ServiceError {
  const error = toBrokerError(err)
  if (error.code === 'ERR_INTERNAL') onUnexpected?.(err)
  const metadata = new grpc.Metadata()
  metadata.set('keybroker-error-code', error.code)
  if (err instanceof RecordedError && err.exchangeId) metadata.set('keybroker-exchange-id', err.exchangeId)
  if (err instanceof ApprovalPendingError) metadata.set('keybroker-approval-id', err.approvalId)

  if (err instanceof RecordedError && err.retryAfterMs !== undefined)
    metadata.set('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))))
  return Object.assign(new Error(error.message), {
    code: GRPC_STATUS[error.code],
    details: error.message,
    metadata,
  })
}

/** Translate a unary handler's promise into the grpc-js callback. */
export function unary<Req, Res>(
  run: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  onUnexpected: (err: unknown) => void,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    run(call).then(
      (response) => callback(null, response),
      (err) => callback(toServiceError(err, onUnexpected)),
    )
  }
}

function tokenResponse(issued: IssuedToken): IssueTokenResponse {
  return {
    token: issued.token,
    token_type: issued.tokenType,
    expires_at: issued.expiresAt,
    scopes: issued.scopes,
    audience: issued.audience,
    token_id: issued.tokenId,
    exchange_id: issued.exchangeId,
    max_uses: issued.maxUses,
  }
}

export interface BrokerServiceDeps {
  exchange: Exchange
  listener: () => GrpcListener | undefined
  onUnexpected: (err: unknown) => void
}

/**
 * The Broker service: gRPC ⇄ exchange translation only; the steps live in src/exchange.
 * WatchRevocations is its own module (src/server/revocation_feed.ts).
 */
export function brokerHandlers(
  deps: BrokerServiceDeps,
): Omit<BrokerHandlers, 'WatchRevocations' | 'WaitForApproval'> {
  const { exchange, onUnexpected } = deps
  const creds = (call: AnyCall) => callerCredentials(call, deps.listener())
  return {
    IssueToken: unary(async (call) => {
      const req = call.request
      return tokenResponse(
        await exchange.issueToken(creds(call), {
          audience: req.audience ?? '',
          scopes: req.scopes ?? [],
          ttlSeconds: req.ttl_seconds ?? 0,
          bindToCertificate: req.bind_to_certificate ?? false,
          task: req.task,
          maxUses: req.max_uses ?? 0,
        }),
      )
    }, onUnexpected),
    DelegateToken: unary(async (call) => {
      const req = call.request
      return tokenResponse(
        await exchange.delegateToken(creds(call), {
          parentToken: req.parent_token ?? '',
          scopes: req.scopes ?? [],
          ttlSeconds: req.ttl_seconds ?? 0,
          actor: req.actor ?? '',
          audience: req.audience ?? '',
          task: req.task,
          maxUses: req.max_uses ?? 0,
        }),
      )
    }, onUnexpected),
    FetchSecret: unary(async (call) => {
      // a caller that hangs up (or whose deadline passes) stops waiting on the upstream
      const cancelled = new AbortController()
      call.once('cancelled', () => cancelled.abort())
      const fetched = await exchange.fetchSecret(creds(call), call.request.name ?? '', cancelled.signal)
      return {
        value: fetched.value,
        version: fetched.version ?? '',
        expires_at: fetched.expiresAt ?? 0,
        exchange_id: fetched.exchangeId,
      }
    }, onUnexpected),
    WhoAmI: unary(async (call) => {
      const { identity, grants } = await exchange.whoAmI(creds(call))
      return {
        subject: identity.subject,
        auth_method: identity.method,
        attributes: identity.attributes,
        grants,
        issuer: identity.issuer,
        cert_thumbprint: identity.certThumbprint ?? '',
      }
    }, onUnexpected),
    GetJwks: unary(async () => ({ jwks_json: exchange.jwks() }), onUnexpected),
  }
}
