import type { SubjectBlockRow, SubjectBlockRows, UsageRows } from '../ports.js'
import type { PgSession } from './session.js'

/** Usage budgets on PostgreSQL (spent only inside PgChainStore.commit, with the audit row). */
export class PgUsageRows implements UsageRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async remaining(tokenIds: string[]): Promise<Map<string, number>> {
    if (tokenIds.length === 0) return new Map()
    const rows = await this.#session.query<{ token_id: string; remaining: number }>(
      'read usage budgets',
      'SELECT token_id, remaining FROM usage_counters WHERE token_id = ANY($1::text[])',
      [tokenIds],
    )
    return new Map(rows.map((r) => [r.token_id, Number(r.remaining)]))
  }

  async pruneExpired(beforeSec: number): Promise<number> {
    const [row] = await this.#session.query<{ n: number }>(
      'forget expired usage budgets',
      'WITH gone AS (DELETE FROM usage_counters WHERE expires_at < $1 RETURNING 1) SELECT count(*) AS n FROM gone',
      [beforeSec],
      { write: true },
    )
    return Number(row?.n ?? 0)
  }
}

/** Subjects refused new tokens (`revoke --block`), on PostgreSQL. */
export class PgSubjectBlockRows implements SubjectBlockRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async add(row: SubjectBlockRow): Promise<boolean> {
    // xmax = 0 only for a freshly inserted row (an update of an existing block sets it)
    const [result] = await this.#session.query<{ inserted: boolean }>(
      `block ${row.subject}`,
      `INSERT INTO subject_blocks (subject, reason, blocked_by, blocked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (subject) DO UPDATE SET reason = excluded.reason, blocked_by = excluded.blocked_by
       RETURNING (xmax = 0) AS inserted`,
      [row.subject, row.reason, row.blocked_by, row.blocked_at],
      { write: true },
    )
    return result?.inserted === true
  }

  async remove(subject: string): Promise<boolean> {
    const rows = await this.#session.query(
      `unblock ${subject}`,
      'DELETE FROM subject_blocks WHERE subject = $1 RETURNING subject',
      [subject],
      { write: true },
    )
    return rows.length > 0
  }

  async list(): Promise<SubjectBlockRow[]> {
    const rows = await this.#session.query<SubjectBlockRow>(
      'list subject blocks',
      'SELECT subject, reason, blocked_by, blocked_at FROM subject_blocks ORDER BY subject',
    )
    return rows.map((r) => ({ ...r, blocked_at: Number(r.blocked_at) }))
  }
}
