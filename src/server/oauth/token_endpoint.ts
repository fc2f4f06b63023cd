import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import type { ExchangeRecord } from '../../audit/index.js'
import type { Clock } from '../../clock.js'
import { BrokerError, toBrokerError } from '../../errors.js'
import { ApprovalPendingError } from '../../exchange/approvals.js'
import { type Exchange, type IssuedToken, RecordedError } from '../../exchange/index.js'
import { retryAfterSeconds } from '../../guardrails/guardrails.js'
import type { CallerCredentials } from '../../identity/authenticate.js'
import { httpCallerCredentials } from '../../identity/http_credentials.js'
import { sendJson } from '../http_listener.js'
import { errorDescription, type GrantKind, type OAuthError, OAuthRefusal, oauthErrorFor } from './errors.js'
import { printable, readForm } from './form.js'
import {
  auditKindOf,
  parseTokenRequest,
  TOKEN_TYPE_ACCESS_TOKEN,
  type TokenRequest,
} from './token_request.js'

/** Where the endpoint is mounted on the HTTP listener. */
export const TOKEN_ENDPOINT_PATH = '/oauth2/token'

export interface TokenEndpointDeps {
  exchange: Exchange
  /** The broker's `iss` (tells a broker token from a workload JWT). */
  issuer: () => string
  clock: Clock
  onUnexpected: (err: unknown) => void
}

/** RFC 6749 §5.1: token responses and their errors are never cached. */
const NO_STORE: OutgoingHttpHeaders = { 'cache-control': 'no-store', pragma: 'no-cache' }

/** What the endpoint has learned so far about a request, for its audit row and its error reply. */
interface Progress {
  grant?: GrantKind
  form?: Map<string, string>
}

/**
 * `POST /oauth2/token`: RFC 8693 token exchange (a workload JWT for a broker token, or a broker token
 * delegated to a sub-agent) and `client_credentials` with RFC 8705 `tls_client_auth`. A short
 * pipeline: method → transport → form → request → the same `src/exchange` call as gRPC → reply.
 * Every refusal has its audit row: the exchange writes its own; what the endpoint refuses before an
 * exchange runs it records through `refuseRequest`.
 */
export function tokenEndpoint(
  deps: TokenEndpointDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const started = process.hrtime.bigint()
    const creds = httpCallerCredentials(req, 'oauth')
    const progress: Progress = {}
    try {
      const issued = await exchangeFor(deps, req, creds, progress)
      const body: Record<string, string | number> = {
        access_token: issued.token,
        token_type: issued.tokenType,
        expires_in: Math.max(0, issued.expiresAt - Math.floor(deps.clock.now() / 1000)),
        scope: issued.scopes.join(' '),
      }
      if (progress.grant !== 'client_credentials') body.issued_token_type = TOKEN_TYPE_ACCESS_TOKEN
      // the real budget (extension parameter), as IssueTokenResponse.max_uses: absent = unlimited
      if (issued.maxUses > 0) body.max_uses = issued.maxUses
      sendJson(res, 200, body, { ...NO_STORE, 'keybroker-exchange-id': issued.exchangeId })
    } catch (err) {
      await replyWithError(deps, req, res, creds, progress, err, started)
    }
  }
}

async function exchangeFor(
  deps: TokenEndpointDeps,
  req: IncomingMessage,
  creds: CallerCredentials,
  progress: Progress,
): Promise<IssuedToken> {
  if (req.method !== 'POST') {
    throw new OAuthRefusal(
      { status: 405, error: 'invalid_request' },
      new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `the token endpoint takes POST with form parameters, not ${printable(req.method ?? 'no method')}`,
      ),
      { allow: 'POST' },
    )
  }
  if (!creds.secureTransport) {
    refusePlainHttp(req.socket.remoteAddress)
    // loopback never leaves the host: bearer credentials are as safe there as over TLS
    creds.secureTransport = true
  }
  progress.form = await readForm(req)
  const request = parseTokenRequest(progress.form, deps.issuer())
  progress.grant = request.grant
  if (creds.authorization !== undefined) {
    // client_secret_basic and friends: an unsupported client authentication method (RFC 6749 5.2)
    throw new OAuthRefusal(
      { status: 401, error: 'invalid_client' },
      new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'the token endpoint does not read the Authorization header: authenticate with a client certificate (tls_client_auth) or a client_assertion, and send tokens as form parameters',
      ),
    )
  }
  return run(deps.exchange, creds, request)
}

/** The same exchange functions, inputs and audit rows as the gRPC handlers. */
function run(exchange: Exchange, creds: CallerCredentials, request: TokenRequest): Promise<IssuedToken> {
  switch (request.grant) {
    case 'client_credentials':
      if (!creds.verifiedCertificate && !creds.rejectedCertificate) {
        throw new OAuthRefusal(
          { status: 401, error: 'invalid_client' },
          new BrokerError(
            'ERR_NO_CREDENTIALS',
            'client_credentials needs a client certificate (tls_client_auth): connect with your workload certificate',
          ),
        )
      }
      return exchange.issueToken(creds, {
        audience: request.audience,
        scopes: request.scopes,
        ttlSeconds: 0,
        // RFC 8705: a token obtained with the certificate is bound to it
        bindToCertificate: true,
        clientId: request.clientId,
        task: request.task,
        maxUses: request.maxUses,
      })
    case 'token_exchange':
      // the subject_token is the caller's identity; a certificate alongside binds the token to it
      return exchange.issueToken(
        { ...creds, authorization: `Bearer ${request.subjectToken}` },
        {
          audience: request.audience,
          scopes: request.scopes,
          ttlSeconds: 0,
          bindToCertificate: creds.verifiedCertificate !== undefined,
          task: request.task,
          maxUses: request.maxUses,
        },
      )
    case 'delegation':
      // possession of the parent is not enough: the caller proves it is the parent's subject
      if (!creds.verifiedCertificate && !creds.rejectedCertificate && request.clientAssertion === undefined) {
        throw new OAuthRefusal(
          { status: 401, error: 'invalid_client' },
          new BrokerError(
            'ERR_NO_CREDENTIALS',
            "delegating a keybroker token needs the caller to authenticate as the token's subject: connect with its client certificate, or send its workload JWT as client_assertion (RFC 7523)",
          ),
        )
      }
      return exchange.delegateToken(
        request.clientAssertion === undefined
          ? creds
          : { ...creds, authorization: `Bearer ${request.clientAssertion}` },
        {
          parentToken: request.parentToken,
          scopes: request.scopes,
          ttlSeconds: 0,
          actor: request.actor,
          actorToken: request.actorToken,
          audience: request.audience,
          task: request.task,
          maxUses: request.maxUses,
        },
      )
  }
}

/**
 * Plain HTTP (a broker without `tls`) is served to loopback callers only: tokens in a form body
 * must not cross a network in the clear. Throws the refusal for any other peer.
 */
export function refusePlainHttp(remoteAddress: string | undefined): void {
  if (isLoopbackAddress(remoteAddress)) return
  throw new OAuthRefusal(
    { status: 400, error: 'invalid_request' },
    new BrokerError(
      'ERR_INSECURE_TRANSPORT',
      'the token endpoint is served over plain HTTP to loopback callers only; configure tls and use HTTPS',
    ),
  )
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  if (isIP(v4) === 4) return v4.startsWith('127.')
  return address === '::1'
}

async function replyWithError(
  deps: TokenEndpointDeps,
  req: IncomingMessage,
  res: ServerResponse,
  creds: CallerCredentials,
  progress: Progress,
  err: unknown,
  started: bigint,
): Promise<void> {
  let failure = err
  let reply: OAuthError | undefined
  let headers: OutgoingHttpHeaders = {}
  if (err instanceof OAuthRefusal) {
    headers = err.headers
    try {
      failure = await deps.exchange.steps.refuseRequest(creds, refusalFields(progress), err.cause, started)
      reply = err.reply
    } catch (auditFailure) {
      // no row, no answer but 503: the refusal could not be recorded
      failure = auditFailure
    }
  }
  const error = toBrokerError(failure)
  if (error.code === 'ERR_INTERNAL') deps.onUnexpected(failure)
  reply ??= oauthErrorFor(error, progress.grant, failure instanceof RecordedError && failure.authentication)
  const body: Record<string, string> = {
    error: reply.error,
    error_description: errorDescription(reply.error === 'server_error' ? 'internal error' : error.message),
  }
  const exchangeId = failure instanceof RecordedError ? failure.exchangeId : undefined
  if (exchangeId) {
    body.exchange_id = exchangeId
    headers = { ...headers, 'keybroker-exchange-id': exchangeId }
  }
  if (failure instanceof ApprovalPendingError) {
    // the requester waits with Broker.WaitForApproval(approval_id); asking again while pending gets the same id
    body.approval_id = failure.approvalId
    headers = { ...headers, 'keybroker-approval-id': failure.approvalId }
  }
  if (failure instanceof RecordedError && failure.retryAfterMs !== undefined)
    headers = { ...headers, 'retry-after': String(retryAfterSeconds(failure.retryAfterMs)) }
  // a refused upload is not read just to keep the connection alive
  if (!req.readableEnded) headers = { ...headers, connection: 'close' }
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  sendJson(res, reply.status, body, { ...NO_STORE, ...headers })
}

/** The audit row of a refusal decided before an exchange ran: what the request was, never its tokens. */
function refusalFields(progress: Progress): Partial<ExchangeRecord> & { kind: ExchangeRecord['kind'] } {
  const detail: Record<string, string> = { call: 'oauth2/token' }
  const grantType = progress.form?.get('grant_type')
  if (grantType !== undefined) detail.grant_type = printable(grantType)
  const audience = progress.form?.get('audience') ?? progress.form?.get('resource')
  const scope = progress.form?.get('scope')
  return {
    kind: auditKindOf(progress.form),
    ...(audience !== undefined ? { audience: audience.slice(0, 256) } : {}),
    ...(scope !== undefined ? { scopes: scope.slice(0, 1024) } : {}),
    detail,
  }
}
