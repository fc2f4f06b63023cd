import type { UsageReports, UsageRow } from '../ports.js'
import { mergeUsage } from '../usage_merge.js'
import type { SqliteDatabase } from './connection.js'

/** The kinds that are exchanges of a credential (not operator calls, alerts or feeds). */
const EXCHANGE_KINDS = `kind IN ('issue', 'delegate', 'fetch', 'proxy')`
/** `peer` without its trailing `:port` (SQLite has no regexp_replace). */
const TRIMMED = `rtrim(peer, '0123456789')`
const PEER_HOST = `CASE WHEN peer <> ${TRIMMED} AND substr(${TRIMMED}, -1) = ':'
  THEN substr(${TRIMMED}, 1, length(${TRIMMED}) - 1) ELSE peer END`

const ACTIVITY = `
SELECT coalesce(grant_name, '') AS grant_name, subject,
       sum(CASE WHEN decision = 'allow' THEN 1 ELSE 0 END) AS allowed,
       sum(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END) AS denied,
       max(ts) AS last_used,
       count(DISTINCT ${PEER_HOST}) AS distinct_peers
FROM exchanges
WHERE ts >= ? AND subject IS NOT NULL AND ${EXCHANGE_KINDS}
GROUP BY coalesce(grant_name, ''), subject`

const LIVE = `
SELECT coalesce(grant_name, '') AS grant_name, subject, count(*) AS live_tokens
FROM exchanges x
WHERE kind IN ('issue', 'delegate') AND decision = 'allow' AND token_id IS NOT NULL
  AND expires_at > ? AND subject IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.jti = x.token_id)
GROUP BY coalesce(grant_name, ''), subject`

const LAST_BY_GRANT = `SELECT grant_name AS name, max(ts) AS ts FROM exchanges
  WHERE decision = 'allow' AND grant_name IS NOT NULL AND ${EXCHANGE_KINDS} GROUP BY grant_name`
const LAST_BY_SECRET = `SELECT secret_name AS name, max(ts) AS ts FROM exchanges
  WHERE decision = 'allow' AND secret_name IS NOT NULL AND kind IN ('fetch', 'proxy') GROUP BY secret_name`

/** Usage aggregates on SQLite (reads on the main connection, like every other read). */
export class SqliteUsageReports implements UsageReports {
  constructor(private readonly db: SqliteDatabase) {}

  async bySubject(sinceMs: number, nowSec: number): Promise<UsageRow[]> {
    const active = this.db.prepare(ACTIVITY).all(sinceMs) as Array<Omit<UsageRow, 'live_tokens'>>
    const live = this.db.prepare(LIVE).all(nowSec) as Array<{
      grant_name: string
      subject: string
      live_tokens: number
    }>
    return mergeUsage(active, live)
  }

  async lastAllowed(): Promise<{ grants: Record<string, number>; secrets: Record<string, number> }> {
    const byName = (sql: string) =>
      Object.fromEntries(
        (this.db.prepare(sql).all() as Array<{ name: string; ts: number }>).map((r) => [r.name, r.ts]),
      )
    return { grants: byName(LAST_BY_GRANT), secrets: byName(LAST_BY_SECRET) }
  }
}
