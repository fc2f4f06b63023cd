import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type Dispatcher, errors as undiciErrors } from 'undici'
import { BrokerError, toBrokerError } from '../errors.js'
import { type ProxyExchange, type ProxyGrant, RecordedError } from '../exchange/index.js'
import { httpCallerCredentials } from '../identity/http_credentials.js'
import { callerResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { errorName, HTTP_STATUS } from './http_status.js'
import { type LeakRedactingStream, LeakScanner } from './leak_scanner.js'
import { type ScanDecoding, scanDecoding } from './response_decoding.js'
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
  /** Called once per proxied request whose response carried the injected key (count > 0). */
  onLeakRedacted?: (route: string, count: number) => void
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
  const { exchange, upstreams, logger, onLeakRedacted } = options
  const callerGone = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished)
      callerGone.abort(new BrokerError('ERR_CANCELLED', 'the caller closed the connection'))
  })

  let grant: ProxyGrant
  try {
    grant = await exchange.authorize(httpCallerCredentials(req), splitProxyUrl(req), callerGone.signal)
  } catch (err) {
    return sendError(res, req, err, logger)
  }

  const secret = grant.secret.toString('utf8')
  const route = grant.route
  let requestBytes = 0
  let response: Dispatcher.ResponseData
  let scanner: LeakScanner
  const scanBody = route.scan_response
  try {
    const injected = route.query_param ? undefined : route.template.replaceAll('{secret}', () => secret)
    // The key, and the whole value it travels in when templated (`Bearer <key>` base64-encodes
    // differently from the key alone).
    scanner = new LeakScanner(
      injected !== undefined && injected !== secret ? [grant.secret, Buffer.from(injected)] : [grant.secret],
    )
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a header value must not carry these
    if (injected !== undefined && /[\r\n\u0000]/.test(injected)) {
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `the key of route "${grant.routeName}" cannot be sent in a header (it contains a line break)`,
      )
    }
    const query = withInjectedParam(grant.rawQuery, route.query_param, secret)
    const headers = upstreamRequestHeaders(
      req.headers,
      injected === undefined ? undefined : { name: route.header, value: injected },
    )
    // The agent chooses Accept-Encoding; a compressed echo of the key would pass the scan unseen.
    if (scanBody) headers['accept-encoding'] = 'identity'
    const traceparent = exchange.upstreamTraceparent(grant)
    if (traceparent) headers.traceparent = traceparent
    response = await upstreams.dispatcher(grant.routeName, route).request({
      origin: grant.origin,
      path: query ? `${grant.upstreamPath}?${query}` : grant.upstreamPath,
      method: grant.method,
      headers,
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

  const hasResponseBody =
    grant.method !== 'HEAD' && response.statusCode !== 204 && response.statusCode !== 304
  const decoding: ScanDecoding =
    scanBody && hasResponseBody ? scanDecoding(response.headers['content-encoding']) : { kind: 'identity' }
  if (decoding.kind === 'unreadable') {
    discard(response.body)
    const error = new BrokerError(
      'ERR_UPSTREAM_REFUSED',
      `the upstream of route "${grant.routeName}" answered with Content-Encoding "${decoding.encoding.slice(0, 64)}", which the key-leak scan cannot read; set routes.${grant.routeName}.scan_response: false only if this upstream never echoes the key`,
    )
    return sendError(
      res,
      req,
      await recordedOr(exchange.recordFailed(grant, error, { requestBytes, status: response.statusCode })),
      logger,
    )
  }
  const upstreamHeaders = { ...response.headers }
  if (decoding.kind === 'decode') {
    // decompressed for the scan: the upstream's length and encoding no longer describe the body
    delete upstreamHeaders['content-encoding']
    delete upstreamHeaders['content-length']
  }
  const caller = callerResponseHeaders(upstreamHeaders, scanner)

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
      ...(caller.redacted > 0 ? { leakRedacted: caller.redacted } : {}),
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
    ...caller.headers,
    'keybroker-exchange-id': exchangeId,
    ...(grant.budgetRemaining !== undefined ? { 'keybroker-budget-remaining': grant.budgetRemaining } : {}),
  })
  let responseBytes = 0
  response.body.on('data', (chunk: Buffer) => {
    responseBytes += chunk.length
  })
  const redactor: LeakRedactingStream | undefined = scanBody ? scanner.stream() : undefined
  let complete = true
  try {
    if (redactor && decoding.kind === 'decode')
      await pipeline(response.body, decoding.decoder(), redactor, res)
    else if (redactor) await pipeline(response.body, redactor, res)
    else await pipeline(response.body, res)
  } catch {
    // caller gone or upstream cut mid-body: both ends are torn down by pipeline
    complete = false
    res.destroy()
  }
  const inBody = redactor?.redacted ?? 0
  const leakRedacted = caller.redacted + inBody
  logger?.info(
    {
      exchange_id: exchangeId,
      route: grant.routeName,
      status: response.statusCode,
      request_bytes: requestBytes,
      response_bytes: responseBytes,
      complete,
      ...(leakRedacted > 0 ? { leak_redacted: leakRedacted } : {}),
    },
    'proxied request finished',
  )
  if (leakRedacted === 0) return
  onLeakRedacted?.(grant.routeName, leakRedacted)
  logger?.warn(
    { exchange_id: exchangeId, route: grant.routeName, leak_redacted: leakRedacted },
    'the upstream sent the injected key back; every copy found was masked before reaching the caller',
  )
  // The outcome row was committed before the body, with the count known then (headers); body
  // copies are only known now, so they get a row of their own pointing at the outcome.
  if (inBody > 0) {
    try {
      await exchange.recordRedacted(grant, { outcomeExchangeId: exchangeId, leakRedacted })
    } catch (err) {
      logger?.error(
        { err, exchange_id: exchangeId, route: grant.routeName, leak_redacted: leakRedacted },
        'could not audit the redaction of the injected key from a response body',
      )
    }
  }
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
  if (error.code === 'ERR_BUDGET_EXHAUSTED') headers['keybroker-budget-remaining'] = '0'
  const retryAfterMs = err instanceof RecordedError ? err.retryAfterMs : undefined
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)))
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
