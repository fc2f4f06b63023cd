import type { SqliteDatabase } from '../../storage/database.js'

/**
 * The audit module's own tables (the same file holds signing_keys and revocations).
 *
 * - `exchanges`: the hash chain, ordered by `seq`.
 * - `audit_head` (one row): seq and hash of the newest row, written in the same transaction as
 *   every batch, so removing rows from the end of the log is detected.
 * - `audit_checkpoint` (one row, only after retention ran): rows with seq <= `seq` were pruned;
 *   the first remaining row must follow it (seq + 1) and its prev_hash must equal `hash`.
 *
 * The chain proves that rows were not edited, removed or reordered by someone who cannot also
 * rewrite every later row and the head; anchoring the head elsewhere is what closes that gap.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS exchanges (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT,
  auth_method TEXT,
  issuer TEXT,
  peer TEXT,
  cert_thumbprint TEXT,
  audience TEXT,
  scopes TEXT,
  ttl INTEGER,
  secret_name TEXT,
  route TEXT,
  decision TEXT NOT NULL,
  reason TEXT,
  token_id TEXT,
  expires_at INTEGER,
  latency_us INTEGER,
  detail TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_subject_seq ON exchanges (subject, seq);
CREATE INDEX IF NOT EXISTS exchanges_kind_seq ON exchanges (kind, seq);
CREATE INDEX IF NOT EXISTS exchanges_ts ON exchanges (ts);
CREATE INDEX IF NOT EXISTS exchanges_token_id ON exchanges (token_id);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  pruned_at INTEGER NOT NULL
);
`

export function ensureAuditSchema(db: SqliteDatabase): void {
  db.exec(SCHEMA)
}

export interface ChainLink {
  seq: number
  hash: string
}

export function tableExists(db: SqliteDatabase, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined
}
