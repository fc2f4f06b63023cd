import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { BrokerError } from '../errors.js'
import type {
  AuditReader,
  ChainCursor,
  ExchangeRow,
  ExchangeStatsResult,
  IssuedTokenRecord,
  RowFilter,
  StatsQuery,
} from '../storage/ports.js'
import { DECISIONS, type Decision, EXCHANGE_KINDS, type ExchangeKind, type StoredExchange } from './record.js'

export type { IssuedTokenRecord } from '../storage/ports.js'

/** Filters as they arrive from a caller (gRPC request, CLI flags): strings, '' meaning "any". */
export interface RawExchangeFilter {
  subject?: string
  kind?: string
  decision?: string
  audience?: string
  secret_name?: string
  route?: string
  token_id?: string
  peer?: string
  run_id?: string
  /** subject prefix (a trailing `*` on a subject filter means the same) */
  subject_prefix?: string
  /** RFC 3339 or unix seconds; inclusive. */
  since?: string
  /** RFC 3339 or unix seconds; exclusive. */
  until?: string
}

/** A validated filter; absent fields match everything. Times are unix milliseconds. */
export type ExchangeFilter = RowFilter

export interface ListPage {
  /** Newest first. */
  rows: StoredExchange[]
  /** Present when older rows match; pass it back with the same filters for the next page. */
  nextPageToken?: string
}

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000
const MAX_FILTER_CHARS = 2048
const PAGE_TOKEN_VERSION = 2

/**
 * Validate caller filters. Every fault is ERR_INVALID_ARGUMENT naming the field and the accepted forms.
 *
 * @example
 * parseFilter({ kind: 'issue', since: '2025-01-02T00:00:00Z' }) // { kind: 'issue', sinceMs: 1735776000000 }
 */
export function parseFilter(raw: RawExchangeFilter): ExchangeFilter {
  const filter: ExchangeFilter = {}
  const text = (field: keyof RawExchangeFilter): string | undefined => {
    const value = raw[field]
    if (value === undefined || value === '') return undefined
    if (value.length > MAX_FILTER_CHARS) throw invalid(`${field}: longer than ${MAX_FILTER_CHARS} characters`)
    return value
  }
  const subject = text('subject')
  if (subject?.endsWith('*')) filter.subjectPrefix = subject.slice(0, -1)
  else filter.subject = subject
  const prefix = text('subject_prefix')
  if (prefix !== undefined) {
    if (filter.subjectPrefix !== undefined || filter.subject !== undefined)
      throw invalid('give subject or subject_prefix, not both')
    filter.subjectPrefix = prefix
  }
  filter.tokenId = text('token_id')
  filter.peer = text('peer')
  filter.runId = text('run_id')
  filter.audience = text('audience')
  filter.secretName = text('secret_name')
  filter.route = text('route')
  const kind = text('kind')
  if (kind !== undefined) {
    if (!EXCHANGE_KINDS.includes(kind as ExchangeKind))
      throw invalid(
        `kind: "${printable(kind)}" is not an exchange kind (one of ${EXCHANGE_KINDS.join(', ')})`,
      )
    filter.kind = kind as ExchangeKind
  }
  const decision = text('decision')
  if (decision !== undefined) {
    if (!DECISIONS.includes(decision as Decision))
      throw invalid(`decision: "${printable(decision)}" is not a decision (one of ${DECISIONS.join(', ')})`)
    filter.decision = decision as Decision
  }
  const since = text('since')
  if (since !== undefined) filter.sinceMs = parseTime(since, 'since')
  const until = text('until')
  if (until !== undefined) filter.untilMs = parseTime(until, 'until')
  if (filter.sinceMs !== undefined && filter.untilMs !== undefined && filter.sinceMs >= filter.untilMs)
    throw invalid(`since (${since}) must be before until (${until})`)
  for (const key of Object.keys(filter) as Array<keyof ExchangeFilter>)
    if (filter[key] === undefined) delete filter[key]
  return filter
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2}))?$/

/** RFC 3339 (or a bare date, read as UTC midnight) or whole unix seconds → unix milliseconds. */
export function parseTime(text: string, field: string): number {
  const trimmed = text.trim()
  if (/^\d{1,12}$/.test(trimmed)) return Number(trimmed) * 1000
  const ms = RFC3339.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  if (!Number.isFinite(ms)) {
    throw invalid(
      `${field}: "${printable(text)}" is not a time; use RFC 3339 (2025-01-02T03:04:05Z) or unix seconds`,
    )
  }
  return ms
}

/** 0 or absent → DEFAULT_LIMIT; above MAX_LIMIT is refused rather than silently capped. */
export function parseLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 0) throw invalid(`limit: ${limit} is not a whole number`)
  if (limit > MAX_LIMIT)
    throw invalid(`limit: ${limit} is above the maximum of ${MAX_LIMIT}; page with page_token`)
  return limit
}

/** Does a committed row pass the filter? (The live side of WatchExchanges.) */
export function matchesFilter(filter: ExchangeFilter, row: StoredExchange): boolean {
  return (
    (filter.subject === undefined || row.subject === filter.subject) &&
    (filter.subjectPrefix === undefined || (row.subject ?? '').startsWith(filter.subjectPrefix)) &&
    (filter.tokenId === undefined || row.token_id === filter.tokenId) &&
    (filter.peer === undefined || row.peer === filter.peer) &&
    (filter.runId === undefined || row.run_id === filter.runId) &&
    (filter.kind === undefined || row.kind === filter.kind) &&
    (filter.decision === undefined || row.decision === filter.decision) &&
    (filter.audience === undefined || row.audience === filter.audience) &&
    (filter.secretName === undefined || row.secret_name === filter.secretName) &&
    (filter.route === undefined || row.route === filter.route) &&
    (filter.sinceMs === undefined || row.ts >= filter.sinceMs) &&
    (filter.untilMs === undefined || row.ts < filter.untilMs)
  )
}

/**
 * Read side of the audit log for callers: filtered listing (newest first, cursor pages), scans
 * across every chain (watch backfill, export) and the token lookups revocation needs.
 *
 * Page tokens carry the (ts, id) position to continue below and a digest of the filters,
 * HMAC-signed with `pageTokenKey`. A token is refused (ERR_INVALID_ARGUMENT) when its MAC does not
 * verify or when it is presented with different filters. It holds no server state, so presenting
 * it again with the same filters returns the same page again: a retried request is safe, and rows
 * appended meanwhile never shift the pages.
 */
export class AuditQuery {
  readonly #reader: AuditReader
  readonly #key: Buffer

  constructor(reader: AuditReader, pageTokenKey: Buffer) {
    this.#reader = reader
    this.#key = pageTokenKey
  }

  /** One page, newest first. `limit` must already be parsed (parseLimit). */
  async list(filter: ExchangeFilter, limit: number, pageToken?: string): Promise<ListPage> {
    const digest = filterDigest(filter)
    const before = pageToken ? this.#openPageToken(pageToken, digest) : undefined
    const rows = await this.#reader.listPage(filter, limit + 1, before)
    const more = rows.length > limit
    const page = rows.slice(0, limit).map(toStoredExchange)
    const last = page[page.length - 1]
    return {
      rows: page,
      nextPageToken: more && last ? this.#sealPageToken(last.ts, last.id, digest) : undefined,
    }
  }

  /** Matching rows past `cursor` on every chain, oldest first within each chain, at most `limit`. */
  async scan(
    filter: ExchangeFilter,
    cursor: ChainCursor,
    limit: number,
  ): Promise<{ rows: StoredExchange[]; cursor: ChainCursor }> {
    const result = await this.#reader.scan(filter, cursor, limit)
    return { rows: result.rows.map(toStoredExchange), cursor: result.cursor }
  }

  /** The cursor at the newest row of every chain (or just before `tsMs`). */
  cursorAt(tsMs?: number): Promise<ChainCursor> {
    return this.#reader.cursorAt(tsMs)
  }

  async byId(id: string): Promise<StoredExchange | undefined> {
    const row = await this.#reader.byId(id)
    return row && toStoredExchange(row)
  }

  async byTokenId(tokenId: string): Promise<StoredExchange[]> {
    return (await this.#reader.byTokenId(tokenId)).map(toStoredExchange)
  }

  /** The successful issue/delegate row that minted `tokenId`, if the log has it. */
  issuedToken(tokenId: string): Promise<IssuedTokenRecord | undefined> {
    return this.#reader.issuedToken(tokenId)
  }

  /** Counts, latency percentiles and top lists over the matching rows, computed by the store. */
  stats(filter: ExchangeFilter, query: StatsQuery): Promise<ExchangeStatsResult> {
    return this.#reader.stats(filter, query)
  }

  /** Tokens minted to `subject` that have not expired at `nowSec`. */
  liveTokensOf(subject: string, nowSec: number): Promise<IssuedTokenRecord[]> {
    return this.#reader.liveTokensOf(subject, nowSec)
  }

  #sealPageToken(ts: number, id: string, digest: string): string {
    const payload = Buffer.from(JSON.stringify({ v: PAGE_TOKEN_VERSION, t: ts, i: id, f: digest })).toString(
      'base64url',
    )
    return `${payload}.${this.#mac(payload)}`
  }

  #openPageToken(token: string, digest: string): { ts: number; id: string } {
    const forged = () =>
      invalid('page_token is not valid: it was not issued by this broker or was altered; start without one')
    const [payload, mac, ...rest] = token.split('.')
    if (!payload || !mac || rest.length > 0 || token.length > 512) throw forged()
    const expected = Buffer.from(this.#mac(payload))
    const given = Buffer.from(mac)
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw forged()
    let parsed: { v?: unknown; t?: unknown; i?: unknown; f?: unknown }
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    } catch {
      throw forged()
    }
    if (parsed.v !== PAGE_TOKEN_VERSION || !Number.isSafeInteger(parsed.t) || typeof parsed.i !== 'string')
      throw forged()
    if (parsed.f !== digest) {
      throw invalid(
        'page_token belongs to a query with different filters; repeat the same filters, or start without a page_token',
      )
    }
    return { ts: parsed.t as number, id: parsed.i }
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key)
      .update('keybroker page token\0')
      .update(payload)
      .digest('base64url')
  }
}

/** A stored row as callers see it: `detail` parsed, the canonical-form version dropped. */
export function toStoredExchange(row: ExchangeRow): StoredExchange {
  const { form: _form, detail, ...rest } = row
  return { ...rest, detail: typeof detail === 'string' ? JSON.parse(detail) : null } as StoredExchange
}

/** Digest of the normalized filter: the same filters in any spelling (1735776000 vs RFC 3339) agree. */
function filterDigest(filter: ExchangeFilter): string {
  const fields = [
    'subject',
    'subjectPrefix',
    'tokenId',
    'peer',
    'runId',
    'kind',
    'decision',
    'audience',
    'secretName',
    'route',
    'sinceMs',
    'untilMs',
  ] as const
  const canonical = JSON.stringify(fields.map((f) => filter[f] ?? null))
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22)
}

/** Echo caller input in a message only in a bounded, single-line form. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean
}

function invalid(message: string): BrokerError {
  return new BrokerError('ERR_INVALID_ARGUMENT', message)
}
