import type { ClusterRows, ReplicaRecord } from '../ports.js'
import type { PgSession } from './session.js'

/** The database's clock in unix ms: every replica judges liveness by it, never by its own clock. */
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::int8'

/** Replica membership on PostgreSQL (migration 6's cluster_nodes). */
export class PgClusterRows implements ClusterRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async heartbeat(row: Pick<ReplicaRecord, 'node_id' | 'policy_hash' | 'version'>): Promise<void> {
    await this.#session.query(
      `heartbeat of replica "${row.node_id}"`,
      `INSERT INTO cluster_nodes (node_id, policy_hash, version, started_at, heartbeat_at)
       VALUES ($1, $2, $3, ${DB_NOW_MS}, ${DB_NOW_MS})
       ON CONFLICT (node_id) DO UPDATE
         SET policy_hash = EXCLUDED.policy_hash, version = EXCLUDED.version, heartbeat_at = EXCLUDED.heartbeat_at`,
      [row.node_id, row.policy_hash, row.version],
      { write: true },
    )
  }

  live(withinMs: number): Promise<ReplicaRecord[]> {
    return this.#session.query<ReplicaRecord>(
      'list the live replicas',
      `SELECT node_id, policy_hash, version, started_at, heartbeat_at FROM cluster_nodes
        WHERE heartbeat_at >= ${DB_NOW_MS} - $1 ORDER BY node_id`,
      [withinMs],
    )
  }

  async leave(nodeId: string): Promise<void> {
    await this.#session.query(
      `remove replica "${nodeId}"`,
      'DELETE FROM cluster_nodes WHERE node_id = $1',
      [nodeId],
      { write: true },
    )
  }

  async databaseTime(): Promise<number> {
    const [row] = await this.#session.query<{ now: number }>(
      'read the database clock',
      `SELECT ${DB_NOW_MS} AS now`,
    )
    return row!.now
  }
}
