import {
  type BulkImport,
  type ChainLink,
  type ExchangeRow,
  type LogMeta,
  type SealedKeyRow,
  StorageError,
} from '../ports.js'
import type { PgChainStore } from './chain_store.js'
import type { PgSession } from './session.js'

/** A bulk batch may hold thousands of rows: its deadline is a minute, not the audit write timeout. */
const BULK_TIMEOUT_MS = 60_000

/** `storage copy` / `restore` writes on PostgreSQL: verbatim rows, one transaction per call. */
export class PgBulkImport implements BulkImport {
  readonly #session: PgSession
  readonly #chains: PgChainStore

  constructor(session: PgSession, chains: PgChainStore) {
    this.#session = session
    this.#chains = chains
  }

  async createChain(
    nodeId: string,
    start: ChainLink,
    retention?: ChainLink & { prunedAt: number },
  ): Promise<void> {
    const what = `create chain "${nodeId}" at seq ${start.seq}`
    try {
      await this.#session.transaction(what, { write: true, timeoutMs: BULK_TIMEOUT_MS }, async (run) => {
        const now = Date.now()
        await run(
          `INSERT INTO audit_heads (node_id, seq, hash, lease_owner, lease_until, created_at, updated_at)
           VALUES ($1, $2, $3, NULL, NULL, $4, $4)`,
          [nodeId, start.seq, start.hash, now],
        )
        if (retention)
          await run('INSERT INTO audit_retention (node_id, seq, hash, pruned_at) VALUES ($1, $2, $3, $4)', [
            nodeId,
            retention.seq,
            retention.hash,
            retention.prunedAt,
          ])
      })
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === '23505')
        throw new StorageError(
          'DUPLICATE_ID',
          `${what}: chain "${nodeId}" already exists; nothing was written`,
          {
            cause: err,
          },
        )
      throw err
    }
  }

  /** The group-commit statement: checks the head, inserts every column as given, moves the head, in one round trip. */
  async appendRows(nodeId: string, expected: ChainLink, rows: ExchangeRow[]): Promise<void> {
    await this.#chains.commit(nodeId, expected, rows, BULK_TIMEOUT_MS)
  }

  async insertKeys(rows: SealedKeyRow[]): Promise<string[]> {
    if (rows.length === 0) return []
    const inserted = await this.#session.query<{ kid: string }>(
      `copy ${rows.length} sealed signing key(s)`,
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, activates_at, retired_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::int8[], $6::int8[], $7::int8[])
       ON CONFLICT (kid) DO NOTHING RETURNING kid`,
      [
        rows.map((r) => r.kid),
        rows.map((r) => r.alg),
        rows.map((r) => r.public_jwk),
        rows.map((r) => r.sealed_private_key),
        rows.map((r) => r.created_at),
        rows.map((r) => r.activates_at),
        rows.map((r) => r.retired_at),
      ],
      { write: true, timeoutMs: BULK_TIMEOUT_MS },
    )
    return inserted.map((r) => r.kid)
  }

  async setMeta(meta: LogMeta): Promise<void> {
    await this.#session.query(
      'set the log metadata',
      `INSERT INTO log_meta (id, log_id, issuer, created_at) VALUES (1, $1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET log_id = EXCLUDED.log_id, issuer = EXCLUDED.issuer, created_at = EXCLUDED.created_at`,
      [meta.log_id, meta.issuer, meta.created_at],
      { write: true },
    )
  }
}
