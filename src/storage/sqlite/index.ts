import { resolve as resolvePath } from 'node:path'
import { BINARY_VERSION } from '../migrations.js'
import type { SqliteStorageOptions } from '../options.js'
import { type SchemaState, type Storage, StorageError } from '../ports.js'
import { SqliteAlertOutbox, SqliteApprovalRows } from './approvals_alerts.js'
import { openDatabase } from './connection.js'
import { ALLOCATION_PROBE } from './integrity.js'
import { migrateSqlite, readSchemaState } from './migrate.js'
import { SqliteAuditReader } from './reader.js'
import { SqliteUsageReports } from './usage.js'
import { WriterThread } from './writer_thread.js'
import { SqliteWrites, storageError } from './writes.js'

export { openDatabase, type SqliteDatabase } from './connection.js'

/**
 * The embedded driver: one SQLite file in WAL mode with synchronous=FULL. Reads use a connection
 * on the caller's thread; every write goes to the writer thread (its own connection), so a
 * locked or slow disk never blocks the event loop.
 *
 * @example
 * const storage = await openSqliteStorage({ driver: 'sqlite', path: './data/keybroker.db', busyTimeoutMs: 2000 })
 * await storage.migrate(BINARY_VERSION)
 */
export async function openSqliteStorage(options: SqliteStorageOptions): Promise<Storage> {
  let db: ReturnType<typeof openDatabase>
  try {
    db = openDatabase(options.path, { busyTimeoutMs: options.busyTimeoutMs, readonly: options.readonly })
  } catch (err) {
    throw new StorageError('UNAVAILABLE', `cannot open ${options.path}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const writer = new WriterThread({ path: resolvePath(options.path), writeTimeoutMs: options.busyTimeoutMs })
  const writes = new SqliteWrites(db, writer, Date.now)
  const reader = new SqliteAuditReader(db)
  return {
    driver: 'sqlite',
    location: options.path,
    chains: writes.chains,
    reader,
    pruner: writes.pruner,
    leases: writes.leases,
    keys: writes.keys,
    revocations: writes.revocations,
    meta: writes.meta,
    approvals: new SqliteApprovalRows(db, writes),
    alerts: new SqliteAlertOutbox(db, writes),

    usage: writes.usage,
    blocks: writes.blocks,

    bulk: writes.bulk,
    reports: new SqliteUsageReports(db),
    async schema(): Promise<SchemaState> {
      return readSchemaState(db)
    },
    async migrate(binaryVersion = BINARY_VERSION): Promise<number[]> {
      // Migrations run before any append (at start or by `keybroker storage migrate`), on the
      // main connection: nothing else is waiting on this thread yet.
      try {
        return migrateSqlite(db, binaryVersion, Date.now())
      } catch (err) {
        if (err instanceof StorageError) throw err
        throw storageError({
          code: (err as { code?: string }).code ?? 'error',
          message: (err as Error).message,
        })
      }
    },
    async ping(timeoutMs: number, pingOptions?: { allocate?: boolean }): Promise<void> {
      // a real write lock round trip through the writer thread: a locked file fails here, and
      // with `allocate` a full one too
      await writes.run(pingOptions?.allocate ? ALLOCATION_PROBE : [{ sql: 'SELECT 1' }], timeoutMs)
    },
    async close(): Promise<void> {
      await writer.close()
      if (db.open) db.close()
    },
    // not part of the port: the SQLite-only operations (backup, integrity) reach it through sqliteHandle()
    ...({ [SQLITE_HANDLE]: db, [SQLITE_WRITES]: writes } as object),
  } as Storage
}

const SQLITE_HANDLE = Symbol.for('keybroker.sqlite.handle')
const SQLITE_WRITES = Symbol.for('keybroker.sqlite.writes')

/**
 * Test hook: run statements on the writer thread's own connection (per-connection settings such
 * as `PRAGMA max_page_count`, which fakes a full disk with a real SQLITE_FULL).
 */
export async function sqliteWriterStatements(
  storage: Storage,
  statements: Array<{ sql: string; params?: unknown[] }>,
): Promise<Array<{ changes: number; rows?: unknown[] }>> {
  const writes = (storage as unknown as Record<symbol, SqliteWrites | undefined>)[SQLITE_WRITES]
  if (!writes) throw new Error('not a SQLite storage')
  return writes.run(statements)
}

/** The main connection of a SQLite storage (backup, quick_check, test hooks); undefined for other drivers. */
export function sqliteHandle(storage: Storage): ReturnType<typeof openDatabase> | undefined {
  return (storage as unknown as Record<symbol, ReturnType<typeof openDatabase> | undefined>)[SQLITE_HANDLE]
}
