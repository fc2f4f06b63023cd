import { type Clock, systemClock } from '../clock.js'
import { BrokerError, type BrokerErrorCode, toBrokerError } from '../errors.js'
import { CircuitOpenError } from './circuit_breaker.js'
import type { Provider, SecretRef, SecretValue } from './provider.js'

export interface CachePolicy {
  /** How long a fetched value is served without asking upstream; default 60 s. Capped by a lease's end. */
  ttlMs?: number
  /** After ttl, how much longer a value may be served while upstream is unavailable; default 5 min. */
  staleTtlMs?: number
  /** Largest value handed out; default 1 MiB. */
  maxBytes?: number
}

/** hit: served from cache; miss: fetched upstream for this call; stale: upstream failed, older value served. */
export type CacheOutcome = 'hit' | 'miss' | 'stale'

export interface CachedSecret extends SecretValue {
  cache: CacheOutcome
}

export interface SecretCacheOptions {
  clock?: Clock
  defaults?: CachePolicy
  /** Once per `get()`, for `keybroker_secret_cache_total{result}`. */
  onResult?(provider: string, result: CacheOutcome | 'error'): void
  /** Once per real upstream call, for `keybroker_upstream_requests_total{provider,result}`. */
  onUpstream?(provider: string, result: 'ok' | BrokerErrorCode): void
}

const DEFAULTS: Required<CachePolicy> = { ttlMs: 60_000, staleTtlMs: 300_000, maxBytes: 1024 * 1024 }

/** Upstream faults during which serving a slightly old value beats failing. Refusals and not-found are not. */
const STALE_OK: ReadonlySet<BrokerErrorCode> = new Set(['ERR_UPSTREAM_UNAVAILABLE', 'ERR_UPSTREAM_TIMEOUT'])

interface Entry {
  value: Buffer
  version?: string
  expiresAt?: number
  /** which upstream object this came from, so a new version seen through one name retires the others */
  source: string
  /** the ref it was fetched with; a config reload that moves a name must not serve the old path's value */
  fingerprint: string
  freshUntil: number
  staleUntil: number
}

/**
 * A TTL cache in front of providers, one entry per (provider, secret name), with single-flight
 * fetches, stale serving while upstream is unavailable, and a size limit.
 *
 * @example
 * const cache = new SecretCache({ defaults: { ttlMs: 60_000, staleTtlMs: 300_000 } })
 * const { value, cache: outcome } = await cache.get({ name: 'stripe-key', path: 'secret/data/stripe', field: 'api_key' }, vault)
 */
export class SecretCache {
  readonly #clock: Clock
  readonly #defaults: Required<CachePolicy>
  readonly #opts: SecretCacheOptions
  readonly #entries = new Map<string, Entry>()
  readonly #inFlight = new Map<string, Promise<Entry>>()

  constructor(opts: SecretCacheOptions = {}) {
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    this.#defaults = { ...DEFAULTS, ...opts.defaults }
  }

  async get(
    ref: SecretRef,
    provider: Provider,
    policy: CachePolicy = {},
    signal?: AbortSignal,
  ): Promise<CachedSecret> {
    const p = { ...this.#defaults, ...definedOnly(policy) }
    const key = `${provider.name}\u0000${ref.name}`
    const fingerprint = fingerprintOf(ref)
    const cached = this.#usable(key, fingerprint)
    if (cached && this.#clock.now() < cached.freshUntil) return this.#deliver(ref, provider, cached, 'hit', p)

    try {
      const entry = await abortable(this.#fetch(key, fingerprint, ref, provider, p), signal, ref, provider)
      return this.#deliver(ref, provider, entry, 'miss', p)
    } catch (err) {
      const error = toBrokerError(err)
      const old = this.#usable(key, fingerprint)
      if (old && STALE_OK.has(error.code) && this.#clock.now() < old.staleUntil) {
        return this.#deliver(ref, provider, old, 'stale', p)
      }
      this.#opts.onResult?.(provider.name, 'error')
      throw error
    }
  }

  /** Drop one name's entries (every provider), or everything. */
  invalidate(name?: string): void {
    for (const key of this.#entries.keys()) {
      if (name === undefined || key.endsWith(`\u0000${name}`)) this.#entries.delete(key)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  #usable(key: string, fingerprint: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.fingerprint !== fingerprint || this.#clock.now() >= entry.staleUntil) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  /** One upstream call per key at a time; concurrent callers share it. */
  #fetch(
    key: string,
    fingerprint: string,
    ref: SecretRef,
    provider: Provider,
    p: Required<CachePolicy>,
  ): Promise<Entry> {
    // keyed with the fingerprint too, so a config reload mid-fetch does not hand out the old path's value
    const flightKey = `${key}\u0000${fingerprint}`
    const pending = this.#inFlight.get(flightKey)
    if (pending) return pending
    const flight = this.#fetchOnce(key, fingerprint, ref, provider, p).finally(() =>
      this.#inFlight.delete(flightKey),
    )
    this.#inFlight.set(flightKey, flight)
    return flight
  }

  async #fetchOnce(
    key: string,
    fingerprint: string,
    ref: SecretRef,
    provider: Provider,
    p: Required<CachePolicy>,
  ): Promise<Entry> {
    let got: SecretValue
    try {
      // no caller signal here: the fetch is shared, and the provider bounds it with its own timeout
      got = await provider.get(ref)
      this.#opts.onUpstream?.(provider.name, 'ok')
    } catch (err) {
      const error = toBrokerError(err)
      // a breaker refusal asked nothing upstream: not a request, and still stale-servable below
      if (!(error instanceof CircuitOpenError)) this.#opts.onUpstream?.(provider.name, error.code)
      // a refusal or a vanished secret must not be papered over by an older copy later on
      if (!STALE_OK.has(error.code)) this.#entries.delete(key)
      throw error
    }
    if (got.value.length > p.maxBytes) {
      this.#entries.delete(key)
      throw tooLarge(ref, got.value.length, p.maxBytes)
    }
    const now = this.#clock.now()
    const leaseEnd = got.expiresAt !== undefined ? got.expiresAt * 1000 : Number.POSITIVE_INFINITY
    const entry: Entry = {
      value: got.value,
      ...(got.version !== undefined ? { version: got.version } : {}),
      ...(got.expiresAt !== undefined ? { expiresAt: got.expiresAt } : {}),
      source: `${provider.name}\u0000${ref.path ?? ''}\u0000${ref.secretId ?? ''}\u0000${ref.versionStage ?? ''}`,
      fingerprint,
      // a leased value is dead upstream once its lease ends: never serve it past that, fresh or stale
      freshUntil: Math.min(now + p.ttlMs, leaseEnd),
      staleUntil: Math.min(now + p.ttlMs + p.staleTtlMs, leaseEnd),
    }
    this.#retireOtherVersions(key, entry)
    this.#entries.set(key, entry)
    return entry
  }

  /** Names that read other fields of the same upstream object hold an older version now: drop them. */
  #retireOtherVersions(key: string, fresh: Entry): void {
    if (fresh.version === undefined) return
    for (const [otherKey, other] of this.#entries) {
      if (otherKey !== key && other.source === fresh.source && other.version !== fresh.version) {
        this.#entries.delete(otherKey)
      }
    }
  }

  #deliver(
    ref: SecretRef,
    provider: Provider,
    entry: Entry,
    cache: CacheOutcome,
    p: Required<CachePolicy>,
  ): CachedSecret {
    // the limit may have been lowered since this value was cached
    if (entry.value.length > p.maxBytes) {
      this.#opts.onResult?.(provider.name, 'error')
      throw tooLarge(ref, entry.value.length, p.maxBytes)
    }
    this.#opts.onResult?.(provider.name, cache)
    return {
      // a copy, so a caller that zeroes its buffer after use does not zero the cache
      value: Buffer.from(entry.value),
      ...(entry.version !== undefined ? { version: entry.version } : {}),
      ...(entry.expiresAt !== undefined ? { expiresAt: entry.expiresAt } : {}),
      cache,
    }
  }
}

function tooLarge(ref: SecretRef, size: number, max: number): BrokerError {
  return new BrokerError(
    'ERR_FAILED_PRECONDITION',
    `secret ${ref.name} is ${size} bytes, above the configured max ${max}`,
  )
}

function fingerprintOf(ref: SecretRef): string {
  return JSON.stringify([ref.path, ref.field, ref.secretId, ref.versionStage, ref.jsonKey])
}

function definedOnly(policy: CachePolicy): CachePolicy {
  return Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined))
}

/** Let one caller give up on a shared fetch without cancelling it for the others. */
function abortable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  ref: SecretRef,
  provider: Provider,
): Promise<T> {
  if (!signal) return work
  const cancelled = () =>
    new BrokerError(
      'ERR_UPSTREAM_TIMEOUT',
      `fetch of secret ${ref.name} from provider '${provider.name}' was cancelled`,
    )
  if (signal.aborted) return Promise.reject(cancelled())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled())
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
