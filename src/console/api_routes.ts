import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Exchange__Output } from '../generated/keybroker/v1/Exchange.js'
import { type AdminApi, AdminCallError } from './admin_api.js'
import { filterFromQuery } from './filters.js'
import { sendJson } from './http_guard.js'
import { serveLiveTail } from './live_tail.js'

type Page = { exchanges: Exchange__Output[]; next_page_token: string }

/** A JSON API route: reads the request, calls the Admin service, answers JSON. */
type Handler = (ctx: {
  req: IncomingMessage
  res: ServerResponse
  query: URLSearchParams
  body: Record<string, unknown>
  api: AdminApi
}) => Promise<unknown>

const MAX_BODY = 16 * 1024
const CHILD_SCAN_PAGES = 3

function text(body: Record<string, unknown>, field: string): string {
  const value = body[field]
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') throw new AdminCallError(400, `${field}: must be a string`, 3)
  return value.trim()
}

function limitFrom(query: URLSearchParams, fallback: number, max: number): number {
  const raw = query.get('limit')
  if (!raw) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new AdminCallError(400, `limit: a whole number from 1 to ${max}`, 3)
  return n
}

function parentOf(row: Exchange__Output): string | undefined {
  try {
    const detail = JSON.parse(row.detail || '{}') as Record<string, unknown>
    return typeof detail.parent_jti === 'string' ? detail.parent_jti : undefined
  } catch {
    return undefined
  }
}

/** One row by id, found in the millisecond it was written (the log has no lookup by id). */
async function exchangeById(api: AdminApi, id: string, ts: number): Promise<Exchange__Output> {
  const page = await api.call<Page>('ListExchanges', {
    since: new Date(ts).toISOString(),
    until: new Date(ts + 1).toISOString(),
    limit: 1000,
  })
  const row = page.exchanges.find((r) => r.id === id)
  if (!row) throw new AdminCallError(404, `no exchange ${id} at ${new Date(ts).toISOString()}`, 5)
  return row
}

/**
 * Delegations made from `tokenId`: delegate rows after `ts` whose detail names it as parent.
 * Bounded (a few pages): the log has no index on the parent, and the page says when it stopped.
 */
async function childrenOf(api: AdminApi, tokenId: string, ts: number) {
  const children: Exchange__Output[] = []
  let pageToken = ''
  for (let i = 0; i < CHILD_SCAN_PAGES; i++) {
    const page = await api.call<Page>('ListExchanges', {
      kind: 'delegate',
      since: new Date(ts).toISOString(),
      limit: 500,
      page_token: pageToken,
    })
    children.push(...page.exchanges.filter((r) => parentOf(r) === tokenId))
    pageToken = page.next_page_token
    if (!pageToken) return { children, complete: true }
  }
  return { children, complete: false }
}

const GET: Record<string, Handler> = {
  '/api/ping': async ({ api }) => {
    await api.call('ListExchanges', { limit: 1 })
    return { ok: true }
  },
  '/api/exchanges': async ({ api, query }) => {
    const page = await api.call<Page>('ListExchanges', {
      ...filterFromQuery(query),
      limit: limitFrom(query, 50, 500),
      page_token: query.get('page_token') ?? '',
    })
    return { exchanges: page.exchanges, next_page_token: page.next_page_token }
  },
  '/api/exchange': async ({ api, query }) => {
    const id = query.get('id') ?? ''
    const ts = Number(query.get('ts'))
    if (!id || !Number.isSafeInteger(ts) || ts <= 0)
      throw new AdminCallError(400, 'give id and ts (unix milliseconds) of the exchange', 3)
    const exchange = await exchangeById(api, id, ts)
    const parentJti = parentOf(exchange)
    const [sameToken, parent, kids] = await Promise.all([
      exchange.token_id
        ? api.call<Page>('ListExchanges', { token_id: exchange.token_id, limit: 100 })
        : Promise.resolve(undefined),
      parentJti
        ? api.call<Page>('ListExchanges', { token_id: parentJti, limit: 100 })
        : Promise.resolve(undefined),
      exchange.token_id && exchange.decision === 'allow'
        ? childrenOf(api, exchange.token_id, Number(exchange.ts_ms))
        : Promise.resolve({ children: [], complete: true }),
    ])
    return {
      exchange,
      same_token: (sameToken?.exchanges ?? []).filter((r) => r.id !== exchange.id),
      parent_token_id: parentJti ?? '',
      parent_rows: parent?.exchanges ?? [],
      children: kids.children,
      children_complete: kids.complete,
    }
  },
  '/api/stats': async ({ api, query }) =>
    api.call('GetExchangeStats', {
      filter: filterFromQuery(query),
      bucket: query.get('bucket') ?? '1m',
      top: limitFrom(query, 10, 50),
    }),
  '/api/revocations': async ({ api, query }) =>
    api.call('ListRevocations', { limit: limitFrom(query, 200, 1000) }),
  '/api/keys': async ({ api }) => api.call('ListSigningKeys', {}),
  '/api/approvals': async ({ api, query }) =>
    api.call('ListApprovals', { state: query.get('state') ?? '', limit: limitFrom(query, 100, 500) }),
  // read-only reports; the broker checks the state and the durations and answers 400 with its reason
  '/api/alerts': async ({ api, query }) =>
    api.call('ListAlerts', { state: query.get('state') ?? '', limit: limitFrom(query, 100, 1000) }),
  '/api/usage': async ({ api, query }) =>
    api.call('GetUsage', { since: query.get('since') ?? '', unused_for: query.get('unused_for') ?? '' }),
}

const POST: Record<string, Handler> = {
  '/api/revoke': async ({ api, body }) => {
    const tokenId = text(body, 'token_id')
    const subject = text(body, 'subject')
    if (Boolean(tokenId) === Boolean(subject))
      throw new AdminCallError(400, 'give a token id or a subject', 3)
    return api.call('RevokeTokens', { token_id: tokenId, subject, reason: text(body, 'reason') })
  },
  '/api/keys/rotate': async ({ api }) => api.call('RotateSigningKey', {}),
  '/api/keys/retire': async ({ api, body }) => {
    const kid = text(body, 'kid')
    if (!kid) throw new AdminCallError(400, 'kid: which key to retire', 3)
    return api.call('RetireSigningKey', { kid, reason: text(body, 'reason') })
  },
  '/api/verify': async ({ api }) => api.call('VerifyAuditLog', {}),
  '/api/approvals/decide': async ({ api, body }) => {
    const id = text(body, 'approval_id')
    if (!id) throw new AdminCallError(400, 'approval_id: which approval', 3)
    if (typeof body.approve !== 'boolean') throw new AdminCallError(400, 'approve: true or false', 3)
    return api.call('DecideApproval', {
      approval_id: id,
      approve: body.approve,
      reason: text(body, 'reason'),
    })
  },
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    throw new AdminCallError(415, 'send JSON (Content-Type: application/json)', 3)
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new AdminCallError(413, `request body over ${MAX_BODY} bytes`, 3)
    chunks.push(chunk as Buffer)
  }
  const raw = Buffer.concat(chunks).toString('utf8') || '{}'
  try {
    const value: unknown = JSON.parse(raw)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object')
    return value as Record<string, unknown>
  } catch {
    throw new AdminCallError(400, 'the body is not a JSON object', 3)
  }
}

/** True when `method path` is a state-changing route (needs the CSRF token). */
export function isApiWrite(method: string, path: string): boolean {
  return method === 'POST' && path in POST
}

/**
 * Serve /api/*: returns false when no route matches. Errors become `{ error }` with the status the
 * Admin call's failure maps to; an unexpected one is a 500 that names no internals.
 */
export async function serveApi(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  api: AdminApi,
  onUnexpected: (err: unknown) => void,
): Promise<boolean> {
  const method = req.method ?? 'GET'
  if (method === 'GET' && url.pathname === '/api/live') {
    serveLiveTail(req, res, api, filterFromQuery(url.searchParams))
    return true
  }
  const handler = method === 'GET' ? GET[url.pathname] : method === 'POST' ? POST[url.pathname] : undefined
  if (!handler) {
    if (url.pathname in GET || url.pathname in POST) {
      sendJson(res, 405, { error: `${method} is not allowed on ${url.pathname}` })
      return true
    }
    return false
  }
  try {
    const body = method === 'POST' ? await readJson(req) : {}
    sendJson(res, 200, await handler({ req, res, query: url.searchParams, body, api }))
  } catch (err) {
    if (err instanceof AdminCallError) sendJson(res, err.httpStatus, { error: err.message })
    else {
      onUnexpected(err)
      sendJson(res, 500, { error: 'the console failed unexpectedly (see its terminal)' })
    }
  }
  return true
}
