import { type AuditPruner, type ChainLink, StorageError } from '../ports.js'
import type { PgSession } from './session.js'

/*
 * One statement, atomic in autocommit: delete the prefix and move the checkpoint forward (never
 * back). The delete runs only when the checkpoint names a row that exists with that hash, so a
 * wrong checkpoint deletes nothing.
 */
const PRUNE_SQL = `
WITH anchor AS (
  SELECT 1 FROM exchanges WHERE node_id = $1 AND seq = $2 AND hash = $3
), gone AS (
  DELETE FROM exchanges WHERE node_id = $1 AND seq <= $2 AND EXISTS (SELECT 1 FROM anchor)
  RETURNING 1
), mark AS (
  INSERT INTO audit_retention AS r (node_id, seq, hash, pruned_at)
  SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM anchor)
  ON CONFLICT (node_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, pruned_at = EXCLUDED.pruned_at
    WHERE r.seq < EXCLUDED.seq
  RETURNING 1
)
SELECT (SELECT count(*) FROM anchor) AS anchored, (SELECT count(*) FROM gone) AS deleted,
       (SELECT seq FROM audit_retention WHERE node_id = $1) AS checkpoint`

/** Retention on PostgreSQL: a chain's oldest rows go, behind its retention checkpoint. */
export class PgAuditPruner implements AuditPruner {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async prunePrefix(nodeId: string, checkpoint: ChainLink): Promise<number> {
    const what = `prune chain "${nodeId}" up to seq ${checkpoint.seq}`
    const [row] = await this.#session.query<{ anchored: number; deleted: number; checkpoint: number | null }>(
      what,
      PRUNE_SQL,
      [nodeId, checkpoint.seq, checkpoint.hash, Date.now()],
      { write: true },
    )
    if (row && row.anchored === 0 && (row.checkpoint ?? 0) < checkpoint.seq)
      throw new StorageError(
        'INVALID',
        `${what}: the chain has no row at seq ${checkpoint.seq} with hash ${checkpoint.hash.slice(0, 12)}…; nothing was deleted`,
      )
    return row?.deleted ?? 0
  }
}
