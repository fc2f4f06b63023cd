/**
 * A token as the SDK hands it out (frozen: the same object may go to many callers).
 *
 * @example
 * ```ts
 * const { token, expiresAt, tokenId }: BrokerToken = await broker.token({ audience: 'search-api' })
 * ```
 */
export interface BrokerToken {
  /** The signed JWT, to send as `Authorization: Bearer <token>`. */
  readonly token: string
  /** Unix seconds. */
  readonly expiresAt: number
  /** The scopes actually granted (all the grant allows when none were asked for). */
  readonly scopes: readonly string[]
  readonly audience: string
  /** The token's `jti`: what an operator revokes. */
  readonly tokenId: string
  /** Id of the broker's audit row for this exchange. */
  readonly exchangeId: string
  /** Proxy requests this token may make (its `max_uses` budget after the grant's cap); 0 = unlimited. */
  readonly maxUses?: number
}

interface Entry {
  current?: BrokerToken
  /** Local time (ms) the current token arrived: its lifetime is measured from here. */
  obtainedAt: number
  inflight?: Promise<BrokerToken>
  timer?: NodeJS.Timeout
  /** Read since the last refresh; an entry nobody reads is left to expire, not refreshed forever. */
  used: boolean
}

export interface TokenCacheOptions {
  now: () => number
  /** Told about background refresh failures (callers are not: they still hold a valid token). */
  onError: (err: unknown) => void
}

/** Refresh when about 80% of the lifetime has passed, ±5% so a fleet does not refresh in step. */
const REFRESH_AT = 0.8
const REFRESH_JITTER = 0.05
/** A token with less than this share of its life (at most 5 s) left is treated as already expired. */
const EXPIRY_MARGIN = 0.1
const MAX_EXPIRY_MARGIN_MS = 5_000
const MIN_RETRY_MS = 1_000

/**
 * Tokens by key, each fetched once however many callers ask at the same time (single flight),
 * refreshed in the background before expiry so callers almost never wait, and never handed out
 * once expired.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>()
  private closed = false

  constructor(private readonly options: TokenCacheOptions) {}

  get(key: string, fetch: () => Promise<BrokerToken>): Promise<BrokerToken> {
    let entry = this.entries.get(key)
    if (!entry) {
      entry = { obtainedAt: 0, used: false }
      this.entries.set(key, entry)
    }
    entry.used = true
    const { current } = entry
    if (current && this.usable(entry, current)) return Promise.resolve(current)
    entry.current = undefined
    return entry.inflight ?? this.load(key, entry, fetch, false)
  }

  /** Stop every refresh timer; cached tokens are forgotten. */
  close(): void {
    this.closed = true
    for (const entry of this.entries.values()) clearTimeout(entry.timer)
    this.entries.clear()
  }

  private usable(entry: Entry, token: BrokerToken): boolean {
    const expiresMs = token.expiresAt * 1000
    const margin = Math.min(MAX_EXPIRY_MARGIN_MS, (expiresMs - entry.obtainedAt) * EXPIRY_MARGIN)
    return this.options.now() < expiresMs - margin
  }

  private load(key: string, entry: Entry, fetch: () => Promise<BrokerToken>, background: boolean) {
    const inflight = fetch().then(
      (token) => {
        entry.inflight = undefined
        entry.current = token
        entry.obtainedAt = this.options.now()
        // A caller waited for this one, so it counts as used; a background refresh does not.
        entry.used = !background
        this.schedule(key, entry, fetch)
        return token
      },
      (err: unknown) => {
        entry.inflight = undefined
        throw err
      },
    )
    entry.inflight = inflight
    return inflight
  }

  private schedule(key: string, entry: Entry, fetch: () => Promise<BrokerToken>): void {
    clearTimeout(entry.timer)
    if (this.closed || !entry.current) return
    const life = entry.current.expiresAt * 1000 - entry.obtainedAt
    const at = REFRESH_AT + (Math.random() * 2 - 1) * REFRESH_JITTER
    this.arm(key, entry, fetch, Math.max(0, life * at))
  }

  private arm(key: string, entry: Entry, fetch: () => Promise<BrokerToken>, delayMs: number): void {
    entry.timer = setTimeout(() => this.refresh(key, entry, fetch), delayMs)
    entry.timer.unref()
  }

  private refresh(key: string, entry: Entry, fetch: () => Promise<BrokerToken>): void {
    if (this.closed || this.entries.get(key) !== entry || entry.inflight) return
    if (!entry.used) {
      // Nobody asked since the last refresh: let it lapse rather than keep minting tokens for no one.
      this.entries.delete(key)
      return
    }
    this.load(key, entry, fetch, true).catch((err: unknown) => {
      this.options.onError(err)
      // Keep serving the still-valid token and try again while there is time; after that the next
      // caller fetches a new one itself.
      const current = entry.current
      if (!current || this.closed) return
      const left = current.expiresAt * 1000 - this.options.now()
      if (left > 2 * MIN_RETRY_MS) this.arm(key, entry, fetch, Math.max(MIN_RETRY_MS, left / 4))
    })
  }
}
