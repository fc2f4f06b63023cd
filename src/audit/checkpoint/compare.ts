import type { AuditReader } from '../../storage/ports.js'
import type { CheckpointPayload } from './token.js'

/** How the database differs from what a checkpoint vouches for. */
export interface CheckpointMismatch {
  /** 'behind': the database holds less; 'fork': it holds a different history; 'log': another log */
  kind: 'behind' | 'fork' | 'log'
  nodeId?: string
  seq?: number
  problem: string
}

/**
 * Does the database still hold everything `checkpoint` vouches for? For each chain head in it,
 * the row at that seq must exist with that hash — unless retention pruned it, in which case the
 * chain's retention checkpoint must be at or past it (and agree, when exactly at it).
 * Returns undefined when it does.
 */
export async function compareWithCheckpoint(
  reader: AuditReader,
  logId: string | undefined,
  checkpoint: CheckpointPayload,
): Promise<CheckpointMismatch | undefined> {
  if (logId !== undefined && logId !== checkpoint.log_id)
    return {
      kind: 'log',
      problem: `the database is log ${logId}, the checkpoint is of log ${checkpoint.log_id}`,
    }
  const retention = new Map((await reader.retentionCheckpoints()).map((c) => [c.nodeId, c]))
  const heads = new Map((await reader.heads()).map((h) => [h.nodeId, h]))
  for (const vouched of checkpoint.heads) {
    if (vouched.seq === 0) continue
    const pruned = retention.get(vouched.node_id)
    if (pruned && pruned.seq >= vouched.seq) {
      if (pruned.seq === vouched.seq && pruned.hash !== vouched.hash)
        return fork(vouched.node_id, vouched.seq, 'its retention checkpoint has a different hash')
      continue // pruned by retention behind a checkpoint that covers it
    }
    const [row] = await reader.chainRows(vouched.node_id, vouched.seq - 1, 1)
    if (!row || row.seq !== vouched.seq) {
      const head = heads.get(vouched.node_id)
      const ends = head ? `ends at seq ${head.seq}` : 'is missing'
      return {
        kind: 'behind',
        nodeId: vouched.node_id,
        seq: vouched.seq,
        problem: `chain ${vouched.node_id} ${ends} in the database, but the checkpoint vouches for seq ${vouched.seq}: rows were lost or the database is an older copy`,
      }
    }
    if (row.hash !== vouched.hash)
      return fork(
        vouched.node_id,
        vouched.seq,
        `the row there has hash ${row.hash.slice(0, 16)}…, the checkpoint ${vouched.hash.slice(0, 16)}…`,
      )
  }
  return undefined
}

function fork(nodeId: string, seq: number, why: string): CheckpointMismatch {
  return {
    kind: 'fork',
    nodeId,
    seq,
    problem: `chain ${nodeId} seq ${seq} is a different history than the checkpoint vouches for: ${why}`,
  }
}
