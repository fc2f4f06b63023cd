import type { Statement } from 'better-sqlite3'
import type { ChainLink, ExchangeRow } from '../ports.js'
import type { SqliteDatabase } from './connection.js'

/** A write the writer thread runs in one IMMEDIATE transaction. */
export type WriteJob =
  | { kind: 'commit'; nodeId: string; expected: ChainLink; rows: ExchangeRow[]; now: number }
  | { kind: 'statements'; statements: Array<{ sql: string; params?: unknown[] }> }

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

/** Runs one job; throws on failure (the caller turns it into a WriteFailure). */
export function runJob(db: SqliteDatabase, job: WriteJob): WriteResult {
  if (job.kind === 'commit') {
    db.transaction(() => commitRows(db, job)).immediate()
    return { ok: true, results: [{ changes: job.rows.length }] }
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

function commitRows(db: SqliteDatabase, job: Extract<WriteJob, { kind: 'commit' }>): void {
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
