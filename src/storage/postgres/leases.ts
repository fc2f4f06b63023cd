import { GENESIS_HASH } from '../../audit/canonical.js'
import { type ChainLeases, StorageError } from '../ports.js'
import type { PgSession } from './session.js'

/** The database's clock in unix ms: every replica measures leases against the same clock. */
const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::int8`

/*
 * Take the chain: create its head (seq 0, genesis) if new, else take the lease when it is free,
 * ours, or expired. A row comes back only when the lease is now ours.
 */
const ACQUIRE_SQL = `
INSERT INTO audit_heads AS h (node_id, seq, hash, lease_owner, lease_until, created_at, updated_at)
VALUES ($1, 0, '${GENESIS_HASH}', $2, ${NOW_MS} + $3, ${NOW_MS}, ${NOW_MS})
ON CONFLICT (node_id) DO UPDATE SET lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until
  WHERE h.lease_owner IS NULL OR h.lease_owner = EXCLUDED.lease_owner
     OR h.lease_until IS NULL OR h.lease_until <= ${NOW_MS}
RETURNING 1`

/** Chain leases on PostgreSQL, timed by the database's clock (no skew between replicas). */
export class PgChainLeases implements ChainLeases {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async acquire(nodeId: string, owner: string, ttlMs: number): Promise<void> {
    const what = `take the lease on chain "${nodeId}"`
    const taken = await this.#session.query(what, ACQUIRE_SQL, [nodeId, owner, ttlMs], { write: true })
    if (taken.length === 1) return
    const [holder] = await this.#session.query<{ lease_owner: string; left_ms: number }>(
      what,
      `SELECT lease_owner, lease_until - ${NOW_MS} AS left_ms FROM audit_heads WHERE node_id = $1`,
      [nodeId],
    )
    throw new StorageError(
      'LEASE_HELD',
      `node_id "${nodeId}" is in use by another live process (lease owner ${holder?.lease_owner ?? '?'}, ${Math.max(0, holder?.left_ms ?? 0)} ms left); give this process another node_id or stop the other one`,
    )
  }

  async renew(nodeId: string, owner: string, ttlMs: number): Promise<void> {
    const renewed = await this.#session.query(
      `renew the lease on chain "${nodeId}"`,
      `UPDATE audit_heads SET lease_until = ${NOW_MS} + $3 WHERE node_id = $1 AND lease_owner = $2 RETURNING 1`,
      [nodeId, owner, ttlMs],
      { write: true },
    )
    if (renewed.length === 0)
      throw new StorageError(
        'LEASE_LOST',
        `the lease on chain "${nodeId}" was taken by another process after it expired; this process must stop appending to it`,
      )
  }

  async release(nodeId: string, owner: string): Promise<void> {
    await this.#session.query(
      `release the lease on chain "${nodeId}"`,
      `UPDATE audit_heads SET lease_owner = NULL, lease_until = NULL WHERE node_id = $1 AND lease_owner = $2`,
      [nodeId, owner],
      { write: true },
    )
  }
}
