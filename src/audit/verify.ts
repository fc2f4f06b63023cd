import type { SqliteDatabase } from '../storage/database.js'
import { linkProblem } from './lib/chain.js'
import { type ChainLink, tableExists } from './lib/schema.js'
import { GENESIS_HASH, type RawExchangeRow } from './record.js'

export interface VerifyChainResult {
  ok: boolean
  rowsChecked: number
  /** The first row that does not verify (for a truncated tail: the first missing seq). */
  firstBadSeq?: number
  firstBadId?: string
  problem?: string
}

/**
 * Recompute the chain from genesis (or from the retention checkpoint) in seq order and compare
 * the end with `audit_head`. Finds an edited row (hash mismatch), a removed or reordered row
 * (seq gap / prev_hash mismatch) and a removed tail (head records a later seq).
 * Reads one snapshot, so concurrent appends from another connection cannot cause a false alarm.
 *
 * @example
 * const result = verifyChain(openDatabase('./data/keybroker.db', { readonly: true }))
 * if (!result.ok) console.error(`seq ${result.firstBadSeq} (${result.firstBadId}): ${result.problem}`)
 */
export function verifyChain(db: SqliteDatabase): VerifyChainResult {
  if (!tableExists(db, 'exchanges')) {
    return {
      ok: false,
      rowsChecked: 0,
      problem: 'no audit log in this database (table exchanges is missing)',
    }
  }
  return db.transaction(() => walkChain(db))()
}

function walkChain(db: SqliteDatabase): VerifyChainResult {
  const checkpoint = readLink(db, 'audit_checkpoint')
  const head = readLink(db, 'audit_head')
  let previous: ChainLink = checkpoint ?? { seq: 0, hash: GENESIS_HASH }
  let rowsChecked = 0
  const rows = db.prepare<[], RawExchangeRow>('SELECT * FROM exchanges ORDER BY seq').iterate()
  for (const row of rows) {
    rowsChecked++
    const problem = linkProblem(previous, row)
    if (problem) return { ok: false, rowsChecked, firstBadSeq: row.seq, firstBadId: row.id, problem }
    previous = { seq: row.seq, hash: row.hash }
  }
  const headProblem = compareWithHead(previous, head, checkpoint)
  if (headProblem) return { ok: false, rowsChecked, ...headProblem }
  return { ok: true, rowsChecked }
}

function compareWithHead(
  last: ChainLink,
  head: ChainLink | undefined,
  checkpoint: ChainLink | undefined,
): Pick<VerifyChainResult, 'firstBadSeq' | 'problem'> | undefined {
  if (!head) {
    if (last.seq === 0 && !checkpoint) return undefined // nothing was ever written
    return { problem: `log ends at seq ${last.seq} but audit_head is missing` }
  }
  if (head.seq > last.seq) {
    return {
      firstBadSeq: last.seq + 1,
      problem: `log ends at seq ${last.seq} but head records seq ${head.seq}: rows after ${last.seq} were removed`,
    }
  }
  if (head.seq < last.seq) {
    return {
      firstBadSeq: head.seq + 1,
      problem: `log ends at seq ${last.seq} but head records seq ${head.seq}`,
    }
  }
  if (head.hash !== last.hash) {
    return { firstBadSeq: last.seq, problem: `hash of seq ${last.seq} does not match the hash in audit_head` }
  }
  return undefined
}

function readLink(db: SqliteDatabase, table: 'audit_head' | 'audit_checkpoint'): ChainLink | undefined {
  if (!tableExists(db, table)) return undefined
  return db.prepare<[], ChainLink>(`SELECT seq, hash FROM ${table} WHERE id = 1`).get()
}
