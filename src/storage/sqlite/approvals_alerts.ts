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
import type { SqliteDatabase } from './connection.js'
import type { SqliteWrites } from './writes.js'

const PENDING_OF = `subject = ? AND issuer = ? AND state = 'pending' AND expires_at > ?`

/** Approvals on SQLite: reads on the main connection, every write through the writer thread. */
export class SqliteApprovalRows implements ApprovalRows {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly writes: SqliteWrites,
  ) {}

  async openPending(row: ApprovalRow, cap: number, nowMs: number): Promise<OpenApprovalResult> {
    const who = [row.subject, row.issuer, nowMs]
    const [inserted, found, counted] = await this.writes.run([
      {
        sql: `INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')})
              SELECT ${APPROVAL_COLUMNS.map(() => '?').join(', ')}
              WHERE NOT EXISTS (SELECT 1 FROM approvals WHERE ${PENDING_OF} AND request_key = ?)
                AND (SELECT count(*) FROM approvals WHERE ${PENDING_OF}) < ?`,
        params: [...APPROVAL_COLUMNS.map((c) => row[c]), ...who, row.request_key, ...who, cap],
      },
      {
        sql: `SELECT * FROM approvals WHERE ${PENDING_OF} AND request_key = ? ORDER BY created_at LIMIT 1`,
        params: [...who, row.request_key],
      },
      { sql: `SELECT count(*) AS n FROM approvals WHERE ${PENDING_OF}`, params: who },
    ])
    const existing = found!.rows?.[0] as ApprovalRow | undefined
    if (existing) return { row: existing, created: inserted!.changes === 1 }
    return { capped: true, pending: (counted!.rows?.[0] as { n: number } | undefined)?.n ?? 0 }
  }

  async get(id: string): Promise<ApprovalRow | undefined> {
    return this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as ApprovalRow | undefined
  }

  async list(filter: { state?: ApprovalState; subject?: string; limit: number }): Promise<ApprovalRow[]> {
    const where: string[] = []
    const params: unknown[] = []
    if (filter.state) {
      where.push('state = ?')
      params.push(filter.state)
    }
    if (filter.subject) {
      where.push('subject = ?')
      params.push(filter.subject)
    }
    const sql = `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY created_at DESC, id DESC LIMIT ?`
    return this.db.prepare(sql).all(...params, filter.limit) as ApprovalRow[]
  }

  async transition(
    id: string,
    from: readonly ApprovalState[],
    to: ApprovalState,
    nowMs: number,
    fields: { approver?: string; reason?: string; unexpiredAt?: number } = {},
  ): Promise<ApprovalRow | undefined> {
    const [changed, after] = await this.writes.run([
      {
        sql: `UPDATE approvals SET state = ?, decided_at = ?, approver = coalesce(?, approver), reason = coalesce(?, reason)
              WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})
                ${fields.unexpiredAt !== undefined ? 'AND expires_at > ?' : ''}`,
        params: [
          to,
          nowMs,
          fields.approver ?? null,
          fields.reason ?? null,
          id,
          ...from,
          ...(fields.unexpiredAt !== undefined ? [fields.unexpiredAt] : []),
        ],
      },
      { sql: 'SELECT * FROM approvals WHERE id = ?', params: [id] },
    ])
    return changed!.changes === 1 ? (after!.rows?.[0] as ApprovalRow) : undefined
  }

  async expireDue(nowMs: number): Promise<ApprovalRow[]> {
    const [due] = await this.writes.run([
      {
        sql: `UPDATE approvals SET state = 'expired', decided_at = ?, reason = 'nobody decided before the timeout'
              WHERE state = 'pending' AND expires_at <= ? RETURNING *`,
        params: [nowMs, nowMs],
      },
    ])
    return (due!.rows ?? []) as ApprovalRow[]
  }
}

/** The alert outbox on SQLite: one process drains it (no replicas share a file). */
export class SqliteAlertOutbox implements AlertOutbox {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly writes: SqliteWrites,
  ) {}

  async enqueue(rows: AlertOutboxRow[], state?: { name: string; value: string }): Promise<void> {
    const statements = rows.map((row) => ({
      sql: `INSERT INTO alert_outbox (${OUTBOX_COLUMNS.join(', ')}) VALUES (${OUTBOX_COLUMNS.map(() => '?').join(', ')})
            ON CONFLICT (id, sink) DO NOTHING`,
      params: OUTBOX_COLUMNS.map((c) => row[c]),
    }))
    if (state)
      statements.push({
        sql: 'INSERT INTO alert_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        params: [state.name, state.value],
      })
    if (statements.length > 0) await this.writes.run(statements)
  }

  async claim(nowMs: number, limit: number, leaseMs: number): Promise<AlertOutboxRow[]> {
    const [claimed] = await this.writes.run([
      {
        sql: `UPDATE alert_outbox SET next_attempt_at = ?
              WHERE (id, sink) IN (SELECT id, sink FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= ?
                                   ORDER BY next_attempt_at LIMIT ?)
              RETURNING *`,
        params: [nowMs + leaseMs, nowMs, limit],
      },
    ])
    return (claimed!.rows ?? []) as AlertOutboxRow[]
  }

  async markDelivered(id: string, sink: string, nowMs: number): Promise<void> {
    await this.writes.run([
      {
        sql: `UPDATE alert_outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL
              WHERE id = ? AND sink = ?`,
        params: [nowMs, id, sink],
      },
    ])
  }

  async markFailed(id: string, sink: string, error: string, nextAttemptAt: number, giveUp: boolean) {
    await this.writes.run([
      {
        sql: `UPDATE alert_outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?
              WHERE id = ? AND sink = ? AND state = 'pending'`,
        params: [giveUp ? 'failed' : 'pending', error.slice(0, 500), nextAttemptAt, id, sink],
      },
    ])
  }

  async list(filter: { state?: AlertDeliveryState; limit: number }): Promise<AlertOutboxRow[]> {
    const sql = `SELECT * FROM alert_outbox ${filter.state ? 'WHERE state = ?' : ''} ORDER BY created_at DESC, id DESC LIMIT ?`
    return this.db.prepare(sql).all(...(filter.state ? [filter.state] : []), filter.limit) as AlertOutboxRow[]
  }

  async readState(name: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT value FROM alert_state WHERE name = ?').get(name) as
      | { value: string }
      | undefined
    return row?.value
  }

  async lead(name: string, owner: string, ttlMs: number, nowMs: number): Promise<boolean> {
    const [taken] = await this.writes.run([
      {
        sql: `INSERT INTO leaders (name, owner, lease_until) VALUES (?, ?, ?)
              ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
              WHERE leaders.owner = excluded.owner OR leaders.lease_until <= ?`,
        params: [name, owner, nowMs + ttlMs, nowMs],
      },
    ])
    return taken!.changes === 1
  }
}
