import { type KeyRows, type SealedKeyRow, StorageError } from '../ports.js'
import { LOCKS, lockArgs } from './advisory_locks.js'
import { toStorageError } from './errors.js'
import { bounded, type PgSession } from './session.js'

interface KeyRecord {
  kid: string
  alg: string
  public_jwk: string
  private_key: Buffer
  created_at: number
  activates_at: number
  retired_at: number | null
}

/** Sealed signing keys on PostgreSQL (the private key stays sealed: bytea in, Buffer out). */
export class PgKeyRows implements KeyRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async insert(row: SealedKeyRow): Promise<void> {
    try {
      await this.#session.query(
        `store signing key ${row.kid}`,
        `INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, activates_at, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          row.kid,
          row.alg,
          row.public_jwk,
          row.sealed_private_key,
          row.created_at,
          row.activates_at,
          row.retired_at,
        ],
        { write: true },
      )
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === '23505')
        throw new StorageError('INVALID', `a signing key with kid ${row.kid} already exists`, { cause: err })
      throw err
    }
  }

  async list(): Promise<SealedKeyRow[]> {
    const rows = await this.#session.query<KeyRecord>(
      'read the signing keys',
      `SELECT kid, alg, public_jwk, private_key, created_at, activates_at, retired_at
         FROM signing_keys ORDER BY activates_at, kid`,
    )
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      public_jwk: r.public_jwk,
      sealed_private_key: r.private_key,
      created_at: r.created_at,
      activates_at: r.activates_at,
      retired_at: r.retired_at,
    }))
  }

  async delete(kid: string): Promise<void> {
    await this.#session.query(`delete signing key ${kid}`, 'DELETE FROM signing_keys WHERE kid = $1', [kid], {
      write: true,
    })
  }

  async markRetired(kid: string, atMs: number): Promise<boolean> {
    const rows = await this.#session.query(
      `retire signing key ${kid}`,
      'UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL RETURNING 1',
      [kid, atMs],
      { write: true },
    )
    return rows.length === 1
  }

  /**
   * A session advisory lock on a connection of its own: `fn` uses the pool meanwhile, so holding
   * a pooled connection here could starve it (pool_size 1 would deadlock). Waiting for another
   * replica's rotation is bounded by statement_timeout. Ending that connection frees the lock,
   * also when this process dies half-way.
   */
  async withRotationLock<T>(fn: () => Promise<T>): Promise<T> {
    const what = 'take the key-rotation lock (another replica may be rotating)'
    const client = await this.#session.dedicated(what)
    try {
      const deadline = Date.now() + this.#session.defaultTimeoutMs
      const lock = `SELECT pg_advisory_lock(${lockArgs(LOCKS.keyRotation)})`
      await bounded(client, lock, undefined, undefined, deadline).catch((err) => {
        throw toStorageError(err, { target: this.#session.target, what, phase: 'query' })
      })
      return await fn()
    } finally {
      await client.end().catch(() => {})
    }
  }
}
