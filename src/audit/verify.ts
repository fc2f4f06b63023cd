import type { AuditReader, ChainHead, ChainLink, ExchangeRow, ListPosition } from '../storage/ports.js'
import { GENESIS_HASH } from './canonical.js'
import { linkProblem } from './lib/chain.js'

export interface VerifyChainResult {
  ok: boolean
  rowsChecked: number
  /** chains checked (one per writer process) */
  chainsChecked?: number
  /** The chain of the first row that does not verify. */
  firstBadNodeId?: string
  /** The first row that does not verify (for a truncated tail: the first missing seq). */
  firstBadSeq?: number
  firstBadId?: string
  problem?: string
}

const PAGE = 5000

/**
 * Recompute every chain from genesis (or from its retention checkpoint) in seq order and compare
 * its end with the chain's recorded head. Finds an edited row (hash mismatch), a removed or
 * reordered row (seq gap / prev_hash mismatch) and a removed tail (head records a later seq),
 * and a row whose chain has no head at all.
 *
 * @example
 * const result = await verifyChain(storage.reader)
 * if (!result.ok) console.error(`${result.firstBadNodeId} seq ${result.firstBadSeq}: ${result.problem}`)
 */
export async function verifyChain(
  reader: AuditReader,
  onProgress?: (rowsChecked: number) => void,
): Promise<VerifyChainResult> {
  const heads = await reader.heads()
  const checkpoints = new Map((await reader.retentionCheckpoints()).map((c) => [c.nodeId, c]))
  let rowsChecked = 0
  for (const head of heads) {
    const checkpoint = checkpoints.get(head.nodeId)
    let previous: ChainLink = checkpoint ?? { seq: 0, hash: GENESIS_HASH }
    for (;;) {
      const rows = await reader.chainRows(head.nodeId, previous.seq, PAGE)
      for (const row of rows) {
        rowsChecked++
        const problem = linkProblem(previous, row)
        if (problem)
          return {
            ok: false,
            rowsChecked,
            firstBadNodeId: head.nodeId,
            firstBadSeq: row.seq,
            firstBadId: row.id,
            problem,
          }
        previous = { seq: row.seq, hash: row.hash }
      }
      onProgress?.(rowsChecked)
      if (rows.length < PAGE) break
    }
    const headProblem = compareWithHead(previous, head)
    if (headProblem) return { ok: false, rowsChecked, firstBadNodeId: head.nodeId, ...headProblem }
  }
  // every row belongs to a walked chain: a row outside them is a chain whose head was removed
  const total = await reader.count()
  if (total !== rowsChecked) {
    const known = new Set(heads.map((h) => h.nodeId))
    const row = await firstOrphan(reader, known)
    return {
      ok: false,
      rowsChecked,
      firstBadNodeId: row?.node_id,
      firstBadSeq: row?.seq,
      firstBadId: row?.id,
      problem: `${total - rowsChecked} row(s) belong to no chain with a head (a head row was removed)`,
    }
  }
  return { ok: true, rowsChecked, chainsChecked: heads.length }
}

/** The newest row whose chain has no head, paging past any number of newer rows of live chains. */
async function firstOrphan(reader: AuditReader, known: Set<string>): Promise<ExchangeRow | undefined> {
  let before: ListPosition | undefined
  for (;;) {
    const page = await reader.listPage({}, PAGE, before)
    const orphan = page.find((r) => !known.has(r.node_id))
    if (orphan || page.length < PAGE) return orphan
    const last = page[page.length - 1]!
    before = { ts: last.ts, id: last.id }
  }
}

function compareWithHead(
  last: ChainLink,
  head: ChainHead,
): Pick<VerifyChainResult, 'firstBadSeq' | 'problem'> | undefined {
  if (head.seq > last.seq) {
    return {
      firstBadSeq: last.seq + 1,
      problem: `chain ends at seq ${last.seq} but its head records seq ${head.seq}: rows after ${last.seq} were removed`,
    }
  }
  if (head.seq < last.seq) {
    return {
      firstBadSeq: head.seq + 1,
      problem: `chain ends at seq ${last.seq} but its head records seq ${head.seq}`,
    }
  }
  if (head.hash !== last.hash) {
    return { firstBadSeq: last.seq, problem: `hash of seq ${last.seq} does not match the hash in its head` }
  }
  return undefined
}
