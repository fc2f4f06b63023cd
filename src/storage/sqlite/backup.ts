/**
 * SQLite-only file operations behind `keybroker storage backup` and `restore`: the online backup
 * API, a read-only look at a database file, and swapping a prepared file in for the live one.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { type ChainHead, type LogMeta, type Storage, StorageError } from '../ports.js'
import { openDatabase } from './connection.js'
import { sqliteHandle } from './index.js'
import { readSchemaState } from './migrate.js'

/**
 * Write a consistent copy of `storage`'s database to `toPath` with SQLite's online backup API
 * (writers may keep committing meanwhile). The file is created 0600 and must not exist yet.
 *
 * @example
 * await backupSqlite(storage, '/backups/keybroker-2024-06-01.db')
 */
export async function backupSqlite(storage: Storage, toPath: string): Promise<{ totalPages: number }> {
  const db = sqliteHandle(storage)
  if (!db)
    throw new StorageError('INVALID', `backup: ${storage.location} is not a SQLite database; use pg_dump`)
  try {
    closeSync(openSync(toPath, 'wx', 0o600)) // refuses an existing file; the backup keeps this mode
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new StorageError(
      'INVALID',
      code === 'EEXIST'
        ? `backup: ${toPath} already exists; choose a new file (a backup never overwrites one)`
        : `backup: cannot create ${toPath}: ${code ?? (err as Error).message}`,
    )
  }
  try {
    const { totalPages } = await db.backup(toPath)
    return { totalPages }
  } catch (err) {
    rmSync(toPath, { force: true })
    throw new StorageError('UNAVAILABLE', `backup to ${toPath} failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** What a restore needs to know about a database file, read without writing it. */
export interface SqliteFileState {
  path: string
  schemaVersion: number
  meta: LogMeta | undefined
  heads: ChainHead[]
  rows: number
  /** Chains whose lease has not expired: a live process still writes this file. */
  liveLeases: Array<{ nodeId: string; owner: string; untilMs: number }>
}

/**
 * Open `path` read-only and describe it. With `check`, run `PRAGMA quick_check` first (a backup
 * about to become the live database must be whole). Throws StorageError INVALID/CORRUPT with the
 * path when it is not a keybroker database.
 */
export function inspectSqliteFile(
  path: string,
  options: { check?: boolean; nowMs?: number } = {},
): SqliteFileState {
  let db: Database.Database
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
  } catch (err) {
    throw new StorageError('INVALID', `${path}: cannot open: ${(err as Error).message}`, { cause: err })
  }
  try {
    if (options.check) {
      const result = db.pragma('quick_check', { simple: true })
      if (result !== 'ok')
        throw new StorageError('CORRUPT', `${path}: integrity check failed: ${String(result)}`)
    }
    const schema = readSchemaState(db)
    if (schema.version < 2)
      throw new StorageError(
        'INVALID',
        schema.version === 0
          ? `${path} is not a keybroker database (no keybroker tables)`
          : `${path} is at schema version ${schema.version}; start keybroker (or run keybroker storage migrate) on it once, then back it up again`,
      )
    const now = options.nowMs ?? Date.now()
    return {
      path,
      schemaVersion: schema.version,
      meta: db.prepare('SELECT log_id, issuer, created_at FROM log_meta WHERE id = 1').get() as
        | LogMeta
        | undefined,
      heads: db
        .prepare('SELECT node_id AS nodeId, seq, hash FROM audit_heads ORDER BY created_at, node_id')
        .all() as ChainHead[],
      rows: (db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n,
      liveLeases: db
        .prepare(
          'SELECT node_id AS nodeId, lease_owner AS owner, lease_until AS untilMs FROM audit_heads WHERE lease_owner IS NOT NULL AND lease_until > ?',
        )
        .all(now) as Array<{ nodeId: string; owner: string; untilMs: number }>,
    }
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw new StorageError(
      'INVALID',
      `${path}: not a readable keybroker database: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  } finally {
    db.close()
  }
}

/**
 * Copy the database file `fromPath` to a new file `toPath` (0600) with the backup API, so the
 * result is a plain file with no WAL to carry along.
 */
export async function cloneSqliteFile(fromPath: string, toPath: string): Promise<void> {
  const db = new Database(fromPath, { readonly: true, fileMustExist: true })
  try {
    closeSync(openSync(toPath, 'wx', 0o600))
    await db.backup(toPath)
  } finally {
    db.close()
  }
}

/**
 * Make `preparedPath` the live database at `livePath`, atomically (one rename). The live file is
 * first checkpointed and closed so no stale `-wal` could be replayed onto the new file; its -wal
 * and -shm are then removed. No process may hold the live file open (the caller checked leases).
 */
export function replaceSqliteFile(preparedPath: string, livePath: string): void {
  // Fold the prepared file's WAL into it and leave WAL mode, so the one file holds everything.
  const prepared = openDatabase(preparedPath)
  try {
    prepared.pragma('wal_checkpoint(TRUNCATE)')
    prepared.pragma('journal_mode = DELETE')
  } finally {
    prepared.close()
  }
  if (existsSync(livePath)) {
    const live = openDatabase(livePath)
    try {
      live.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      live.close()
    }
  }
  // the live file's journal belongs to the file being replaced: never let it replay onto the new one
  for (const suffix of ['-wal', '-shm']) rmSync(`${livePath}${suffix}`, { force: true })
  renameSync(preparedPath, livePath)
  // make the rename itself durable
  const dir = openSync(dirname(livePath), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
