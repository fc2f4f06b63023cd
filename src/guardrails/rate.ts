/**
 * Rates as written in config (`60/m`, `600/minute`, `5/s`) and the token bucket that enforces
 * them. Pure and clock-driven: no timers, no I/O.
 */

/** A parsed rate: `count` events per `periodMs`. */
export interface Rate {
  count: number
  periodMs: number
}

const UNITS: Record<string, number> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
}

/** `"60/m"` → { count: 60, periodMs: 60000 }; undefined when it is not a rate. */
export function parseRate(text: string): Rate | undefined {
  const match = /^\s*(\d{1,9})\s*\/\s*([a-z]+)\s*$/.exec(text)
  if (!match) return undefined
  const periodMs = UNITS[match[2]!]
  const count = Number(match[1])
  if (periodMs === undefined || count < 1) return undefined
  return { count, periodMs }
}

/** A bucket's limit: refills at `rate`, holds at most `burst` tokens. */
export interface BucketLimit {
  rate: Rate
  burst: number
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number }

interface Bucket {
  tokens: number
  /** ms of the last refill */
  at: number
}

/** Buckets kept before the oldest are dropped (a dropped bucket starts full again: errs on allowing). */
const MAX_BUCKETS = 100_000

/**
 * Token buckets by key, in this process only: N replicas allow N times the rate (documented).
 * A bucket starts full (`burst`), refills continuously at `rate` and is charged one token per event.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()

  constructor(private readonly now: () => number) {}

  take(key: string, limit: BucketLimit): Admission {
    const now = this.now()
    const perMs = limit.rate.count / limit.rate.periodMs
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!)
      bucket = { tokens: limit.burst, at: now }
      this.#buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(limit.burst, bucket.tokens + (now - bucket.at) * perMs)
      bucket.at = now
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { ok: true }
    }
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs)) }
  }

  /** Forget buckets that have refilled completely (they would start full anyway). */
  sweep(fullAfterMs: (key: string) => number): void {
    const now = this.now()
    for (const [key, bucket] of this.#buckets)
      if (now - bucket.at >= fullAfterMs(key)) this.#buckets.delete(key)
  }

  get size(): number {
    return this.#buckets.size
  }
}
