import { chainHash, type RawExchangeRow } from '../record.js'
import type { ChainLink } from './schema.js'

/**
 * Why `row` cannot follow `previous` in the chain, or undefined when it links.
 * `previous` is the row before it, the retention checkpoint, or genesis (seq 0).
 */
export function linkProblem(previous: ChainLink, row: RawExchangeRow): string | undefined {
  if (row.seq !== previous.seq + 1) {
    if (row.seq <= previous.seq) return `seq ${row.seq} is at or before the checkpoint (seq ${previous.seq})`
    const missing = row.seq - previous.seq - 1
    return `seq ${row.seq} follows seq ${previous.seq}: ${missing} row(s) missing`
  }
  if (row.prev_hash !== previous.hash) {
    return `prev_hash does not match the hash of seq ${previous.seq} (a row was removed, reordered or replaced)`
  }
  if (chainHash(row.prev_hash, row) !== row.hash)
    return 'hash mismatch: the row was changed after it was written'
  return undefined
}
