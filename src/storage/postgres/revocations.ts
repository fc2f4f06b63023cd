import type { RevocationRow, RevocationRows } from '../ports.js'
import { LOCKS, lockArgs } from './advisory_locks.js'
import type { PgSession } from './session.js'

const COLUMNS = 'seq, jti, subject, issuer, kid, reason, not_after, revoked_at'

/** The revocation feed on PostgreSQL. */
export class PgRevocationRows implements RevocationRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  /**
   * A BIGSERIAL is handed out at insert, not at commit: two replicas adding at once could commit
   * seq 11 before seq 10, and a reader at 11 would never see 10. Adds therefore take a
   * transaction advisory lock, so the feed commits in seq order (revocations are rare).
   */
  async add(rows: Array<Omit<RevocationRow, 'seq'>>): Promise<RevocationRow[]> {
    if (rows.length === 0) return []
    const added = await this.#session.transaction(
      `record ${rows.length} revocation(s)`,
      { write: true },
      async (run) => {
        await run(`SELECT pg_advisory_xact_lock(${lockArgs(LOCKS.revocationFeed)})`)
        return run<RevocationRow>(
          `INSERT INTO revocations (jti, subject, issuer, kid, reason, not_after, revoked_at)
           SELECT jti, subject, issuer, kid, reason, not_after, revoked_at
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[])
                    WITH ORDINALITY AS r(jti, subject, issuer, kid, reason, not_after, revoked_at, n)
           ORDER BY n
           ON CONFLICT (jti) DO NOTHING
           RETURNING ${COLUMNS}`,
          [
            rows.map((r) => r.jti),
            rows.map((r) => r.subject),
            rows.map((r) => r.issuer),
            rows.map((r) => r.kid),
            rows.map((r) => r.reason),
            rows.map((r) => r.not_after),
            rows.map((r) => r.revoked_at),
          ],
        )
      },
    )
    return added.sort((a, b) => a.seq - b.seq)
  }

  since(afterSeq: number, nowSec: number): Promise<RevocationRow[]> {
    return this.#session.query<RevocationRow>(
      'read the revocation feed',
      `SELECT ${COLUMNS} FROM revocations WHERE seq > $1 AND not_after >= $2 ORDER BY seq`,
      [afterSeq, nowSec],
    )
  }

  async pruneExpired(beforeSec: number): Promise<number> {
    const [row] = await this.#session.query<{ n: number }>(
      'forget expired revocations',
      'WITH gone AS (DELETE FROM revocations WHERE not_after < $1 RETURNING 1) SELECT count(*) AS n FROM gone',
      [beforeSec],
      { write: true },
    )
    return row?.n ?? 0
  }
}
