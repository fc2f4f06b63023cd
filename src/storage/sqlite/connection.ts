import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

export type SqliteDatabase = Database.Database

export interface OpenDatabaseOptions {
  /** How long a write waits on a lock before failing (bounds a stuck disk or a foreign lock). */
  busyTimeoutMs?: number
  readonly?: boolean
}

/**
 * Open the broker's one SQLite file (audit rows, signing keys, revocations) in WAL mode
 * with synchronous=FULL, so a committed transaction survives power loss before we reply.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  if (!options.readonly && path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    // Create the file 0600 before SQLite does (it would use 0644); SQLite gives the -wal and -shm
    // files it creates the database file's mode, so they are 0600 too. An existing file keeps its mode.
    closeSync(openSync(path, 'a', 0o600))
  }
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
  })
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 2000}`)
  if (!options.readonly) {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
  }
  return db
}
