import { GENESIS_HASH } from '../../audit/canonical.js'
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
import type { SqliteDatabase } from './connection.js'

type Params = Record<string, string | number>

/** The read side of the SQLite log. Reads run on the caller's connection (reads never block on the writer in WAL). */
export class SqliteAuditReader implements AuditReader {
  constructor(private readonly db: SqliteDatabase) {}

  async listPage(filter: RowFilter, limit: number, before?: ListPosition): Promise<ExchangeRow[]> {
    const { where, params } = whereClause(filter)
    if (before) {
      where.push('(ts < @before_ts OR (ts = @before_ts AND id < @before_id))')
      params.before_ts = before.ts
      params.before_id = before.id
    }
    const sql = `SELECT * FROM exchanges ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY ts DESC, id DESC LIMIT @limit`
    return this.db.prepare<[Params], ExchangeRow>(sql).all({ ...params, limit })
  }

  async scan(
    filter: RowFilter,
    cursor: ChainCursor,
    limit: number,
  ): Promise<{ rows: ExchangeRow[]; cursor: ChainCursor }> {
    return this.db.transaction(() => {
      const next: ChainCursor = { ...cursor }
      const rows: ExchangeRow[] = []
      const { where, params } = whereClause(filter)
      where.push('node_id = @node_id AND seq > @after_seq')
      const statement = this.db.prepare<[Params], ExchangeRow>(
        `SELECT * FROM exchanges WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`,
      )
      for (const head of this.#heads()) {
        const after = cursor[head.nodeId] ?? 0
        if (head.seq <= after) continue
        const room = limit - rows.length
        if (room <= 0) break
        const chain = statement.all({ ...params, node_id: head.nodeId, after_seq: after, limit: room })
        rows.push(...chain)
        next[head.nodeId] = chain.length === room ? chain[chain.length - 1]!.seq : head.seq
      }
      rows.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1))
      return { rows, cursor: next }
    })()
  }

  async chainRows(nodeId: string, afterSeq: number, limit: number): Promise<ExchangeRow[]> {
    return this.db
      .prepare<[string, number, number], ExchangeRow>(
        'SELECT * FROM exchanges WHERE node_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      )
      .all(nodeId, afterSeq, limit)
  }

  async heads(): Promise<ChainHead[]> {
    return this.#heads()
  }

  #heads(): ChainHead[] {
    return this.db
      .prepare<[], ChainHead>(
        'SELECT node_id AS nodeId, seq, hash FROM audit_heads ORDER BY created_at, node_id',
      )
      .all()
  }

  async retentionCheckpoints(): Promise<ChainHead[]> {
    return this.db.prepare<[], ChainHead>('SELECT node_id AS nodeId, seq, hash FROM audit_retention').all()
  }

  async byId(id: string): Promise<ExchangeRow | undefined> {
    return this.db.prepare<[string], ExchangeRow>('SELECT * FROM exchanges WHERE id = ?').get(id)
  }

  async byTokenId(tokenId: string): Promise<ExchangeRow[]> {
    return this.db
      .prepare<[string], ExchangeRow>('SELECT * FROM exchanges WHERE token_id = ? ORDER BY ts, id')
      .all(tokenId)
  }

  async issuedToken(tokenId: string): Promise<IssuedTokenRecord | undefined> {
    const row = this.db
      .prepare<[string], ExchangeRow>(
        `SELECT * FROM exchanges WHERE token_id = ? AND kind IN ('issue', 'delegate') AND decision = 'allow'
         ORDER BY ts LIMIT 1`,
      )
      .get(tokenId)
    if (!row || typeof row.expires_at !== 'number') return undefined
    return { tokenId, subject: row.subject, issuer: row.issuer, expiresAt: row.expires_at }
  }

  async liveTokensOf(subject: string, nowSec: number): Promise<IssuedTokenRecord[]> {
    return this.db
      .prepare<[string, number], ExchangeRow>(
        `SELECT * FROM exchanges INDEXED BY exchanges_subject_ts
         WHERE subject = ? AND kind IN ('issue', 'delegate') AND decision = 'allow'
           AND token_id IS NOT NULL AND expires_at >= ?
         ORDER BY ts, id`,
      )
      .all(subject, nowSec)
      .map((row) => ({
        tokenId: row.token_id as string,
        subject: row.subject,
        issuer: row.issuer,
        expiresAt: row.expires_at as number,
      }))
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n
  }

  async stats(filter: RowFilter, query: StatsQuery): Promise<ExchangeStatsResult> {
    // one read transaction: every list describes the same snapshot of the log
    return this.db.transaction(() => {
      const { where, params } = whereClause(filter)
      const bucketParams = { ...params, bucket: query.bucketMs }
      const all = where.length ? `WHERE ${where.join(' AND ')}` : ''
      const and = (condition: string) => `WHERE ${[...where, condition].join(' AND ')}`
      // integer division: bound numbers may arrive as REAL, so cast
      const start = '(ts / CAST(@bucket AS INTEGER)) * CAST(@bucket AS INTEGER)'
      const buckets = this.db
        .prepare<[Params], Omit<StatsBucketRow, 'p50Us' | 'p99Us'>>(
          `SELECT ${start} AS startMs,
                  sum(decision = 'allow') AS allow, sum(decision = 'deny') AS deny,
                  sum(decision = 'error') AS error, sum(decision = 'pending') AS pending
             FROM exchanges ${all} GROUP BY 1 ORDER BY 1 LIMIT @max`,
        )
        .all({ ...bucketParams, max: query.maxBuckets + 1 })
      // nearest-rank percentiles (rank ceil(n·p)), as PostgreSQL's percentile_disc computes them
      const latency = this.db
        .prepare<[Params], { startMs: number; p50: number; p99: number }>(
          `WITH l AS (
             SELECT ${start} AS startMs, latency_us AS v,
                    row_number() OVER (PARTITION BY ${start} ORDER BY latency_us) AS rn,
                    count(*) OVER (PARTITION BY ${start}) AS n
               FROM exchanges ${and('latency_us IS NOT NULL')})
           SELECT startMs, max(CASE WHEN rn = (n * 50 + 99) / 100 THEN v END) AS p50,
                  max(CASE WHEN rn = (n * 99 + 99) / 100 THEN v END) AS p99
             FROM l GROUP BY startMs`,
        )
        .all(bucketParams)
      const percentiles = new Map(latency.map((l) => [l.startMs, l]))
      const top = (column: string, from: string, limit: number) =>
        this.db
          .prepare<[Params], CountRow>(
            `SELECT coalesce(${column}, '') AS key, count(*) AS count FROM exchanges ${from}
              GROUP BY 1 ORDER BY count DESC, key LIMIT @limit`,
          )
          .all({ ...params, limit })
      const total = (
        this.db
          .prepare<[Params], { n: number }>(`SELECT count(*) AS n FROM exchanges ${all}`)
          .get(params) ?? {
          n: 0,
        }
      ).n
      return {
        total,
        buckets: buckets.slice(0, query.maxBuckets).map((b) => ({
          ...b,
          p50Us: percentiles.get(b.startMs)?.p50 ?? 0,
          p99Us: percentiles.get(b.startMs)?.p99 ?? 0,
        })),
        bucketsTruncated: buckets.length > query.maxBuckets,
        topSubjects: top('subject', all, query.top),
        topAudiences: top('audience', and('audience IS NOT NULL'), query.top),
        // the refusal's stable code (detail.code); the reason text names subjects and ids, so it would not group
        denialsByReason: top(
          `coalesce(json_extract(detail, '$.code'), reason)`,
          and(`decision = 'deny'`),
          query.top,
        ),
        byKind: top('kind', all, 100),
      }
    })()
  }

  async cursorAt(tsMs: number | undefined): Promise<ChainCursor> {
    const cursor: ChainCursor = {}
    const before = this.db.prepare<[string, number], { seq: number | null }>(
      'SELECT min(seq) AS seq FROM exchanges WHERE node_id = ? AND ts >= ?',
    )
    for (const head of this.#heads()) {
      if (tsMs === undefined) cursor[head.nodeId] = head.seq
      else {
        const first = before.get(head.nodeId, tsMs)?.seq
        cursor[head.nodeId] = first === null || first === undefined ? head.seq : first - 1
      }
    }
    return cursor
  }
}

export const EMPTY_HEAD = { seq: 0, hash: GENESIS_HASH }

function whereClause(filter: RowFilter): { where: string[]; params: Params } {
  const where: string[] = []
  const params: Params = {}
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
  equal('token_id', filter.tokenId)
  equal('peer', filter.peer)
  equal('run_id', filter.runId)
  if (filter.subjectPrefix !== undefined) {
    // GLOB is case-sensitive like SPIFFE IDs; escape its metacharacters in the prefix
    where.push('subject GLOB @subject_glob')
    params.subject_glob = `${filter.subjectPrefix.replace(/[[\]*?]/g, (c) => `[${c}]`)}*`
  }
  if (filter.sinceMs !== undefined) {
    where.push('ts >= @since')
    params.since = filter.sinceMs
  }
  if (filter.untilMs !== undefined) {
    where.push('ts < @until')
    params.until = filter.untilMs
  }
  return { where, params }
}
