import type { Statement } from 'better-sqlite3'
import type { ChainLink, CommitEffects, ExchangeRow } from '../ports.js'
import type { SqliteDatabase } from './connection.js'

/** A write the writer thread runs in one IMMEDIATE transaction. */
export type WriteJob =
  | { kind: 'commit'; nodeId: string; expected: ChainLink; rows: ExchangeRow[]; now: number }
  | { kind: 'statements'; statements: Array<{ sql: string; params?: unknown[] }> }
  /** One audit row with its guardrail effects (budget rows created, uses spent), one transaction. */
  | {
      kind: 'commit_effects'
      nodeId: string
      expected: ChainLink
      rows: ExchangeRow[]
      now: number
      effects: CommitEffects
    }

export interface WriteFailure {
  /** SQLite's code (SQLITE_BUSY, …), HEAD_MOVED, or a short description. */
  code: string
  message: string
}

export type WriteResult =
  | { ok: true; results: Array<{ changes: number; rows?: unknown[] }> }
  | { ok: false; error: WriteFailure }

/** Column order of an INSERT into exchanges: every ExchangeRow field. */
export const ROW_COLUMNS = [
  'node_id',
  'seq',
  'form',
  'id',
  'ts',
  'kind',
  'subject',
  'auth_method',
  'issuer',
  'peer',
  'cert_thumbprint',
  'audience',
  'scopes',
  'ttl',
  'secret_name',
  'route',
  'decision',
  'reason',
  'token_id',
  'expires_at',
  'latency_us',
  'detail',
  'run_id',
  'tool_call_id',
  'approval_id',
  'trace_id',
  'grant_name',
  'prev_hash',
  'hash',
] as const satisfies ReadonlyArray<keyof ExchangeRow>

const INSERT_ROW = `INSERT INTO exchanges (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map((c) => `@${c}`).join(', ')})`
const READ_HEAD = 'SELECT seq, hash FROM audit_heads WHERE node_id = ?'
const WRITE_HEAD = 'UPDATE audit_heads SET seq = ?, hash = ?, updated_at = ? WHERE node_id = ?'

const statementCache = new WeakMap<SqliteDatabase, Map<string, Statement>>()

function prepared(db: SqliteDatabase, sql: string): Statement {
  let cache = statementCache.get(db)
  if (!cache) {
    cache = new Map()
    statementCache.set(db, cache)
  }
  let statement = cache.get(sql)
  if (!statement) {
    statement = db.prepare(sql)
    cache.set(sql, statement)
  }
  return statement
}

class HeadMoved extends Error {
  readonly code = 'HEAD_MOVED'
}

class BudgetExhausted extends Error {
  readonly code = 'BUDGET_EXHAUSTED'
}

const READ_COUNTER = 'SELECT remaining FROM usage_counters WHERE token_id = ?'
const SPEND_COUNTER =
  'UPDATE usage_counters SET remaining = remaining - 1 WHERE token_id = ? AND remaining > 0'
const CREATE_COUNTER =
  'INSERT INTO usage_counters (token_id, remaining, expires_at) VALUES (?, ?, ?) ON CONFLICT (token_id) DO NOTHING'

/** Runs one job; throws on failure (the caller turns it into a WriteFailure). */
export function runJob(db: SqliteDatabase, job: WriteJob): WriteResult {
  if (job.kind === 'commit') {
    db.transaction(() => commitRows(db, job)).immediate()
    return { ok: true, results: [{ changes: job.rows.length }] }
  }
  if (job.kind === 'commit_effects') {
    const remaining = db.transaction(() => commitWithEffects(db, job)).immediate()
    return { ok: true, results: [{ changes: job.rows.length, rows: [{ remaining }] }] }
  }
  const results = db
    .transaction(() =>
      job.statements.map(({ sql, params }) => {
        const statement = prepared(db, sql)
        if (statement.reader) return { changes: 0, rows: statement.all(...(params ?? [])) }
        return { changes: statement.run(...(params ?? [])).changes }
      }),
    )
    .immediate()
  return { ok: true, results }
}

/**
 * The writer thread is the only writer and the transaction is IMMEDIATE, so check-then-decrement
 * cannot race: every counter is checked before any is spent, and a refusal throws before the row.
 */
function commitWithEffects(
  db: SqliteDatabase,
  job: Extract<WriteJob, { kind: 'commit_effects' }>,
): number | null {
  let remaining: number | null = null
  const ids = [...new Set(job.effects.spend?.tokenIds ?? [])]
  for (const id of ids) {
    const counter = prepared(db, READ_COUNTER).get(id) as { remaining: number } | undefined
    if (!counter || counter.remaining <= 0)
      throw new BudgetExhausted(`token ${id} has no use left (max_uses spent)`)
  }
  for (const id of ids) {
    prepared(db, SPEND_COUNTER).run(id)
    const after = (prepared(db, READ_COUNTER).get(id) as { remaining: number }).remaining
    remaining = remaining === null ? after : Math.min(remaining, after)
  }
  for (const budget of job.effects.budgets ?? [])
    prepared(db, CREATE_COUNTER).run(budget.tokenId, budget.remaining, budget.expiresAt)
  commitRows(db, job)
  return remaining
}

function commitRows(db: SqliteDatabase, job: Extract<WriteJob, { kind: 'commit' | 'commit_effects' }>): void {
  const head = prepared(db, READ_HEAD).get(job.nodeId) as ChainLink | undefined
  if (!head || head.seq !== job.expected.seq || head.hash !== job.expected.hash)
    throw new HeadMoved(
      head
        ? `chain ${job.nodeId} head is at seq ${head.seq}, not ${job.expected.seq}`
        : `chain ${job.nodeId} has no head row (lease not taken)`,
    )
  const insert = prepared(db, INSERT_ROW)
  for (const row of job.rows) insert.run(row)
  const last = job.rows[job.rows.length - 1]
  if (last) prepared(db, WRITE_HEAD).run(last.seq, last.hash, job.now, job.nodeId)
}

/** SqliteError carries e.g. SQLITE_BUSY; a closed handle throws a plain TypeError without one. */
export function writeFailure(err: unknown): WriteFailure {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (typeof code === 'string') return { code, message }
  return { code: err instanceof Error ? err.name : 'unknown error', message }
}
