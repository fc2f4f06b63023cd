import type { ChainCursor, ExchangeRow, RowFilter } from '../ports.js'
import { filterConditions } from './filter.js'
import { selectList, toExchangeRow } from './rows.js'
import type { PgSession } from './session.js'

interface Candidate extends Record<string, unknown> {
  candidates: number
  selected: boolean
}

/**
 * Rows past `cursor` on every chain, without skipping or repeating, in two statements:
 *
 * 1. The heads of the chains whose head is past the cursor (only those are read).
 * 2. Per such chain, its first `limit` matching rows in (cursor, head], merged across chains by
 *    the running maximum of ts along each chain. That key never decreases along a chain, so the
 *    `limit` rows kept are a seq-prefix of every chain (no gap a cursor could jump), and the
 *    merge is by time even when a chain's clock stepped back. Each chain's first candidate also
 *    comes back unselected when the merge cut it, so a chain with rows left is never moved to
 *    its head.
 *
 * Bounding each chain by the head read in (1) keeps the result exact without a shared snapshot:
 * a head and its rows commit together, so every row up to a head read earlier is visible.
 */
export async function scanChains(
  session: PgSession,
  filter: RowFilter,
  cursor: ChainCursor,
  limit: number,
): Promise<{ rows: ExchangeRow[]; cursor: ChainCursor }> {
  const next: ChainCursor = { ...cursor }
  if (limit <= 0) return { rows: [], cursor: next }
  const known = Object.entries(cursor)
  const heads = await session.query<{ node_id: string; seq: number; after: number }>(
    'scan the audit log: chain heads',
    `SELECT h.node_id, h.seq, coalesce(c.after, 0) AS after
       FROM audit_heads h LEFT JOIN unnest($1::text[], $2::int8[]) AS c(node_id, after) USING (node_id)
      WHERE h.seq > coalesce(c.after, 0)`,
    [known.map(([node]) => node), known.map(([, seq]) => seq)],
  )
  if (heads.length === 0) return { rows: [], cursor: next }

  const params: unknown[] = [
    heads.map((h) => h.node_id),
    heads.map((h) => h.after),
    heads.map((h) => h.seq),
    limit,
  ]
  const where = filterConditions(filter, params, 'x')
  const found = await session.query<Candidate>(
    'scan the audit log: rows',
    `SELECT ${selectList('e')}, e.candidates, e.pos <= $4 AS selected FROM (
       SELECT m.*, row_number() OVER (ORDER BY m.merge_ts, m.node_id, m.seq) AS pos,
              row_number() OVER (PARTITION BY m.node_id ORDER BY m.seq) AS chain_pos
         FROM (
           SELECT r.*, max(r.ts) OVER (PARTITION BY r.node_id ORDER BY r.seq) AS merge_ts,
                  count(*) OVER (PARTITION BY r.node_id) AS candidates
             FROM unnest($1::text[], $2::int8[], $3::int8[]) AS k(node_id, after, head)
             CROSS JOIN LATERAL (
               SELECT ${selectList('x')} FROM exchanges x
                WHERE x.node_id = k.node_id AND x.seq > k.after AND x.seq <= k.head
                  ${where.map((w) => `AND ${w}`).join(' ')}
                ORDER BY x.seq LIMIT $4
             ) r
         ) m
     ) e
     WHERE e.pos <= $4 OR e.chain_pos = 1
     ORDER BY e.pos`,
    params,
  )
  // Each chain's first candidate comes back even when not selected, carrying its candidate count.
  const candidates = new Map(found.map((r) => [r.node_id as string, r.candidates]))
  const rows = found.filter((r) => r.selected).map(toExchangeRow)
  const taken = new Map<string, number>()
  for (const row of rows) {
    taken.set(row.node_id, (taken.get(row.node_id) ?? 0) + 1)
    next[row.node_id] = row.seq
  }
  for (const head of heads) {
    const had = candidates.get(head.node_id) ?? 0
    // Every matching row up to the head was returned: nothing there needs a second look.
    if (had < limit && (taken.get(head.node_id) ?? 0) === had) next[head.node_id] = head.seq
  }
  return { rows, cursor: next }
}

/** Per chain, the seq just before its first row at or after `tsMs` (its head when none). */
export async function cursorAt(session: PgSession, tsMs: number | undefined): Promise<ChainCursor> {
  const rows =
    tsMs === undefined
      ? await session.query<{ node_id: string; seq: number }>(
          'read the chain heads',
          'SELECT node_id, seq FROM audit_heads',
        )
      : await session.query<{ node_id: string; seq: number }>(
          'find where the audit log reaches a time',
          `SELECT h.node_id,
                  coalesce((SELECT min(x.seq) FROM exchanges x WHERE x.node_id = h.node_id AND x.ts >= $1) - 1,
                           h.seq) AS seq
             FROM audit_heads h`,
          [tsMs],
        )
  return Object.fromEntries(rows.map((r) => [r.node_id, r.seq]))
}
