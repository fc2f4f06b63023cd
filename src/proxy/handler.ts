import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { TLSSocket } from 'node:tls'
import { type Dispatcher, errors as undiciErrors } from 'undici'
import { BrokerError, toBrokerError } from '../errors.js'
import { type ProxyExchange, type ProxyGrant, RecordedError } from '../exchange/index.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { certificateThumbprint } from '../identity/mtls.js'
import { callerResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { errorName, HTTP_STATUS } from './http_status.js'
import type { UpstreamPool } from './upstream.js'

/** Where the proxy is mounted on the HTTP listener. */
export const PROXY_PREFIX = '/proxy/'

/** pino-compatible. */
export interface ProxyLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface ProxyHandlerOptions {
  exchange: ProxyExchange
  upstreams: UpstreamPool
  logger?: ProxyLogger
}

/**
 * `/proxy/<route>/<rest>` → `<upstream base>/<rest>?<query>`, with the caller's credentials
 * stripped and the route's key injected. Bodies stream both ways (never buffered whole); the
 * upstream request is aborted when the caller goes away.
 */
export function proxyHandler(
  options: ProxyHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return (req, res) => forward(options, req, res)
}

async function forward(
  options: ProxyHandlerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { exchange, upstreams, logger } = options
  const callerGone = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished)
      callerGone.abort(new BrokerError('ERR_CANCELLED', 'the caller closed the connection'))
  })

  let grant: ProxyGrant
  try {
    grant = await exchange.authorize(callerCredentials(req), splitProxyUrl(req), callerGone.signal)
  } catch (err) {
    return sendError(res, req, err, logger)
  }

  const secret = grant.secret.toString('utf8')
  const route = grant.route
  let requestBytes = 0
  let response: Dispatcher.ResponseData
  try {
    const injected = route.query_param ? undefined : route.template.replaceAll('{secret}', () => secret)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a header value must not carry these
    if (injected !== undefined && /[\r\n\u0000]/.test(injected)) {
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `the key of route "${grant.routeName}" cannot be sent in a header (it contains a line break)`,
      )
    }
    const query = withInjectedParam(grant.rawQuery, route.query_param, secret)
    response = await upstreams.dispatcher(grant.routeName, route).request({
      origin: grant.origin,
      path: query ? `${grant.upstreamPath}?${query}` : grant.upstreamPath,
      method: grant.method,
      headers: upstreamRequestHeaders(
        req.headers,
        injected === undefined ? undefined : { name: route.header, value: injected },
      ),
      body: hasBody(req)
        ? Readable.from(
            countedBody(req, (n) => {
              requestBytes += n
            }),
            { objectMode: false },
          )
        : undefined,
      signal: callerGone.signal,
    })
  } catch (err) {
    const error = callerGone.signal.aborted
      ? new BrokerError('ERR_CANCELLED', 'the caller closed the connection before the upstream answered')
      : describeUpstreamFailure(grant, err)
    return sendError(
      res,
      req,
      await recordedOr(exchange.recordFailed(grant, error, { requestBytes })),
      logger,
    )
  }

  // Fail-closed twice: `authorize` committed a write-ahead row before anything went upstream; the
  // outcome row (upstream status, request bytes sent so far, declared response length) is committed
  // here, once the upstream's headers are known and BEFORE the first response byte reaches the
  // caller. If it cannot be committed the caller gets 503 and nothing of the upstream's answer;
  // the write-ahead row already shows the request was sent.
  const declared = contentLength(response.headers['content-length'])
  let exchangeId: string
  try {
    exchangeId = await exchange.recordForwarded(grant, {
      status: response.statusCode,
      requestBytes,
      ...(declared !== undefined ? { responseBytes: declared } : {}),
    })
  } catch (err) {
    discard(response.body)
    logger?.error(
      { route: grant.routeName, subject: grant.audit.subject, status: response.statusCode },
      'proxied request reached the upstream but could not be audited; response withheld',
    )
    return sendError(res, req, err, logger)
  }
  if (callerGone.signal.aborted) {
    discard(response.body)
    return
  }

  res.writeHead(response.statusCode, {
    ...callerResponseHeaders(response.headers, secret),
    'keybroker-exchange-id': exchangeId,
  })
  let responseBytes = 0
  response.body.on('data', (chunk: Buffer) => {
    responseBytes += chunk.length
  })
  let complete = true
  try {
    await pipeline(response.body, res)
  } catch {
    // caller gone or upstream cut mid-body: both ends are torn down by pipeline
    complete = false
    res.destroy()
  }
  logger?.info(
    {
      exchange_id: exchangeId,
      route: grant.routeName,
      status: response.statusCode,
      request_bytes: requestBytes,
      response_bytes: responseBytes,
      complete,
    },
    'proxied request finished',
  )
}

/** What the transport knows about the caller: address, broker token, verified client certificate. */
export function callerCredentials(req: IncomingMessage): CallerCredentials {
  const socket = req.socket
  const creds: CallerCredentials = {
    peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`,
    authorization: req.headers.authorization,
    secureTransport: socket instanceof TLSSocket,
  }
  if (socket instanceof TLSSocket) {
    const cert = socket.getPeerCertificate()
    if (cert?.raw) {
      if (socket.authorized) creds.verifiedCertificate = cert.raw
      else
        creds.rejectedCertificate = {
          reason: String(socket.authorizationError ?? 'unverified'),
          thumbprint: certificateThumbprint(cert.raw),
        }
    }
  }
  return creds
}

/** `/proxy/<route>/<rest>?<query>` → its raw parts; nothing is decoded here. */
function splitProxyUrl(req: IncomingMessage): {
  route: string
  method: string
  rawPath: string
  rawQuery: string
} {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = (q < 0 ? url : url.slice(0, q)).slice(PROXY_PREFIX.length)
  const slash = path.indexOf('/')
  return {
    route: slash < 0 ? path : path.slice(0, slash),
    method: (req.method ?? 'GET').toUpperCase(),
    rawPath: slash < 0 ? '' : path.slice(slash),
    rawQuery: q < 0 ? '' : url.slice(q + 1),
  }
}

/** Drop an upstream response unread; the connection it came on is closed, not reused. */
function discard(body: Readable): void {
  body.on('error', () => {})
  body.destroy()
}

/** The caller's query, minus any parameter of the injected name, plus the key when the route uses one. */
function withInjectedParam(rawQuery: string, param: string | undefined, secret: string): string {
  if (!param) return rawQuery
  const kept = rawQuery.split('&').filter((pair) => {
    if (pair === '') return false
    const name = pair.split('=')[0]!
    try {
      return decodeURIComponent(name.replace(/\+/g, ' ')) !== param
    } catch {
      return true
    }
  })
  kept.push(`${encodeURIComponent(param)}=${encodeURIComponent(secret)}`)
  return kept.join('&')
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** Pass the caller's body through chunk by chunk, counting; backpressure is undici's pull. */
async function* countedBody(
  source: AsyncIterable<Buffer>,
  onChunk: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onChunk(chunk.length)
    yield chunk
  }
}

function contentLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

const TLS_FAILURE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/

/** undici / socket errors → a code and a message naming the route, never the upstream's reply or the key. */
function describeUpstreamFailure(grant: ProxyGrant, err: unknown): BrokerError {
  if (err instanceof BrokerError) return err
  const route = `route "${grant.routeName}"`
  if (err instanceof undiciErrors.HeadersTimeoutError) {
    return new BrokerError(
      'ERR_UPSTREAM_TIMEOUT',
      `the upstream of ${route} did not answer within ${grant.route.timeout}s (routes.${grant.routeName}.timeout)`,
    )
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new BrokerError(
      'ERR_UPSTREAM_UNAVAILABLE',
      `could not connect to the upstream of ${route} within ${grant.route.timeout}s`,
    )
  }
  const e = err as { code?: string; cause?: { code?: string } }
  const code = e.code ?? e.cause?.code ?? 'error'
  if (TLS_FAILURE.test(code) || (e.cause?.code && TLS_FAILURE.test(e.cause.code))) {
    return new BrokerError(
      'ERR_UPSTREAM_UNAVAILABLE',
      `the upstream of ${route} presented a TLS certificate the broker does not trust (${code}); if it uses a private CA, set routes.${grant.routeName}.ca_file`,
    )
  }
  return new BrokerError('ERR_UPSTREAM_UNAVAILABLE', `the upstream of ${route} is unreachable (${code})`)
}

/** The recorded refusal, or the audit failure that prevented recording it. */
async function recordedOr(recording: Promise<RecordedError>): Promise<unknown> {
  try {
    return await recording
  } catch (err) {
    return err
  }
}

/** A refusal as JSON `{error, message, exchange_id}`; the status comes from the one table. */
function sendError(res: ServerResponse, req: IncomingMessage, err: unknown, logger?: ProxyLogger): void {
  const error = toBrokerError(err)
  if (error.code === 'ERR_INTERNAL') logger?.error({ err }, 'unexpected error in the proxy')
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const status = HTTP_STATUS[error.code]
  const exchangeId = err instanceof RecordedError ? err.exchangeId : undefined
  const body = JSON.stringify({
    error: errorName(error.code),
    message: error.message,
    ...(exchangeId ? { exchange_id: exchangeId } : {}),
  })
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  }
  if (exchangeId) headers['keybroker-exchange-id'] = exchangeId
  if (status === 401) {
    headers['www-authenticate'] =
      error.code === 'ERR_NO_CREDENTIALS'
        ? 'Bearer realm="keybroker"'
        : 'Bearer realm="keybroker", error="invalid_token"'
  }
  // A refused upload is not read just to keep the connection alive.
  if (hasBody(req) && !req.readableEnded) headers.connection = 'close'
  res.writeHead(status, headers)
  res.end(body)
}
