import { randomUUID } from 'node:crypto'
import { GENESIS_HASH } from '../../audit/canonical.js'
import {
  type AuditPruner,
  type BulkImport,
  type ChainLeases,
  type ChainLink,
  type ChainStore,
  type CommitEffects,
  type CommitResult,
  type ExchangeRow,
  type KeyRows,
  type LogMeta,
  type MetaRows,
  type RevocationRow,
  type RevocationRows,
  type SealedKeyRow,
  StorageError,
  type StorageErrorCode,
  type SubjectBlockRow,
  type SubjectBlockRows,
  type UsageRows,
} from '../ports.js'
import type { SqliteDatabase } from './connection.js'
import type { WriteFailure, WriteJob } from './write_jobs.js'
import type { WriterThread } from './writer_thread.js'

type Statement = { sql: string; params?: unknown[] }

/** A rotation lock outlives a crashed holder by at most this long. */
const ROTATION_LOCK_LEASE_MS = 30_000
/** How long a rotation waits for another process's lock before giving up. */
const ROTATION_LOCK_WAIT_MS = 15_000

/**
 * Every SQLite write of the broker, each sent to the writer thread (never run on the main
 * thread). Reads that decide a write (lease holder, key list) also go through the thread inside
 * the same transaction where it matters.
 */
export class SqliteWrites {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly writer: WriterThread,
    private readonly now: () => number,
  ) {}

  async run(
    statements: Statement[],
    timeoutMs?: number,
  ): Promise<Array<{ changes: number; rows?: unknown[] }>> {
    return this.job({ kind: 'statements', statements }, timeoutMs)
  }

  async job(job: WriteJob, timeoutMs?: number): Promise<Array<{ changes: number; rows?: unknown[] }>> {
    const result = await this.writer.run(job, timeoutMs)
    if (result.ok) return result.results
    throw storageError(result.error)
  }

  readonly chains: ChainStore = {
    readHead: async (nodeId) => {
      const row = this.db.prepare('SELECT seq, hash FROM audit_heads WHERE node_id = ?').get(nodeId) as
        | ChainLink
        | undefined
      return row ?? { seq: 0, hash: GENESIS_HASH }
    },
    commit: async (
      nodeId: string,
      expected: ChainLink,
      rows: ExchangeRow[],
      timeoutMs: number,
      effects?: CommitEffects,
    ): Promise<CommitResult> => {
      if (!effects) {
        await this.job({ kind: 'commit', nodeId, expected, rows, now: this.now() }, timeoutMs)
        return {}
      }
      if (rows.length !== 1)
        throw new StorageError('INVALID', `a commit with effects carries exactly one row, not ${rows.length}`)
      const [result] = await this.job(
        { kind: 'commit_effects', nodeId, expected, rows, now: this.now(), effects },
        timeoutMs,
      )
      const remaining = (result?.rows?.[0] as { remaining: number | null } | undefined)?.remaining
      return typeof remaining === 'number' ? { remaining } : {}
    },
  }

  readonly usage: UsageRows = {
    remaining: async (tokenIds) => {
      const out = new Map<string, number>()
      const read = this.db.prepare<[string], { remaining: number }>(
        'SELECT remaining FROM usage_counters WHERE token_id = ?',
      )
      for (const id of tokenIds) {
        const row = read.get(id)
        if (row) out.set(id, row.remaining)
      }
      return out
    },
    pruneExpired: async (beforeSec) => {
      const [deleted] = await this.run([
        { sql: 'DELETE FROM usage_counters WHERE expires_at < ?', params: [beforeSec] },
      ])
      return deleted!.changes
    },
  }

  readonly blocks: SubjectBlockRows = {
    add: async (row: SubjectBlockRow) => {
      const [existed, _write] = await this.run([
        { sql: 'SELECT 1 FROM subject_blocks WHERE subject = ?', params: [row.subject] },
        {
          sql: `INSERT INTO subject_blocks (subject, reason, blocked_by, blocked_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (subject) DO UPDATE SET reason = excluded.reason, blocked_by = excluded.blocked_by`,
          params: [row.subject, row.reason, row.blocked_by, row.blocked_at],
        },
      ])
      return (existed!.rows ?? []).length === 0
    },
    remove: async (subject) => {
      const [deleted] = await this.run([
        { sql: 'DELETE FROM subject_blocks WHERE subject = ?', params: [subject] },
      ])
      return deleted!.changes > 0
    },
    list: async () =>
      this.db
        .prepare<[], SubjectBlockRow>(
          'SELECT subject, reason, blocked_by, blocked_at FROM subject_blocks ORDER BY subject',
        )
        .all(),
  }

  readonly pruner: AuditPruner = {
    prunePrefix: async (nodeId, checkpoint) => {
      const [deleted] = await this.run([
        { sql: 'DELETE FROM exchanges WHERE node_id = ? AND seq <= ?', params: [nodeId, checkpoint.seq] },
        {
          sql: `INSERT INTO audit_retention (node_id, seq, hash, pruned_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at`,
          params: [nodeId, checkpoint.seq, checkpoint.hash, this.now()],
        },
      ])
      return deleted!.changes
    },
  }

  readonly leases: ChainLeases = {
    acquire: async (nodeId, owner, ttlMs) => {
      const now = this.now()
      const [, taken] = await this.run([
        {
          sql: `INSERT INTO audit_heads (node_id, seq, hash, lease_owner, lease_until, created_at, updated_at)
                VALUES (?, 0, ?, NULL, NULL, ?, ?) ON CONFLICT (node_id) DO NOTHING`,
          params: [nodeId, GENESIS_HASH, now, now],
        },
        {
          sql: `UPDATE audit_heads SET lease_owner = ?, lease_until = ?
                WHERE node_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)`,
          params: [owner, now + ttlMs, nodeId, owner, now],
        },
      ])
      if (taken!.changes === 0)
        throw new StorageError(
          'LEASE_HELD',
          `node_id "${nodeId}" is held by another live keybroker process (its lease has not expired); give each process its own node_id`,
        )
    },
    renew: async (nodeId, owner, ttlMs) => {
      const [renewed] = await this.run([
        {
          sql: 'UPDATE audit_heads SET lease_until = ? WHERE node_id = ? AND lease_owner = ?',
          params: [this.now() + ttlMs, nodeId, owner],
        },
      ])
      if (renewed!.changes === 0)
        throw new StorageError('LEASE_LOST', `node_id "${nodeId}": the lease was taken by another process`)
    },
    release: async (nodeId, owner) => {
      await this.run([
        {
          sql: 'UPDATE audit_heads SET lease_owner = NULL, lease_until = NULL WHERE node_id = ? AND lease_owner = ?',
          params: [nodeId, owner],
        },
      ])
    },
  }

  readonly keys: KeyRows = {
    insert: async (row: SealedKeyRow) => {
      await this.run([
        {
          sql: `INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, activates_at, retired_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)`,
          params: [
            row.kid,
            row.alg,
            row.public_jwk,
            row.sealed_private_key,
            row.created_at,
            row.activates_at,
            row.retired_at,
          ],
        },
      ])
    },
    list: async () =>
      (
        this.db
          .prepare(
            'SELECT kid, alg, public_jwk, private_key, created_at, activates_at, retired_at FROM signing_keys ORDER BY activates_at, kid',
          )
          .all() as Array<Omit<SealedKeyRow, 'sealed_private_key'> & { private_key: Buffer }>
      ).map(({ private_key, ...rest }) => ({ ...rest, sealed_private_key: private_key })),
    delete: async (kid) => {
      await this.run([{ sql: 'DELETE FROM signing_keys WHERE kid = ?', params: [kid] }])
    },
    markRetired: async (kid, atMs) => {
      const [changed] = await this.run([
        {
          sql: 'UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL',
          params: [atMs, kid],
        },
      ])
      return changed!.changes > 0
    },
    // One SQLite file has one writer process at a time in practice; the in-process queue suffices.
    // In-process callers queue; across processes (the CLI, a second handle) a lease row in
    // `leaders` is the lock, taken through the writer thread and polled while another holds it.
    withRotationLock: (fn) => {
      const run = this.#rotation.then(
        () => this.#withLeaderRow('key-rotation', fn),
        () => this.#withLeaderRow('key-rotation', fn),
      )
      this.#rotation = run.then(
        () => undefined,
        () => undefined,
      )
      return run
    },
  }

  #rotation: Promise<unknown> = Promise.resolve()

  async #withLeaderRow<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const owner = randomUUID()
    const deadline = Date.now() + ROTATION_LOCK_WAIT_MS
    for (;;) {
      const now = this.now()
      const [taken] = await this.run([
        {
          sql: `INSERT INTO leaders (name, owner, lease_until) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
                WHERE leaders.lease_until < ?`,
          params: [name, owner, now + ROTATION_LOCK_LEASE_MS, now],
        },
      ])
      if (taken!.changes > 0) break
      if (Date.now() > deadline)
        throw new StorageError(
          'TIMEOUT',
          `another process has held the ${name} lock for over ${ROTATION_LOCK_WAIT_MS} ms`,
        )
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    try {
      return await fn()
    } finally {
      await this.run([
        { sql: 'DELETE FROM leaders WHERE name = ? AND owner = ?', params: [name, owner] },
      ]).catch(() => {})
    }
  }

  readonly bulk: BulkImport = sqliteBulk(this, () => this.now())

  readonly revocations: RevocationRows = {
    add: async (rows) => {
      if (rows.length === 0) return []
      const results = await this.run(
        rows.map((r) => ({
          sql: `INSERT INTO revocations (jti, subject, issuer, kid, reason, not_after, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING RETURNING seq`,
          params: [r.jti, r.subject, r.issuer, r.kid, r.reason, r.not_after, r.revoked_at],
        })),
      )
      const added: RevocationRow[] = []
      results.forEach((result, i) => {
        const seq = (result.rows?.[0] as { seq: number } | undefined)?.seq
        if (seq !== undefined) added.push({ ...rows[i]!, seq })
      })
      return added
    },
    since: async (afterSeq, nowSec) =>
      this.db
        .prepare<[number, number], RevocationRow>(
          'SELECT * FROM revocations WHERE seq > ? AND not_after >= ? ORDER BY seq',
        )
        .all(afterSeq, nowSec),
    pruneExpired: async (beforeSec) => {
      const [deleted] = await this.run([
        { sql: 'DELETE FROM revocations WHERE not_after < ?', params: [beforeSec] },
      ])
      return deleted!.changes
    },
  }

  readonly meta: MetaRows = {
    get: async () =>
      this.db.prepare('SELECT log_id, issuer, created_at FROM log_meta WHERE id = 1').get() as
        | LogMeta
        | undefined,
    init: async (meta) => {
      const [, read] = await this.run([
        {
          sql: 'INSERT INTO log_meta (id, log_id, issuer, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
          params: [meta.log_id, meta.issuer, meta.created_at],
        },
        { sql: 'SELECT log_id, issuer, created_at FROM log_meta WHERE id = 1' },
      ])
      return read!.rows![0] as LogMeta
    },
  }
}

/** A bulk batch may hold thousands of rows: its deadline is a minute, not the audit write timeout. */
const BULK_TIMEOUT_MS = 60_000

/** `storage copy` / `restore` writes: verbatim rows, one writer-thread transaction per call. */
function sqliteBulk(writes: SqliteWrites, now: () => number): BulkImport {
  return {
    createChain: async (nodeId, start, retention) => {
      const statements: Statement[] = [
        {
          sql: `INSERT INTO audit_heads (node_id, seq, hash, lease_owner, lease_until, created_at, updated_at)
                VALUES (?, ?, ?, NULL, NULL, ?, ?)`,
          params: [nodeId, start.seq, start.hash, now(), now()],
        },
      ]
      if (retention)
        statements.push({
          sql: 'INSERT INTO audit_retention (node_id, seq, hash, pruned_at) VALUES (?, ?, ?, ?)',
          params: [nodeId, retention.seq, retention.hash, retention.prunedAt],
        })
      await writes.run(statements, BULK_TIMEOUT_MS)
    },
    appendRows: async (nodeId, expected, rows) => {
      if (rows.length === 0) return
      // the commit job checks the head and inserts every column as given, in one IMMEDIATE transaction
      await writes.job({ kind: 'commit', nodeId, expected, rows, now: now() }, BULK_TIMEOUT_MS)
    },
    insertKeys: async (rows) => {
      if (rows.length === 0) return []
      const results = await writes.run(
        rows.map((row) => ({
          sql: `INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, activates_at, retired_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING RETURNING kid`,
          params: [
            row.kid,
            row.alg,
            row.public_jwk,
            row.sealed_private_key,
            row.created_at,
            row.activates_at,
            row.retired_at,
          ],
        })),
        BULK_TIMEOUT_MS,
      )
      return results.flatMap((r) => (r.rows as Array<{ kid: string }> | undefined)?.map((k) => k.kid) ?? [])
    },
    setMeta: async (meta) => {
      await writes.run([
        {
          sql: `INSERT INTO log_meta (id, log_id, issuer, created_at) VALUES (1, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET log_id = excluded.log_id, issuer = excluded.issuer, created_at = excluded.created_at`,
          params: [meta.log_id, meta.issuer, meta.created_at],
        },
      ])
    },
  }
}

export function storageError(failure: WriteFailure): StorageError {
  const code = failure.code
  let mapped: StorageErrorCode = 'UNAVAILABLE'
  let outcomeUnknown = false
  if (code === 'HEAD_MOVED') mapped = 'HEAD_MOVED'
  else if (code === 'BUDGET_EXHAUSTED') mapped = 'BUDGET_EXHAUSTED'
  else if (code.startsWith('SQLITE_CONSTRAINT')) mapped = 'DUPLICATE_ID'
  else if (code === 'SQLITE_FULL') mapped = 'FULL'
  else if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') mapped = 'CORRUPT'
  else if (code.startsWith('write not confirmed')) {
    mapped = 'TIMEOUT'
    outcomeUnknown = true
  } else if (code.startsWith('writer thread')) outcomeUnknown = true
  return new StorageError(mapped, `${code}: ${failure.message}`, {
    outcomeUnknown,
    ...(code.startsWith('SQLITE_') ? { driverCode: code } : {}),
  })
}
