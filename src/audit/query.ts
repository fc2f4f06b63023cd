import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import { BrokerError } from '../errors.js'
import type { SqliteDatabase } from '../storage/database.js'
import { ensureAuditSchema } from './lib/schema.js'
import {
  DECISIONS,
  type Decision,
  EXCHANGE_KINDS,
  type ExchangeKind,
  type RawExchangeRow,
  type StoredExchange,
} from './record.js'

/** Filters as they arrive from a caller (gRPC request, CLI flags): strings, '' meaning "any". */
export interface RawExchangeFilter {
  subject?: string
  kind?: string
  decision?: string
  audience?: string
  secret_name?: string
  route?: string
  /** RFC 3339 or unix seconds; inclusive. */
  since?: string
  /** RFC 3339 or unix seconds; exclusive. */
  until?: string
}

/** A validated filter; absent fields match everything. Times are unix milliseconds. */
export interface ExchangeFilter {
  subject?: string
  kind?: ExchangeKind
  decision?: Decision
  audience?: string
  secretName?: string
  route?: string
  sinceMs?: number
  untilMs?: number
}

export interface ListPage {
  /** Newest first. */
  rows: StoredExchange[]
  /** Present when older rows match; pass it back with the same filters for the next page. */
  nextPageToken?: string
}

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000
const MAX_FILTER_CHARS = 2048
const PAGE_TOKEN_VERSION = 1

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
  filter.subject = text('subject')
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
    (filter.kind === undefined || row.kind === filter.kind) &&
    (filter.decision === undefined || row.decision === filter.decision) &&
    (filter.audience === undefined || row.audience === filter.audience) &&
    (filter.secretName === undefined || row.secret_name === filter.secretName) &&
    (filter.route === undefined || row.route === filter.route) &&
    (filter.sinceMs === undefined || row.ts >= filter.sinceMs) &&
    (filter.untilMs === undefined || row.ts < filter.untilMs)
  )
}

/** An issued token as the log knows it (the allow row of its issue or delegate exchange). */
export interface IssuedTokenRecord {
  tokenId: string
  subject: string | null
  /** unix seconds */
  expiresAt: number
}

/**
 * Read side of the audit log: filtered listing (newest first, cursor pages), ascending scans
 * (watch backfill, export) and the token lookups revocation needs.
 *
 * Page tokens carry the seq to continue below and a digest of the filters, HMAC-signed with
 * `pageTokenKey`. A token is refused (ERR_INVALID_ARGUMENT) when its MAC does not verify or when
 * it is presented with different filters. It holds no server state, so presenting it again with
 * the same filters returns the same page again (rows older than the cursor that match): a
 * retried request is safe, and rows appended meanwhile never shift the pages.
 */
export class AuditQuery {
  readonly #db: SqliteDatabase
  readonly #key: Buffer
  readonly #tokenById: Statement<[string], RawExchangeRow>
  readonly #liveBySubject: Statement<[string, number], RawExchangeRow>
  readonly #headSeq: Statement<[], { seq: number | null }>
  readonly #firstSeqAt: Statement<[number], { seq: number | null }>

  constructor(db: SqliteDatabase, pageTokenKey: Buffer) {
    ensureAuditSchema(db)
    this.#db = db
    this.#key = pageTokenKey
    this.#tokenById = db.prepare(
      `SELECT * FROM exchanges WHERE token_id = ? AND kind IN ('issue', 'delegate') AND decision = 'allow'
       ORDER BY seq LIMIT 1`,
    )
    this.#liveBySubject = db.prepare(
      `SELECT * FROM exchanges INDEXED BY exchanges_subject_seq
       WHERE subject = ? AND kind IN ('issue', 'delegate') AND decision = 'allow'
         AND token_id IS NOT NULL AND expires_at >= ?
       ORDER BY seq`,
    )
    this.#headSeq = db.prepare('SELECT max(seq) AS seq FROM exchanges')
    this.#firstSeqAt = db.prepare('SELECT min(seq) AS seq FROM exchanges WHERE ts >= ?')
  }

  /** One page, newest first. `limit` must already be parsed (parseLimit). */
  list(filter: ExchangeFilter, limit: number, pageToken?: string): ListPage {
    const digest = filterDigest(filter)
    const beforeSeq = pageToken ? this.#openPageToken(pageToken, digest) : undefined
    const { where, params, index } = whereClause(filter)
    if (beforeSeq !== undefined) {
      where.push('seq < @before_seq')
      params.before_seq = beforeSeq
    }
    const sql = `SELECT * FROM exchanges ${index} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY seq DESC LIMIT @limit`
    const rows = this.#db
      .prepare<[Record<string, unknown>], RawExchangeRow>(sql)
      .all({ ...params, limit: limit + 1 })
    const more = rows.length > limit
    const page = rows.slice(0, limit).map(toStored)
    return {
      rows: page,
      nextPageToken: more ? this.#sealPageToken(page[page.length - 1]!.seq, digest) : undefined,
    }
  }

  /**
   * Matching rows with seq > afterSeq, ascending, at most `limit`, read in one snapshot.
   * `cursor` is where the next scan continues: the last row returned when the page is full,
   * else the newest seq in the log (non-matching rows up to there need no second look).
   */
  scan(filter: ExchangeFilter, afterSeq: number, limit: number): { rows: StoredExchange[]; cursor: number } {
    const { where, params, index } = whereClause(filter)
    where.push('seq > @after_seq')
    params.after_seq = afterSeq
    const sql = `SELECT * FROM exchanges ${index} WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`
    const statement = this.#db.prepare<[Record<string, unknown>], RawExchangeRow>(sql)
    return this.#db.transaction(() => {
      const rows = statement.all({ ...params, limit }).map(toStored)
      if (rows.length === limit) return { rows, cursor: rows[rows.length - 1]!.seq }
      return { rows, cursor: Math.max(afterSeq, this.headSeq()) }
    })()
  }

  /** Newest seq in the log (0 when empty). */
  headSeq(): number {
    return this.#headSeq.get()?.seq ?? 0
  }

  /** The seq just before the first row at or after `tsMs`: a scan from there starts at that time. */
  seqBefore(tsMs: number): number {
    const first = this.#firstSeqAt.get(tsMs)?.seq
    return first === null || first === undefined ? this.headSeq() : first - 1
  }

  /** The successful issue/delegate row that minted `tokenId`, if the log has it. */
  issuedToken(tokenId: string): IssuedTokenRecord | undefined {
    const row = this.#tokenById.get(tokenId)
    if (!row || typeof row.expires_at !== 'number') return undefined
    return { tokenId, subject: row.subject as string | null, expiresAt: row.expires_at }
  }

  /** Tokens minted to `subject` that have not expired at `nowSec`. */
  liveTokensOf(subject: string, nowSec: number): IssuedTokenRecord[] {
    return this.#liveBySubject.all(subject, nowSec).map((row) => ({
      tokenId: row.token_id as string,
      subject: row.subject as string | null,
      expiresAt: row.expires_at as number,
    }))
  }

  /** How SQLite runs a list query for `filter` (tests assert the index is used). */
  explainList(filter: ExchangeFilter): string {
    const { where, params, index } = whereClause(filter)
    const sql = `SELECT * FROM exchanges ${index} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT 100`
    return this.#db
      .prepare<[Record<string, unknown>], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(params)
      .map((r) => r.detail)
      .join('\n')
  }

  #sealPageToken(beforeSeq: number, digest: string): string {
    const payload = Buffer.from(JSON.stringify({ v: PAGE_TOKEN_VERSION, b: beforeSeq, f: digest })).toString(
      'base64url',
    )
    return `${payload}.${this.#mac(payload)}`
  }

  #openPageToken(token: string, digest: string): number {
    const forged = () =>
      invalid('page_token is not valid: it was not issued by this broker or was altered; start without one')
    const [payload, mac, ...rest] = token.split('.')
    if (!payload || !mac || rest.length > 0 || token.length > 512) throw forged()
    const expected = Buffer.from(this.#mac(payload))
    const given = Buffer.from(mac)
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw forged()
    let parsed: { v?: unknown; b?: unknown; f?: unknown }
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    } catch {
      throw forged()
    }
    if (parsed.v !== PAGE_TOKEN_VERSION || !Number.isSafeInteger(parsed.b)) throw forged()
    if (parsed.f !== digest) {
      throw invalid(
        'page_token belongs to a query with different filters; repeat the same filters, or start without a page_token',
      )
    }
    return parsed.b as number
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key)
      .update('keybroker page token\0')
      .update(payload)
      .digest('base64url')
  }
}

/** Digest of the normalized filter: the same filters in any spelling (1735776000 vs RFC 3339) agree. */
function filterDigest(filter: ExchangeFilter): string {
  const fields = [
    'subject',
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

function whereClause(filter: ExchangeFilter): {
  where: string[]
  params: Record<string, unknown>
  index: string
} {
  const where: string[] = []
  const params: Record<string, unknown> = {}
  const equal = (column: string, value: string | undefined) => {
    if (value === undefined) return
    where.push(`${column} = @${column}`)
    params[column] = value
  }
  equal('subject', filter.subject)
  equal('kind', filter.kind)
  equal('decision', filter.decision)
  equal('audience', filter.audience)
  equal('secret_name', filter.secretName)
  equal('route', filter.route)
  if (filter.sinceMs !== undefined) {
    where.push('ts >= @since')
    params.since = filter.sinceMs
  }
  if (filter.untilMs !== undefined) {
    where.push('ts < @until')
    params.until = filter.untilMs
  }
  // A subject names few rows among many: walk its (subject, seq) index in seq order rather than
  // letting the planner pick the ts index and sort, whatever the other filters are.
  const index = filter.subject !== undefined ? 'INDEXED BY exchanges_subject_seq' : ''
  return { where, params, index }
}

function toStored(row: RawExchangeRow): StoredExchange {
  return { ...row, detail: typeof row.detail === 'string' ? JSON.parse(row.detail) : null } as StoredExchange
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
