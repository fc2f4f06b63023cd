import { APPROVAL_COLUMNS, OUTBOX_COLUMNS } from '../columns.js'
import type {
  AlertDeliveryState,
  AlertOutbox,
  AlertOutboxRow,
  ApprovalRow,
  ApprovalRows,
  ApprovalState,
  OpenApprovalResult,
} from '../ports.js'
import { LOCKS, lockArgs } from './advisory_locks.js'
import type { PgSession } from './session.js'

const placeholders = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ')

/** Approvals on PostgreSQL. */
export class PgApprovalRows implements ApprovalRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  /**
   * Two replicas may receive the same request at once: a transaction advisory lock serializes
   * opening approvals, so "find the identical pending one, else insert under the cap" is atomic.
   */
  openPending(row: ApprovalRow, cap: number, nowMs: number): Promise<OpenApprovalResult> {
    return this.#session.transaction('open a pending approval', { write: true }, async (run) => {
      await run(`SELECT pg_advisory_xact_lock(${lockArgs(LOCKS.approvals)})`)
      const pendingOf = `subject = $1 AND issuer = $2 AND state = 'pending' AND expires_at > $3`
      const [existing] = await run<ApprovalRow>(
        `SELECT * FROM approvals WHERE ${pendingOf} AND request_key = $4 ORDER BY created_at LIMIT 1`,
        [row.subject, row.issuer, nowMs, row.request_key],
      )
      if (existing) return { row: existing, created: false }
      const [count] = await run<{ n: number }>(
        `SELECT count(*)::int AS n FROM approvals WHERE ${pendingOf}`,
        [row.subject, row.issuer, nowMs],
      )
      if ((count?.n ?? 0) >= cap) return { capped: true as const, pending: count?.n ?? 0 }
      const [inserted] = await run<ApprovalRow>(
        `INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')}) VALUES (${placeholders(APPROVAL_COLUMNS.length)}) RETURNING *`,
        APPROVAL_COLUMNS.map((c) => row[c]),
      )
      return { row: inserted!, created: true }
    })
  }

  async get(id: string): Promise<ApprovalRow | undefined> {
    const [row] = await this.#session.query<ApprovalRow>(
      'read an approval',
      'SELECT * FROM approvals WHERE id = $1',
      [id],
    )
    return row
  }

  list(filter: { state?: ApprovalState; subject?: string; limit: number }): Promise<ApprovalRow[]> {
    const where: string[] = []
    const params: unknown[] = []
    if (filter.state) {
      params.push(filter.state)
      where.push(`state = $${params.length}`)
    }
    if (filter.subject) {
      params.push(filter.subject)
      where.push(`subject = $${params.length}`)
    }
    params.push(filter.limit)
    return this.#session.query<ApprovalRow>(
      'list approvals',
      `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    )
  }

  async transition(
    id: string,
    from: readonly ApprovalState[],
    to: ApprovalState,
    nowMs: number,
    fields: { approver?: string; reason?: string; unexpiredAt?: number } = {},
  ): Promise<ApprovalRow | undefined> {
    const [row] = await this.#session.query<ApprovalRow>(
      'decide an approval',
      `UPDATE approvals SET state = $1, decided_at = $2, approver = coalesce($3, approver), reason = coalesce($4, reason)
       WHERE id = $5 AND state = ANY($6::text[]) AND ($7::bigint IS NULL OR expires_at > $7::bigint)
       RETURNING *`,
      [to, nowMs, fields.approver ?? null, fields.reason ?? null, id, [...from], fields.unexpiredAt ?? null],
      { write: true },
    )
    return row
  }

  expireDue(nowMs: number): Promise<ApprovalRow[]> {
    return this.#session.query<ApprovalRow>(
      'expire approvals',
      `UPDATE approvals SET state = 'expired', decided_at = $1, reason = 'nobody decided before the timeout'
       WHERE state = 'pending' AND expires_at <= $1 RETURNING *`,
      [nowMs],
      { write: true },
    )
  }
}

/** The alert outbox on PostgreSQL: any replica drains it; SKIP LOCKED keeps two from sending one row. */
export class PgAlertOutbox implements AlertOutbox {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async enqueue(rows: AlertOutboxRow[], state?: { name: string; value: string }): Promise<void> {
    if (rows.length === 0 && !state) return
    await this.#session.transaction(`enqueue ${rows.length} alert(s)`, { write: true }, async (run) => {
      for (const row of rows)
        await run(
          `INSERT INTO alert_outbox (${OUTBOX_COLUMNS.join(', ')}) VALUES (${placeholders(OUTBOX_COLUMNS.length)})
           ON CONFLICT (id, sink) DO NOTHING`,
          OUTBOX_COLUMNS.map((c) => row[c]),
        )
      if (state)
        await run(
          'INSERT INTO alert_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
          [state.name, state.value],
        )
    })
  }

  claim(nowMs: number, limit: number, leaseMs: number): Promise<AlertOutboxRow[]> {
    return this.#session.query<AlertOutboxRow>(
      'claim due alerts',
      `UPDATE alert_outbox o SET next_attempt_at = $1
       FROM (SELECT id, sink FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= $2
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
       WHERE o.id = due.id AND o.sink = due.sink
       RETURNING o.*`,
      [nowMs + leaseMs, nowMs, limit],
      { write: true },
    )
  }

  async markDelivered(id: string, sink: string, nowMs: number): Promise<void> {
    await this.#session.query(
      'mark an alert delivered',
      `UPDATE alert_outbox SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, last_error = NULL
       WHERE id = $2 AND sink = $3`,
      [nowMs, id, sink],
      { write: true },
    )
  }

  async markFailed(id: string, sink: string, error: string, nextAttemptAt: number, giveUp: boolean) {
    await this.#session.query(
      'record a failed alert delivery',
      `UPDATE alert_outbox SET state = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = $3
       WHERE id = $4 AND sink = $5 AND state = 'pending'`,
      [giveUp ? 'failed' : 'pending', error.slice(0, 500), nextAttemptAt, id, sink],
      { write: true },
    )
  }

  list(filter: { state?: AlertDeliveryState; limit: number }): Promise<AlertOutboxRow[]> {
    return this.#session.query<AlertOutboxRow>(
      'list alerts',
      `SELECT * FROM alert_outbox WHERE ($1::text IS NULL OR state = $1) ORDER BY created_at DESC, id DESC LIMIT $2`,
      [filter.state ?? null, filter.limit],
    )
  }

  async readState(name: string): Promise<string | undefined> {
    const [row] = await this.#session.query<{ value: string }>(
      'read alert evaluator state',
      'SELECT value FROM alert_state WHERE name = $1',
      [name],
    )
    return row?.value
  }

  async lead(name: string, owner: string, ttlMs: number, nowMs: number): Promise<boolean> {
    const rows = await this.#session.query(
      'take the alert leader lease',
      `INSERT INTO leaders (name, owner, lease_until) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
       WHERE leaders.owner = excluded.owner OR leaders.lease_until <= $4
       RETURNING 1`,
      [name, owner, nowMs + ttlMs, nowMs],
      { write: true },
    )
    return rows.length === 1
  }
}
