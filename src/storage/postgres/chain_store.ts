import { GENESIS_HASH } from '../../audit/canonical.js'
import {
  type ChainLink,
  type ChainStore,
  type CommitEffects,
  type CommitResult,
  type ExchangeRow,
  StorageError,
} from '../ports.js'
import { BATCH_COLUMN_NAMES, batchArrays, INSERT_COLUMNS, unnestBatch } from './rows.js'
import type { PgSession, Run } from './session.js'

/*
 * Group commit in ONE round trip: a single statement, atomic in autocommit.
 * - `moved` advances the head only if it still equals the expected link (a concurrent writer on
 *   the same chain makes it match nothing); `born` creates the head of a chain that has none when
 *   the caller expects genesis (ON CONFLICT DO NOTHING: a racing creator wins, we match nothing).
 * - `rows` inserts the batch only when exactly one of them advanced the head, so a moved head
 *   writes nothing; a duplicate id fails the whole statement (23505), head included.
 * $1 node, $2/$3 expected seq/hash, $4/$5 new seq/hash, $6 now ms, $7… one array per column.
 */
const COMMIT_SQL = `
WITH moved AS (
  UPDATE audit_heads SET seq = $4, hash = $5, updated_at = $6
  WHERE node_id = $1 AND seq = $2 AND hash = $3
  RETURNING 1
), born AS (
  INSERT INTO audit_heads (node_id, seq, hash, created_at, updated_at)
  SELECT $1, $4, $5, $6, $6 WHERE $2::int8 = 0 AND $3::text = '${GENESIS_HASH}'
  ON CONFLICT (node_id) DO NOTHING
  RETURNING 1
), advanced AS (
  SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM born) AS n
), rows AS (
  INSERT INTO exchanges (${INSERT_COLUMNS})
  SELECT $1, ${BATCH_COLUMN_NAMES} FROM ${unnestBatch(7)}
  WHERE (SELECT n FROM advanced) = 1
  RETURNING 1
)
SELECT (SELECT n FROM advanced) AS advanced, (SELECT count(*) FROM rows) AS inserted`

/*
 * Guardrail effects run in one transaction with the row: the counters are locked in a fixed order
 * (FOR UPDATE, by token id, so two spends on the same ancestors never deadlock), all checked before
 * any is spent, and a refusal rolls everything back (no count, no row).
 */
const LOCK_COUNTERS = `SELECT token_id, remaining FROM usage_counters WHERE token_id = ANY($1::text[])
ORDER BY token_id FOR UPDATE`
const SPEND_COUNTERS = `UPDATE usage_counters SET remaining = remaining - 1 WHERE token_id = ANY($1::text[])
RETURNING remaining`
const CREATE_COUNTERS = `INSERT INTO usage_counters (token_id, remaining, expires_at)
SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]) ON CONFLICT (token_id) DO NOTHING`

/** The append side of the log on PostgreSQL. */
export class PgChainStore implements ChainStore {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async readHead(nodeId: string): Promise<ChainLink> {
    const rows = await this.#session.query<{ seq: number; hash: string }>(
      `read the head of chain "${nodeId}"`,
      'SELECT seq, hash FROM audit_heads WHERE node_id = $1',
      [nodeId],
    )
    return rows[0] ? { seq: rows[0].seq, hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH }
  }

  async commit(
    nodeId: string,
    expected: ChainLink,
    rows: ExchangeRow[],
    timeoutMs: number,
    effects?: CommitEffects,
  ): Promise<CommitResult> {
    if (rows.length === 0) return {}
    checkLinked(nodeId, expected, rows)
    const last = rows[rows.length - 1]!
    const what = `commit of ${rows.length} audit row(s) to chain "${nodeId}"`
    if (effects) {
      if (rows.length !== 1)
        throw new StorageError('INVALID', `a commit with effects carries exactly one row, not ${rows.length}`)
      return this.#session.transaction(what, { timeoutMs, write: true }, async (run) => {
        const remaining = await applyEffects(run, effects)
        await commitRows(run, nodeId, expected, rows, last, what)
        return remaining === undefined ? {} : { remaining }
      })
    }
    await this.#session.withClient(what, { timeoutMs, write: true }, (run) =>
      commitRows(run, nodeId, expected, rows, last, what),
    )
    return {}
  }
}

async function applyEffects(run: Run, effects: CommitEffects): Promise<number | undefined> {
  let remaining: number | undefined
  const ids = [...new Set(effects.spend?.tokenIds ?? [])]
  if (ids.length > 0) {
    const locked = await run<{ token_id: string; remaining: number }>(LOCK_COUNTERS, [ids])
    const left = new Map(locked.map((c) => [c.token_id, Number(c.remaining)]))
    const spent = ids.find((id) => (left.get(id) ?? 0) <= 0)
    if (spent !== undefined)
      throw new StorageError(
        'BUDGET_EXHAUSTED',
        `token ${spent} has no use left (max_uses spent); nothing was written`,
      )
    const after = await run<{ remaining: number }>(SPEND_COUNTERS, [ids])
    remaining = Math.min(...after.map((r) => Number(r.remaining)))
  }
  const budgets = effects.budgets ?? []
  if (budgets.length > 0)
    await run(CREATE_COUNTERS, [
      budgets.map((b) => b.tokenId),
      budgets.map((b) => b.remaining),
      budgets.map((b) => b.expiresAt),
    ])
  return remaining
}

async function commitRows(
  run: Run,
  nodeId: string,
  expected: ChainLink,
  rows: ExchangeRow[],
  last: ExchangeRow,
  what: string,
): Promise<void> {
  let result: { advanced: number; inserted: number } | undefined
  try {
    ;[result] = await run<{ advanced: number; inserted: number }>(
      COMMIT_SQL,
      [nodeId, expected.seq, expected.hash, last.seq, last.hash, Date.now(), ...batchArrays(rows)],
      'kb_chain_commit',
    )
  } catch (err) {
    throw duplicate(err, nodeId) ?? err
  }
  if (result?.advanced !== 1) {
    throw new StorageError(
      'HEAD_MOVED',
      `${what}: the chain head is no longer seq ${expected.seq} (another writer appended, or the head was never created); nothing was written; read the head again`,
    )
  }
}

/** The batch must continue `expected` link by link: anything else is a caller bug, refused before sending. */
function checkLinked(nodeId: string, expected: ChainLink, rows: ExchangeRow[]): void {
  let prev = expected
  for (const row of rows) {
    if (row.node_id !== nodeId || row.seq !== prev.seq + 1 || row.prev_hash !== prev.hash) {
      throw new StorageError(
        'INVALID',
        `commit to chain "${nodeId}": row ${row.id} (node "${row.node_id}", seq ${row.seq}) does not follow seq ${prev.seq} of that chain`,
      )
    }
    prev = row
  }
}

/** 23505 on the id (or the chain position): a StorageError saying which. */
function duplicate(err: unknown, nodeId: string): StorageError | undefined {
  const e = err as { code?: string; constraint?: string; detail?: string }
  if (e?.code !== '23505') return undefined
  if (e.constraint === 'exchanges_pkey')
    return new StorageError(
      'CORRUPT',
      `chain "${nodeId}" already holds rows past its recorded head (${e.detail ?? 'duplicate position'}); run keybroker audit verify`,
      { cause: err },
    )
  return new StorageError(
    'DUPLICATE_ID',
    `an audit row with this id already exists (${e.detail ?? e.constraint}); nothing was written`,
    { cause: err },
  )
}
