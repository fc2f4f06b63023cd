import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { SqliteDatabase } from '../storage/database.js'
import type { AccessTokenClaims } from './mint.js'

export interface Revocation {
  jti: string
  /** unix seconds: the token's own `exp`; the row is useless after it and is pruned. */
  expiresAt: number
  subject?: string
  reason?: string
}

/** One revocation as the feed sees it: `seq` grows by one per new revocation in this process. */
export interface RevocationLogEntry {
  seq: number
  jti: string
  expiresAt: number
}

/**
 * Revoked token ids, persisted in SQLite and mirrored in memory so the check on every proxied
 * request or delegation is a Set lookup. Rows are kept until the token's `exp` (DESIGN.md).
 * Another process (the CLI) may add rows: `refresh()` picks them up.
 */
export class SqliteRevocationStore {
  private revoked = new Map<string, number>()
  // Feed hook (WatchRevocations; the storage rewrite replaces it with RevocationList.subscribe):
  // every revocation this process learns of, in order, until its token expires.
  /** Names this process's `seq` numbering: a cursor from another process or run is not comparable. */
  readonly epoch = randomBytes(6).toString('base64url')
  private log: RevocationLogEntry[] = []
  private nextSeq = 1
  private readonly listeners = new Set<(entry: RevocationLogEntry) => void>()

  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS revocations (
      jti TEXT PRIMARY KEY,
      expires_at INTEGER NOT NULL,
      subject TEXT,
      reason TEXT,
      revoked_at INTEGER NOT NULL
    )`)
    this.refresh()
  }

  /** Record revocations; returns how many were new. */
  revoke(entries: Revocation[]): number {
    const insert = this.db.prepare(
      'INSERT OR IGNORE INTO revocations (jti, expires_at, subject, reason, revoked_at) VALUES (?, ?, ?, ?, ?)',
    )
    const now = this.clock.now()
    const added = this.db.transaction((rows: Revocation[]) => {
      let n = 0
      for (const r of rows)
        n += insert.run(r.jti, r.expiresAt, r.subject ?? null, r.reason ?? null, now).changes
      return n
    })(entries)
    for (const r of entries) {
      if (!this.revoked.has(r.jti)) this.logRevocation(r.jti, r.expiresAt)
      this.revoked.set(r.jti, r.expiresAt)
    }
    return added
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti)
  }

  /** A token is dead when it, or any token it was delegated from, is revoked. */
  isTokenRevoked(claims: Pick<AccessTokenClaims, 'jti' | 'kb_ancestors'>): boolean {
    if (this.revoked.has(claims.jti)) return true
    return (claims.kb_ancestors ?? []).some((jti) => this.revoked.has(jti))
  }

  /** Revocations whose token has not expired yet. */
  liveCount(): number {
    const nowSec = Math.floor(this.clock.now() / 1000)
    let n = 0
    for (const exp of this.revoked.values()) if (exp >= nowSec) n++
    return n
  }

  /** Re-read the table (rows added by another process) and forget expired entries. */
  refresh(): void {
    const nowSec = Math.floor(this.clock.now() / 1000)
    // Keep a minute past exp: verifiers may allow that much clock skew.
    this.db.prepare('DELETE FROM revocations WHERE expires_at < ?').run(nowSec - 60)
    const rows = this.db.prepare('SELECT jti, expires_at FROM revocations').all() as Array<{
      jti: string
      expires_at: number
    }>
    const previous = this.revoked
    this.revoked = new Map(rows.map((r) => [r.jti, r.expires_at]))
    for (const [jti, expiresAt] of this.revoked) if (!previous.has(jti)) this.logRevocation(jti, expiresAt)
    this.log = this.log.filter((e) => this.revoked.has(e.jti))
  }

  /** Revocations after `seq` still in force, oldest first (0: all of them). */
  entriesAfter(seq: number): RevocationLogEntry[] {
    return this.log.filter((e) => e.seq > seq)
  }

  /** Called for each new revocation (revoke(), or a row another process added, seen by refresh()). */
  onRevocation(listener: (entry: RevocationLogEntry) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private logRevocation(jti: string, expiresAt: number): void {
    const entry = { seq: this.nextSeq++, jti, expiresAt }
    this.log.push(entry)
    for (const listener of this.listeners) {
      try {
        listener(entry)
      } catch {
        // a watcher's failure must never undo or stall a revocation; the feed drops that watcher itself
      }
    }
  }
}
