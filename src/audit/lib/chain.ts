import type { ChainLink, ExchangeRow } from '../../storage/ports.js'
import { rowHash } from '../canonical.js'

/**
 * Why `row` cannot follow `previous` in its chain, or undefined when it links.
 * `previous` is the row before it, the chain's retention checkpoint, or genesis (seq 0).
 */
export function linkProblem(previous: ChainLink, row: ExchangeRow): string | undefined {
  if (row.seq !== previous.seq + 1) {
    if (row.seq <= previous.seq) return `seq ${row.seq} is at or before seq ${previous.seq}`
    const missing = row.seq - previous.seq - 1
    return `seq ${row.seq} follows seq ${previous.seq}: ${missing} row(s) missing`
  }
  if (row.prev_hash !== previous.hash) {
    return `prev_hash does not match the hash of seq ${previous.seq} (a row was removed, reordered or replaced)`
  }
  let computed: string
  try {
    computed = rowHash(row.prev_hash, row)
  } catch (err) {
    return (err as Error).message
  }
  if (computed !== row.hash) return 'hash mismatch: the row was changed after it was written'
  return undefined
}
