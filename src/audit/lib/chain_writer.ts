import { hash as sha } from 'node:crypto'
import type { Statement, Transaction } from 'better-sqlite3'
import type { SqliteDatabase } from '../../storage/database.js'
import { CANONICAL_COLUMNS, GENESIS_HASH } from '../record.js'
import type { ChainLink } from './schema.js'

/** One row as the writer receives it: the canonical columns after `seq`, in CANONICAL_COLUMNS order. */
export type RowValues = Array<string | number | null>

export interface WriteFailure {
  /** SQLite's code (SQLITE_BUSY, …) or a short description; it ends up in the caller's error message. */
  code: string
  message: string
}

/** Rows i of a successful batch got seq `firstSeq + i`; row 0 links to `prevHash`, row i to hashes[i - 1]. */
export type BatchOutcome =
  | { ok: true; firstSeq: number; prevHash: string; hashes: string[] }
  | { ok: false; error: WriteFailure }
  /** A caller-supplied id was a duplicate: each row was then written (or refused) on its own. */
  | { ok: 'each'; outcomes: BatchOutcome[] }

const VALUE_COUNT = CANONICAL_COLUMNS.length - 1

/**
 * Appends batches to the hash chain on one connection, one IMMEDIATE transaction per batch.
 * Runs in the writer thread (see writer_worker.ts). The head is read inside each transaction
 * rather than kept in memory, so a failed batch never advances it and another process writing
 * the same file cannot fork the chain.
 */
export class ChainWriter {
  readonly #readHead: Statement<[], ChainLink>
  readonly #readCheckpoint: Statement<[], ChainLink>
  readonly #insert: Statement<unknown[]>
  readonly #writeHead: Statement<[number, string]>
  readonly #transaction: Transaction<
    (rows: RowValues[]) => { firstSeq: number; prevHash: string; hashes: string[] }
  >
  readonly #params: unknown[] = new Array(VALUE_COUNT + 3)

  constructor(db: SqliteDatabase) {
    const columns = [...CANONICAL_COLUMNS, 'prev_hash', 'hash']
    this.#readHead = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1')
    this.#readCheckpoint = db.prepare('SELECT seq, hash FROM audit_checkpoint WHERE id = 1')
    this.#insert = db.prepare(
      `INSERT INTO exchanges (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    )
    this.#writeHead = db.prepare(
      'INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    )
    this.#transaction = db.transaction((rows) => this.#chainAndInsert(rows))
  }

  write(rows: RowValues[]): BatchOutcome {
    try {
      return { ok: true, ...this.#transaction.immediate(rows) }
    } catch (err) {
      const failure = writeFailure(err)
      // a duplicate caller-supplied id must fail only its own append, not its whole batch
      if (failure.code.startsWith('SQLITE_CONSTRAINT') && rows.length > 1) {
        return { ok: 'each', outcomes: rows.map((row) => this.write([row])) }
      }
      return { ok: false, error: failure }
    }
  }

  #chainAndInsert(rows: RowValues[]): { firstSeq: number; prevHash: string; hashes: string[] } {
    const head = this.#readHead.get() ?? this.#readCheckpoint.get() ?? { seq: 0, hash: GENESIS_HASH }
    const params = this.#params
    const hashes = new Array<string>(rows.length)
    let seq = head.seq
    let previous = head.hash
    for (let i = 0; i < rows.length; i++) {
      const values = rows[i]!
      seq++
      // Same text as canonicalRow(row): JSON of [seq, ...values]; values are serialized once.
      const canonical = `[${seq},${JSON.stringify(values).slice(1)}`
      // one-shot: the same bytes as update(previous).update(canonical), without a Hash object per row
      const hash = sha('sha256', previous + canonical, 'hex')
      params[0] = seq
      for (let v = 0; v < VALUE_COUNT; v++) params[v + 1] = values[v]
      params[VALUE_COUNT + 1] = previous
      params[VALUE_COUNT + 2] = hash
      this.#insert.run(params)
      hashes[i] = hash
      previous = hash
    }
    this.#writeHead.run(seq, previous)
    return { firstSeq: head.seq + 1, prevHash: head.hash, hashes }
  }
}

/** SqliteError carries e.g. SQLITE_BUSY; a closed handle throws a plain TypeError without one. */
export function writeFailure(err: unknown): WriteFailure {
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (typeof code === 'string') return { code, message }
  return { code: err instanceof Error ? err.name : 'unknown error', message }
}
