/**
 * Numbered schema migrations, one list for both drivers (the SQL differs per dialect; the
 * version numbers, table names and meaning do not).
 *
 * Expand/contract: each migration declares `minBinary`, the oldest keybroker version that can
 * still run against the schema it produces. A binary refuses to start only when the database has
 * a migration it does not know AND that migration's minBinary is newer than the binary — so a
 * rolling upgrade (old and new replicas side by side) and a one-release rollback both work as
 * long as a migration only adds. Destructive changes (dropping a column or table) wait a release
 * and raise minBinary.
 *
 * Migration 1 is the schema of keybroker 0.1 (created by `CREATE TABLE IF NOT EXISTS` before
 * migrations existed; an unversioned 0.1 file is recognized and marked as version 1).
 * Migration 2 is canonical form v2: per-node chains (node_id, per-chain seq), the new columns
 * (run_id, tool_call_id, approval_id, trace_id, grant_name), heads with leases, per-chain
 * retention checkpoints, log metadata, and a feed order for revocations. 0.1 binaries know
 * nothing of migrations, so its minBinary is this release.
 * Migration 3 is agent guardrails: per-token usage budgets (`usage_counters`, spent in the same
 * transaction as the proxy's write-ahead audit row) and subject blocks (`revoke --block`). It only
 * adds tables, so 0.2.0 binaries still run against it.
 */
export interface Migration {
  version: number
  name: string
  minBinary: string
  sqlite: string
  postgres: string
}

/** The keybroker version of this binary (kept in step with package.json by a test). */
export const BINARY_VERSION = '0.2.0'

const SQLITE_V1 = `
CREATE TABLE IF NOT EXISTS exchanges (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT, auth_method TEXT, issuer TEXT, peer TEXT, cert_thumbprint TEXT, audience TEXT,
  scopes TEXT, ttl INTEGER, secret_name TEXT, route TEXT, decision TEXT NOT NULL, reason TEXT,
  token_id TEXT, expires_at INTEGER, latency_us INTEGER, detail TEXT,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL, pruned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY, alg TEXT NOT NULL, public_jwk TEXT NOT NULL, private_key BLOB NOT NULL,
  created_at INTEGER NOT NULL, activates_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
  jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, subject TEXT, reason TEXT, revoked_at INTEGER NOT NULL
);
`

/*
 * SQLite v2 rebuilds `exchanges` (its primary key changes from seq to (node_id, seq)); the rows of
 * the 0.1 log become the chain with node_id '' in form 1, unchanged, so they still verify.
 */
const SQLITE_V2 = `
CREATE TABLE exchanges_v2 (
  node_id TEXT NOT NULL, seq INTEGER NOT NULL, form INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, kind TEXT NOT NULL,
  subject TEXT, auth_method TEXT, issuer TEXT, peer TEXT, cert_thumbprint TEXT, audience TEXT,
  scopes TEXT, ttl INTEGER, secret_name TEXT, route TEXT, decision TEXT NOT NULL, reason TEXT,
  token_id TEXT, expires_at INTEGER, latency_us INTEGER, detail TEXT,
  run_id TEXT, tool_call_id TEXT, approval_id TEXT, trace_id TEXT, grant_name TEXT,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (node_id, seq)
);
INSERT INTO exchanges_v2 (node_id, seq, form, id, ts, kind, subject, auth_method, issuer, peer,
  cert_thumbprint, audience, scopes, ttl, secret_name, route, decision, reason, token_id, expires_at,
  latency_us, detail, prev_hash, hash)
SELECT '', seq, 1, id, ts, kind, subject, auth_method, issuer, peer, cert_thumbprint, audience, scopes,
  ttl, secret_name, route, decision, reason, token_id, expires_at, latency_us, detail, prev_hash, hash
FROM exchanges ORDER BY seq;
DROP TABLE exchanges;
ALTER TABLE exchanges_v2 RENAME TO exchanges;
CREATE INDEX exchanges_ts_id ON exchanges (ts, id);
CREATE INDEX exchanges_subject_ts ON exchanges (subject, ts);
CREATE INDEX exchanges_kind_ts ON exchanges (kind, ts);
CREATE INDEX exchanges_token_id ON exchanges (token_id);
CREATE INDEX exchanges_run_id ON exchanges (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX exchanges_peer_ts ON exchanges (peer, ts);

CREATE TABLE audit_heads (
  node_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
  lease_owner TEXT, lease_until INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
INSERT INTO audit_heads (node_id, seq, hash, created_at, updated_at)
  SELECT '', seq, hash, 0, 0 FROM audit_head WHERE id = 1;
CREATE TABLE audit_retention (node_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, pruned_at INTEGER NOT NULL);
INSERT INTO audit_retention (node_id, seq, hash, pruned_at)
  SELECT '', seq, hash, pruned_at FROM audit_checkpoint WHERE id = 1;

CREATE TABLE log_meta (id INTEGER PRIMARY KEY CHECK (id = 1), log_id TEXT NOT NULL, issuer TEXT NOT NULL, created_at INTEGER NOT NULL);

ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;

CREATE TABLE revocations_v2 (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL UNIQUE, subject TEXT, issuer TEXT, kid TEXT,
  reason TEXT, not_after INTEGER NOT NULL, revoked_at INTEGER NOT NULL
);
INSERT INTO revocations_v2 (jti, subject, reason, not_after, revoked_at)
  SELECT jti, subject, reason, expires_at, revoked_at FROM revocations ORDER BY revoked_at;
DROP TABLE revocations;
ALTER TABLE revocations_v2 RENAME TO revocations;
CREATE INDEX revocations_not_after ON revocations (not_after);
`

const POSTGRES_V1 = `
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY, alg TEXT NOT NULL, public_jwk TEXT NOT NULL, private_key BYTEA NOT NULL,
  created_at BIGINT NOT NULL, activates_at BIGINT NOT NULL
);
`

/*
 * PostgreSQL never ran 0.1, so its v2 creates the final shape directly. Indexed and compared text
 * columns are COLLATE "C" whatever the database's locale: byte order like SQLite's BINARY (the
 * (ts, id) page order is the same on both drivers), memcmp instead of strcoll on every index
 * insert, and a `subject LIKE 'prefix%'` that can use the subject index.
 */
const POSTGRES_V2 = `
CREATE TABLE exchanges (
  node_id TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, form SMALLINT NOT NULL,
  id TEXT COLLATE "C" NOT NULL UNIQUE, ts BIGINT NOT NULL, kind TEXT COLLATE "C" NOT NULL,
  subject TEXT COLLATE "C", auth_method TEXT, issuer TEXT, peer TEXT COLLATE "C", cert_thumbprint TEXT,
  audience TEXT COLLATE "C", scopes TEXT, ttl BIGINT, secret_name TEXT COLLATE "C", route TEXT COLLATE "C",
  decision TEXT COLLATE "C" NOT NULL, reason TEXT,
  token_id TEXT COLLATE "C", expires_at BIGINT, latency_us BIGINT, detail TEXT,
  run_id TEXT COLLATE "C", tool_call_id TEXT, approval_id TEXT, trace_id TEXT, grant_name TEXT,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (node_id, seq)
);
CREATE INDEX exchanges_ts_id ON exchanges (ts, id);
CREATE INDEX exchanges_subject_ts ON exchanges (subject, ts);
CREATE INDEX exchanges_kind_ts ON exchanges (kind, ts);
CREATE INDEX exchanges_token_id ON exchanges (token_id);
CREATE INDEX exchanges_run_id ON exchanges (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX exchanges_peer_ts ON exchanges (peer, ts);
CREATE TABLE audit_heads (
  node_id TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL,
  lease_owner TEXT, lease_until BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
);
CREATE TABLE audit_retention (node_id TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, pruned_at BIGINT NOT NULL);
CREATE TABLE log_meta (id INTEGER PRIMARY KEY CHECK (id = 1), log_id TEXT NOT NULL, issuer TEXT NOT NULL, created_at BIGINT NOT NULL);
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
CREATE TABLE revocations (
  seq BIGSERIAL PRIMARY KEY, jti TEXT COLLATE "C" NOT NULL UNIQUE, subject TEXT, issuer TEXT, kid TEXT,
  reason TEXT, not_after BIGINT NOT NULL, revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_not_after ON revocations (not_after);
`

/*
 * Migration 4: human approvals and the alert outbox. `approvals` holds each frozen request waiting
 * for a person (never a credential); `alert_outbox` one row per (alert, sink) until delivered;
 * `alert_state` the rule evaluator's resume cursor and `leaders` the lease naming the one replica
 * that evaluates rules. Identical SQL on both dialects but for integer widths.
 */
const V4 = (int: string) => `
CREATE TABLE approvals (
  id TEXT PRIMARY KEY, subject TEXT NOT NULL, issuer TEXT NOT NULL, auth_method TEXT NOT NULL,
  request_key TEXT NOT NULL, request TEXT NOT NULL, kind TEXT NOT NULL, grant_name TEXT,
  state TEXT NOT NULL, approver TEXT, reason TEXT, cert_thumbprint TEXT,
  created_at ${int} NOT NULL, expires_at ${int} NOT NULL, decided_at ${int}
);
CREATE INDEX approvals_requester ON approvals (subject, issuer, state);
CREATE INDEX approvals_state_expires ON approvals (state, expires_at);
CREATE INDEX approvals_created ON approvals (created_at);
CREATE TABLE alert_outbox (
  id TEXT NOT NULL, sink TEXT NOT NULL, rule TEXT NOT NULL, subject TEXT, body TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at ${int} NOT NULL, last_error TEXT,
  created_at ${int} NOT NULL, delivered_at ${int},
  PRIMARY KEY (id, sink)
);
CREATE INDEX alert_outbox_due ON alert_outbox (state, next_attempt_at);
CREATE INDEX alert_outbox_created ON alert_outbox (created_at);
CREATE TABLE alert_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE leaders (name TEXT PRIMARY KEY, owner TEXT NOT NULL, lease_until ${int} NOT NULL);
`

/* Guardrails: budgets of proxy tokens (one row per budgeted token, created with its issue row) and
 * subjects refused new tokens until unblocked. Same shape on both dialects. */
const GUARDRAILS_SQLITE = `
CREATE TABLE usage_counters (token_id TEXT PRIMARY KEY, remaining INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX usage_counters_expires_at ON usage_counters (expires_at);
CREATE TABLE subject_blocks (subject TEXT PRIMARY KEY, reason TEXT, blocked_by TEXT, blocked_at INTEGER NOT NULL);
`
const GUARDRAILS_POSTGRES = `
CREATE TABLE usage_counters (token_id TEXT PRIMARY KEY, remaining BIGINT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX usage_counters_expires_at ON usage_counters (expires_at);
CREATE TABLE subject_blocks (subject TEXT PRIMARY KEY, reason TEXT, blocked_by TEXT, blocked_at BIGINT NOT NULL);
`

/*
 * Migration 6 (cluster): the replica table (policy hash + heartbeat, compared by every replica),
 * and NOTIFY from the committing transaction of a revocation, an audit append or a key change, so
 * replicas wake at once instead of waiting for their poll. Statement-level triggers: one
 * notification per commit statement, not per row (a group commit of 100 rows is one NOTIFY).
 * SQLite has one host and no NOTIFY: only the table, so both dialects share the schema.
 */
const SQLITE_V6 = `
CREATE TABLE cluster_nodes (
  node_id TEXT PRIMARY KEY, policy_hash TEXT NOT NULL, version TEXT NOT NULL,
  started_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL
);
`

const POSTGRES_V6 = `
CREATE TABLE cluster_nodes (
  node_id TEXT COLLATE "C" PRIMARY KEY, policy_hash TEXT NOT NULL, version TEXT NOT NULL,
  started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL
);
CREATE FUNCTION kb_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$$;
CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
  FOR EACH STATEMENT EXECUTE FUNCTION kb_notify('kb_revocation');
CREATE TRIGGER exchanges_notify AFTER INSERT ON exchanges
  FOR EACH STATEMENT EXECUTE FUNCTION kb_notify('kb_append');
CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION kb_notify('kb_keys');
`

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'keybroker 0.1 schema', minBinary: '0.1.0', sqlite: SQLITE_V1, postgres: POSTGRES_V1 },
  {
    version: 2,
    name: 'canonical form v2: per-node chains, task/approval/trace columns, leases, log meta',
    minBinary: '0.2.0',
    sqlite: SQLITE_V2,
    postgres: POSTGRES_V2,
  },
  {
    version: 3,
    name: 'guardrails: usage counters, subject blocks',
    minBinary: '0.2.0',
    sqlite: GUARDRAILS_SQLITE,
    postgres: GUARDRAILS_POSTGRES,
  },
  {
    version: 4,
    name: 'approvals, alert outbox, rule-evaluator state and leader lease',
    minBinary: '0.2.0',
    sqlite: V4('INTEGER'),
    postgres: V4('BIGINT'),
  },
  {
    version: 6,
    name: 'cluster: replica heartbeats and policy hashes, NOTIFY on revocations, appends and keys',
    minBinary: '0.2.0',
    sqlite: SQLITE_V6,
    postgres: POSTGRES_V6,
  },
]

/** -1, 0, 1 as a < b, a = b, a > b, for dotted numeric versions ("0.10.0" > "0.9.3"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

/**
 * Why this binary may not run against a database at `state`, or undefined when it may.
 * Only a migration this binary does not know, whose minBinary is newer than the binary, refuses.
 */
export function incompatibility(
  state: { version: number; minBinary: string },
  binaryVersion = BINARY_VERSION,
): string | undefined {
  const known = MIGRATIONS[MIGRATIONS.length - 1]!.version
  if (state.version <= known) return undefined
  if (compareVersions(state.minBinary, binaryVersion) <= 0) return undefined
  return `the database schema is at version ${state.version} and needs keybroker ${state.minBinary} or newer; this binary is ${binaryVersion} (knows schema version ${known}). Upgrade the binary, or restore a backup taken before the upgrade`
}
