import type { UsageReports, UsageRow } from '../ports.js'
import { mergeUsage } from '../usage_merge.js'
import type { PgSession } from './session.js'

const EXCHANGE_KINDS = `kind IN ('issue', 'delegate', 'fetch', 'proxy')`
/** `peer` without its trailing `:port`. */
const PEER_HOST = `regexp_replace(peer, ':[0-9]+$', '')`

const ACTIVITY = `
SELECT coalesce(grant_name, '') AS grant_name, subject,
       count(*) FILTER (WHERE decision = 'allow')::int AS allowed,
       count(*) FILTER (WHERE decision = 'deny')::int AS denied,
       max(ts) AS last_used,
       count(DISTINCT ${PEER_HOST})::int AS distinct_peers
FROM exchanges
WHERE ts >= $1 AND subject IS NOT NULL AND ${EXCHANGE_KINDS}
GROUP BY 1, 2`

const LIVE = `
SELECT coalesce(grant_name, '') AS grant_name, subject, count(*)::int AS live_tokens
FROM exchanges x
WHERE kind IN ('issue', 'delegate') AND decision = 'allow' AND token_id IS NOT NULL
  AND expires_at > $1 AND subject IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.jti = x.token_id)
GROUP BY 1, 2`

const LAST_BY_GRANT = `SELECT grant_name AS name, max(ts) AS ts FROM exchanges
  WHERE decision = 'allow' AND grant_name IS NOT NULL AND ${EXCHANGE_KINDS} GROUP BY grant_name`
const LAST_BY_SECRET = `SELECT secret_name AS name, max(ts) AS ts FROM exchanges
  WHERE decision = 'allow' AND secret_name IS NOT NULL AND kind IN ('fetch', 'proxy') GROUP BY secret_name`

/** Usage aggregates on PostgreSQL. */
export class PgUsageReports implements UsageReports {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async bySubject(sinceMs: number, nowSec: number): Promise<UsageRow[]> {
    const active = await this.#session.query<Omit<UsageRow, 'live_tokens'>>('usage by subject', ACTIVITY, [
      sinceMs,
    ])
    const live = await this.#session.query<{ grant_name: string; subject: string; live_tokens: number }>(
      'live tokens by subject',
      LIVE,
      [nowSec],
    )
    return mergeUsage(active, live)
  }

  async lastAllowed(): Promise<{ grants: Record<string, number>; secrets: Record<string, number> }> {
    const byName = async (what: string, sql: string) =>
      Object.fromEntries(
        (await this.#session.query<{ name: string; ts: number }>(what, sql)).map((r) => [
          r.name,
          Number(r.ts),
        ]),
      )
    return {
      grants: await byName('last use per grant', LAST_BY_GRANT),
      secrets: await byName('last use per secret', LAST_BY_SECRET),
    }
  }
}
