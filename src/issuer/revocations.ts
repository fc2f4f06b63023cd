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

/**
 * Revoked token ids, persisted in SQLite and mirrored in memory so the check on every proxied
 * request or delegation is a Set lookup. Rows are kept until the token's `exp` (DESIGN.md).
 * Another process (the CLI) may add rows: `refresh()` picks them up.
 */
export class SqliteRevocationStore {
  private revoked = new Map<string, number>()

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
    for (const r of entries) this.revoked.set(r.jti, r.expiresAt)
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
    this.revoked = new Map(rows.map((r) => [r.jti, r.expires_at]))
  }
}
