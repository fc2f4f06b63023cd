import { GENESIS_HASH } from '../../audit/canonical.js'
import type {
  AuditReader,
  ChainCursor,
  ChainHead,
  ExchangeRow,
  IssuedTokenRecord,
  ListPosition,
  RowFilter,
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
