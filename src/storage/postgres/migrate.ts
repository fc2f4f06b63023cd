import type pg from 'pg'
import { incompatibility, MIGRATIONS } from '../migrations.js'
import { type SchemaState, StorageError } from '../ports.js'
import { LOCKS, lockArgs } from './advisory_locks.js'
import { toStorageError } from './errors.js'
import type { PgSession } from './session.js'

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, min_binary TEXT NOT NULL, applied_at BIGINT NOT NULL
)`
/** How long a process waits for another one's migration before giving up. */
const LOCK_WAIT_MS = 10 * 60_000
const LOCK_POLL_MS = 100
/**
 * A migration's DDL may wait for table locks that live brokers hold; while it waits, every
 * new statement on that table queues behind it. Give up after this instead of stalling the fleet.
 */
const DDL_LOCK_TIMEOUT_MS = 10_000

/** The newest migration applied (version 0 and min binary 0.0.0 for an empty database). */
export async function readSchema(session: PgSession): Promise<SchemaState> {
  const [present] = await session.query<{ present: boolean }>(
    'read the schema version',
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
  )
  if (!present?.present) return { version: 0, minBinary: '0.0.0' }
  const [row] = await session.query<{ version: number; min_binary: string }>(
    'read the schema version',
    'SELECT version, min_binary FROM schema_migrations ORDER BY version DESC LIMIT 1',
  )
  return row ? { version: row.version, minBinary: row.min_binary } : { version: 0, minBinary: '0.0.0' }
}

/**
 * Apply pending migrations, each in its own transaction, under a session advisory lock on a
 * dedicated connection: of two processes migrating an empty database at once, one migrates and
 * the other waits, then finds nothing to do. Refuses (SCHEMA_TOO_NEW) a database that needs a
 * newer binary, before changing anything.
 */
export async function runMigrations(session: PgSession, binaryVersion: string): Promise<number[]> {
  // No statement_timeout here: building an index on a large table may take minutes.
  const client = await session.dedicated('migrate the schema', {
    statement_timeout: 0,
    lock_timeout: DDL_LOCK_TIMEOUT_MS,
  })
  let step = 'take the migration lock'
  try {
    await waitForLock(client)
    step = 'read the applied migrations'
    await client.query(CREATE_TABLE)
    const applied = await client.query<{ version: number; min_binary: string }>(
      'SELECT version, min_binary FROM schema_migrations ORDER BY version',
    )
    const newest = applied.rows[applied.rows.length - 1]
    const state = newest
      ? { version: newest.version, minBinary: newest.min_binary }
      : { version: 0, minBinary: '0.0.0' }
    const refusal = incompatibility(state, binaryVersion)
    if (refusal)
      throw new StorageError('SCHEMA_TOO_NEW', `PostgreSQL at ${session.target.endpoint}: ${refusal}`)
    const done = new Set(applied.rows.map((r) => r.version))
    const ran: number[] = []
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue
      step = `apply migration ${migration.version} (${migration.name})`
      await client.query('BEGIN')
      try {
        await client.query(migration.postgres)
        await client.query(
          'INSERT INTO schema_migrations (version, name, min_binary, applied_at) VALUES ($1, $2, $3, $4)',
          [migration.version, migration.name, migration.minBinary, Date.now()],
        )
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      }
      ran.push(migration.version)
    }
    return ran
  } catch (err) {
    throw toStorageError(err, { target: session.target, what: step, phase: 'query', write: true })
  } finally {
    // Ending the session frees the advisory lock even if the unlock is never sent.
    await client.end().catch(() => {})
  }
}

async function waitForLock(client: pg.Client): Promise<void> {
  const until = Date.now() + LOCK_WAIT_MS
  for (;;) {
    const { rows } = await client.query<{ got: boolean }>(
      `SELECT pg_try_advisory_lock(${lockArgs(LOCKS.migrations)}) AS got`,
    )
    if (rows[0]?.got) return
    if (Date.now() > until)
      throw new StorageError(
        'TIMEOUT',
        `another process has been migrating this database for over ${LOCK_WAIT_MS / 60_000} minutes (it holds the migration lock; see pg_locks where locktype = 'advisory'); retry when it has finished`,
      )
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
  }
}
