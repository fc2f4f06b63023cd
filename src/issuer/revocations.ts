import type { Clock } from '../clock.js'
import type { RevocationRow, RevocationRows } from '../storage/ports.js'
import type { AccessTokenClaims } from './mint.js'

export interface Revocation {
  jti: string
  /** unix seconds: the token's own `exp`; the row is useless after it and is pruned. */
  expiresAt: number
  subject?: string
  /** the subject's issuer (a subject-wide revocation names it) */
  issuer?: string
  /** a retired signing key travels as a revocation with its kid */
  kid?: string
  reason?: string
}

/** One entry of the revocation feed (DESIGN.md "Revocations"). */
export interface RevocationEvent {
  /** feed position: replay resumes after it */
  seq: number
  tokenId: string
  subject?: string
  issuer?: string
  kid?: string
  /** unix seconds: the longest exp this revocation covers */
  notAfter: number
  reason?: string
}

export interface RevocationSubscription {
  /** Resolves once every live revocation after the cursor has been delivered. */
  ready: Promise<void>
  close(): void
}

/** Keep a minute past exp: verifiers may allow that much clock skew. */
const SKEW_SEC = 60

/**
 * The revocation list: persisted through the storage port and mirrored in memory, so the check on
 * every proxied request or delegation is a Map lookup. Entries are kept until the token's `exp`
 * (DESIGN.md). Other processes (the CLI, other replicas) add rows too: `refresh()` picks up
 * everything after the last feed position seen, and `subscribe()` is the one mechanism every
 * transport (the WatchRevocations stream, replica notifications) is built on.
 */
export class RevocationList {
  readonly #rows: RevocationRows
  readonly #clock: Clock
  readonly #revoked = new Map<string, RevocationEvent>()
  readonly #listeners = new Set<(event: RevocationEvent) => void>()
  #lastSeq = 0
  #refreshing: Promise<void> | undefined

  constructor(rows: RevocationRows, clock: Clock) {
    this.#rows = rows
    this.#clock = clock
  }

  /** Record revocations (durably, then in memory); returns how many were new. */
  async revoke(entries: Revocation[]): Promise<number> {
    const now = this.#clock.now()
    const added = await this.#rows.add(
      entries.map((r) => ({
        jti: r.jti,
        subject: r.subject ?? null,
        issuer: r.issuer ?? null,
        kid: r.kid ?? null,
        reason: r.reason ?? null,
        not_after: r.expiresAt,
        revoked_at: now,
      })),
    )
    // rows added concurrently by others may sit between these seqs: pick them up first
    await this.refresh()
    for (const row of added) this.#apply(row)
    return added.length
  }

  isRevoked(jti: string): boolean {
    return this.#revoked.has(jti)
  }

  /** A token is dead when it, or any token it was delegated from, is revoked. */
  isTokenRevoked(claims: Pick<AccessTokenClaims, 'jti' | 'kb_ancestors'>): boolean {
    if (this.#revoked.has(claims.jti)) return true
    return (claims.kb_ancestors ?? []).some((jti) => this.#revoked.has(jti))
  }

  /** Revocations whose token has not expired yet. */
  liveCount(): number {
    const nowSec = Math.floor(this.#clock.now() / 1000)
    let n = 0
    for (const event of this.#revoked.values()) if (event.notAfter >= nowSec) n++
    return n
  }

  /** The newest feed position applied. */
  get cursor(): number {
    return this.#lastSeq
  }

  /** Read rows added since the last refresh (by any process) and forget expired entries. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #refresh(): Promise<void> {
    const nowSec = Math.floor(this.#clock.now() / 1000)
    for (const row of await this.#rows.since(this.#lastSeq, nowSec - SKEW_SEC)) this.#apply(row)
    for (const [jti, event] of this.#revoked)
      if (event.notAfter < nowSec - SKEW_SEC) this.#revoked.delete(jti)
  }

  /** Delete expired rows from storage (maintenance timer). */
  pruneStored(): Promise<number> {
    return this.#rows.pruneExpired(Math.floor(this.#clock.now() / 1000) - SKEW_SEC)
  }

  /**
   * Deliver every live revocation after `cursor` (0 or undefined: all of them), then each new one
   * as it is applied, in feed order.
   */
  subscribe(cursor: number | undefined, onEvent: (event: RevocationEvent) => void): RevocationSubscription {
    let closed = false
    const listener = (event: RevocationEvent) => {
      if (!closed) onEvent(event)
    }
    const ready = this.refresh().then(() => {
      if (closed) return
      const replay = [...this.#revoked.values()]
        .filter((e) => e.seq > (cursor ?? 0))
        .sort((a, b) => a.seq - b.seq)
      for (const event of replay) listener(event)
      this.#listeners.add(listener)
    })
    return {
      ready,
      close: () => {
        closed = true
        this.#listeners.delete(listener)
      },
    }
  }

  #apply(row: RevocationRow): void {
    if (row.seq > this.#lastSeq) this.#lastSeq = row.seq
    if (this.#revoked.has(row.jti)) return
    const event: RevocationEvent = {
      seq: row.seq,
      tokenId: row.jti,
      notAfter: row.not_after,
      ...(row.subject ? { subject: row.subject } : {}),
      ...(row.issuer ? { issuer: row.issuer } : {}),
      ...(row.kid ? { kid: row.kid } : {}),
      ...(row.reason ? { reason: row.reason } : {}),
    }
    this.#revoked.set(row.jti, event)
    for (const listener of this.#listeners) listener(event)
  }
}
