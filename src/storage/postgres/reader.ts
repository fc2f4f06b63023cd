import type {
  AuditReader,
  ChainCursor,
  ChainHead,
  CountRow,
  ExchangeRow,
  ExchangeStatsResult,
  IssuedTokenRecord,
  ListPosition,
  RowFilter,
  StatsBucketRow,
  StatsQuery,
} from '../ports.js'
import { filterConditions } from './filter.js'
import { selectList, toExchangeRow } from './rows.js'
import { cursorAt, scanChains } from './scan.js'
import type { PgSession } from './session.js'

const COLUMNS = selectList()
const MINTED = `kind IN ('issue', 'delegate') AND decision = 'allow' AND token_id IS NOT NULL AND expires_at IS NOT NULL`

/** The read side of the log on PostgreSQL: every chain, typed rows, detail exactly as written. */
export class PgAuditReader implements AuditReader {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async listPage(filter: RowFilter, limit: number, before?: ListPosition): Promise<ExchangeRow[]> {
    const params: unknown[] = []
    const where = filterConditions(filter, params, 'x')
    if (before) {
      params.push(before.ts, before.id)
      where.push(`(x.ts, x.id) < ($${params.length - 1}::int8, $${params.length}::text)`)
    }
    params.push(limit)
    const rows = await this.#session.query(
      'list audit rows',
      `SELECT ${selectList('x')} FROM exchanges x ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY x.ts DESC, x.id DESC LIMIT $${params.length}`,
      params,
    )
    return rows.map(toExchangeRow)
  }

  scan(filter: RowFilter, cursor: ChainCursor, limit: number) {
    return scanChains(this.#session, filter, cursor, limit)
  }

  async chainRows(nodeId: string, afterSeq: number, limit: number): Promise<ExchangeRow[]> {
    const rows = await this.#session.query(
      `read chain "${nodeId}"`,
      `SELECT ${COLUMNS} FROM exchanges WHERE node_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [nodeId, afterSeq, limit],
    )
    return rows.map(toExchangeRow)
  }

  async heads(): Promise<ChainHead[]> {
    const rows = await this.#session.query<{ node_id: string; seq: number; hash: string }>(
      'read the chain heads',
      'SELECT node_id, seq, hash FROM audit_heads ORDER BY node_id',
    )
    return rows.map((r) => ({ nodeId: r.node_id, seq: r.seq, hash: r.hash }))
  }

  async retentionCheckpoints(): Promise<ChainHead[]> {
    const rows = await this.#session.query<{ node_id: string; seq: number; hash: string }>(
      'read the retention checkpoints',
      'SELECT node_id, seq, hash FROM audit_retention ORDER BY node_id',
    )
    return rows.map((r) => ({ nodeId: r.node_id, seq: r.seq, hash: r.hash }))
  }

  async byId(id: string): Promise<ExchangeRow | undefined> {
    const rows = await this.#session.query(
      'read an audit row',
      `SELECT ${COLUMNS} FROM exchanges WHERE id = $1`,
      [id],
    )
    return rows[0] ? toExchangeRow(rows[0]) : undefined
  }

  async byTokenId(tokenId: string): Promise<ExchangeRow[]> {
    const rows = await this.#session.query(
      'read the audit rows of a token',
      `SELECT ${COLUMNS} FROM exchanges WHERE token_id = $1 ORDER BY ts, id`,
      [tokenId],
    )
    return rows.map(toExchangeRow)
  }

  async issuedToken(tokenId: string): Promise<IssuedTokenRecord | undefined> {
    const rows = await this.#session.query<{
      token_id: string
      subject: string | null
      issuer: string | null
      expires_at: number
    }>(
      'find the exchange that minted a token',
      `SELECT token_id, subject, issuer, expires_at FROM exchanges
        WHERE token_id = $1 AND ${MINTED} ORDER BY ts, id LIMIT 1`,
      [tokenId],
    )
    return rows[0] ? toIssued(rows[0]) : undefined
  }

  async liveTokensOf(subject: string, nowSec: number): Promise<IssuedTokenRecord[]> {
    const rows = await this.#session.query<{
      token_id: string
      subject: string | null
      issuer: string | null
      expires_at: number
    }>(
      'list the live tokens of a subject',
      `SELECT token_id, subject, issuer, expires_at FROM exchanges
        WHERE subject = $1 AND ${MINTED} AND expires_at >= $2 ORDER BY ts, id`,
      [subject, nowSec],
    )
    return rows.map(toIssued)
  }

  async count(): Promise<number> {
    const [row] = await this.#session.query<{ n: number }>(
      'count audit rows',
      'SELECT count(*) AS n FROM exchanges',
    )
    return row?.n ?? 0
  }

  async stats(filter: RowFilter, query: StatsQuery): Promise<ExchangeStatsResult> {
    const run = async <R extends object>(
      what: string,
      build: (params: unknown[], where: string[]) => string,
    ) => {
      const params: unknown[] = []
      const where = filterConditions(filter, params, 'x')
      return this.#session.query<R & Record<string, unknown>>(what, build(params, where), params)
    }
    const clause = (where: string[], ...more: string[]) =>
      where.length + more.length ? `WHERE ${[...where, ...more].join(' AND ')}` : ''
    const bucketed = await run<StatsBucketRow & { p50Us: number | null; p99Us: number | null }>(
      'compute audit stats per bucket',
      (params, where) => {
        params.push(query.bucketMs, query.maxBuckets + 1)
        const b = `$${params.length - 1}::int8`
        // percentile_disc is the nearest-rank percentile (rank ceil(n·p)), as the SQLite driver computes it
        return `SELECT (x.ts / ${b}) * ${b} AS "startMs",
                       count(*) FILTER (WHERE x.decision = 'allow') AS allow,
                       count(*) FILTER (WHERE x.decision = 'deny') AS deny,
                       count(*) FILTER (WHERE x.decision = 'error') AS error,
                       count(*) FILTER (WHERE x.decision = 'pending') AS pending,
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY x.latency_us) AS "p50Us",
                       percentile_disc(0.99) WITHIN GROUP (ORDER BY x.latency_us) AS "p99Us"
                  FROM exchanges x ${clause(where)}
                 GROUP BY 1 ORDER BY 1 LIMIT $${params.length}::int8`
      },
    )
    const top = (what: string, column: string, limit: number, ...more: string[]) =>
      run<CountRow>(what, (params, where) => {
        params.push(limit)
        return `SELECT coalesce(${column}, '') AS key, count(*) AS count FROM exchanges x ${clause(where, ...more)}
                 GROUP BY 1 ORDER BY 2 DESC, coalesce(${column}, '') COLLATE "C" LIMIT $${params.length}::int8`
      })
    const [totalRows, topSubjects, topAudiences, denialsByReason, byKind] = await Promise.all([
      run<{ n: number }>(
        'count audit rows',
        (_p, where) => `SELECT count(*) AS n FROM exchanges x ${clause(where)}`,
      ),
      top('top subjects', 'x.subject', query.top),
      top('top audiences', 'x.audience', query.top, 'x.audience IS NOT NULL'),
      // the refusal's stable code (detail.code); the reason text names subjects and ids, so it would not group
      top('denials by reason', `x.detail::jsonb ->> 'code', x.reason`, query.top, `x.decision = 'deny'`),
      top('rows by kind', 'x.kind', 100),
    ])
    return {
      total: totalRows[0]?.n ?? 0,
      buckets: bucketed.slice(0, query.maxBuckets).map((b) => ({
        startMs: b.startMs,
        allow: b.allow,
        deny: b.deny,
        error: b.error,
        pending: b.pending,
        p50Us: b.p50Us ?? 0,
        p99Us: b.p99Us ?? 0,
      })),
      bucketsTruncated: bucketed.length > query.maxBuckets,
      topSubjects: topSubjects.map(countRow),
      topAudiences: topAudiences.map(countRow),
      denialsByReason: denialsByReason.map(countRow),
      byKind: byKind.map(countRow),
    }
  }

  cursorAt(tsMs: number | undefined): Promise<ChainCursor> {
    return cursorAt(this.#session, tsMs)
  }
}

function countRow(r: { key: unknown; count: unknown }): CountRow {
  return { key: String(r.key), count: Number(r.count) }
}

function toIssued(r: {
  token_id: string
  subject: string | null
  issuer: string | null
  expires_at: number
}) {
  return { tokenId: r.token_id, subject: r.subject, issuer: r.issuer, expiresAt: r.expires_at }
}
