import { incompatibility, MIGRATIONS } from '../migrations.js'
import { type SchemaState, StorageError } from '../ports.js'
import type { SqliteDatabase } from './connection.js'

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, min_binary TEXT NOT NULL, applied_at INTEGER NOT NULL
)`

export function readSchemaState(db: SqliteDatabase): SchemaState {
  if (!tableExists(db, 'schema_migrations')) {
    // keybroker 0.1 created its tables without recording a version
    return {
      version: tableExists(db, 'exchanges') || tableExists(db, 'signing_keys') ? 1 : 0,
      minBinary: '0.1.0',
    }
  }
  const row = db
    .prepare('SELECT version, min_binary FROM schema_migrations ORDER BY version DESC LIMIT 1')
    .get() as { version: number; min_binary: string } | undefined
  return row ? { version: row.version, minBinary: row.min_binary } : { version: 0, minBinary: '0.0.0' }
}

/**
 * Apply pending migrations, each in its own IMMEDIATE transaction (SQLite's write lock serializes
 * two processes; the loser re-reads the version inside its transaction and finds nothing to do).
 * Runs on the connection given: called before the writer thread starts, at open.
 */
export function migrateSqlite(db: SqliteDatabase, binaryVersion: string, now: number): number[] {
  const applied: number[] = []
  const state = readSchemaState(db)
  const refusal = incompatibility(state, binaryVersion)
  if (refusal) throw new StorageError('SCHEMA_TOO_NEW', refusal)
  for (const migration of MIGRATIONS) {
    const done = db
      .transaction(() => {
        const current = readSchemaState(db)
        if (!tableExists(db, 'schema_migrations')) {
          if (current.version >= migration.version) {
            recordLegacy(db, current.version, now)
            return false
          }
        } else if (
          // by presence, not by the newest version: a reserved number (3) that lands after 4 still runs
          db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version) !== undefined
        )
          return false
        db.exec(MIGRATIONS_TABLE)
        db.exec(migration.sqlite)
        db.prepare(
          'INSERT INTO schema_migrations (version, name, min_binary, applied_at) VALUES (?, ?, ?, ?)',
        ).run(migration.version, migration.name, migration.minBinary, now)
        return true
      })
      .immediate()
    if (done) applied.push(migration.version)
  }
  return applied
}

/** An unversioned 0.1 file: its tables are migration 1. */
function recordLegacy(db: SqliteDatabase, version: number, now: number): void {
  db.exec(MIGRATIONS_TABLE)
  const first = MIGRATIONS[0]!
  if (version >= 1) {
    db.exec(first.sqlite) // CREATE IF NOT EXISTS: fills in any 0.1 table that was never created
    db.prepare(
      'INSERT OR IGNORE INTO schema_migrations (version, name, min_binary, applied_at) VALUES (?, ?, ?, ?)',
    ).run(first.version, first.name, first.minBinary, now)
  }
}

export function tableExists(db: SqliteDatabase, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined
}
