import { importJWK, type JWK } from 'jose'
import type { Clock } from '../../clock.js'
import { BrokerError } from '../../errors.js'
import { keyFitsAlgorithm } from './algorithms.js'
import { safe } from './compact.js'
import type { IssuerHttpClient } from './fetch_json.js'

export interface JwksCacheOptions {
  name: string
  issuer: string
  jwksUri?: string
  http: IssuerHttpClient
  clock: Clock
  /** Minimum time between refetches caused by an unknown `kid` (or by a stale cache) while the issuer answers. */
  refetchIntervalMs: number
  /**
   * After a failed fetch, the first retry waits this long, doubling per further failure up to
   * `refetchIntervalMs`; default 1 s. Lets a key rotated in during an outage verify soon after the
   * issuer returns, instead of a full `refetchIntervalMs` later.
   */
  retryAfterFailureMs?: number
  /** After this long the key set is refreshed on next use, so keys the issuer withdrew stop verifying. */
  maxAgeMs: number
}

/**
 * One issuer's JWKS: fetched on first use, kept in memory, refetched when a token names an unknown
 * `kid` (rotation) — at most once per `refetchIntervalMs`, with concurrent misses sharing one request so a
 * burst of forged kids cannot turn the broker into a flood against the issuer. When the issuer is down
 * the last good key set keeps working, and retries back off exponentially from `retryAfterFailureMs`
 * up to `refetchIntervalMs`.
 */
export class JwksCache {
  readonly #o: JwksCacheOptions
  #jwksUri: string | undefined
  #keys: JWK[] | undefined
  #fetchedAt = Number.NEGATIVE_INFINITY
  #lastAttemptAt = Number.NEGATIVE_INFINITY
  #lastMissRefetchAt = Number.NEGATIVE_INFINITY
  #lastError: BrokerError | undefined
  /** Consecutive failed fetches; 0 once one succeeds. */
  #failures = 0
  #inflight: Promise<void> | undefined
  readonly #imported = new WeakMap<JWK, Map<string, Promise<CryptoKey>>>()

  constructor(opts: JwksCacheOptions) {
    this.#o = opts
    this.#jwksUri = opts.jwksUri
  }

  /** The verification key for a token header; throws BrokerError. */
  async keyFor(alg: string, kid: string | undefined): Promise<CryptoKey> {
    // Set when this call already waited on a fetch: a second one right after would learn nothing new.
    let refreshed = false
    if (this.#keys === undefined) {
      await this.#refresh()
      refreshed = true
    } else if (this.#isStale()) {
      await this.#refresh().catch(() => {}) // keep serving the cached set
      refreshed = true
    }

    let jwk = this.#select(alg, kid)
    if (jwk === undefined && !refreshed && this.#inflight !== undefined) {
      await this.#inflight.catch(() => {})
      refreshed = true
      jwk = this.#select(alg, kid)
    }
    if (jwk === undefined && !refreshed && this.#o.clock.now() >= this.#nextMissRefetchAt()) {
      this.#lastMissRefetchAt = this.#o.clock.now()
      await this.#refresh().catch(() => {})
      jwk = this.#select(alg, kid)
    }
    if (jwk === undefined) {
      // While the issuer is unreachable an unknown kid may be a key we simply have not seen yet.
      if (this.#lastError !== undefined) throw this.#unavailableSinceLastFailure(this.#lastError)
      const which = kid === undefined ? `for alg ${alg} (token has no kid)` : `with kid ${safe(kid)}`
      throw new BrokerError('ERR_TOKEN_INVALID', `no key ${which} in issuer ${this.#o.name}'s JWKS`)
    }
    return this.#import(jwk, alg)
  }

  #isStale(): boolean {
    const now = this.#o.clock.now()
    const retryAt = this.#lastAttemptAt + (this.#failures > 0 ? this.#backoffMs() : this.#o.refetchIntervalMs)
    return now - this.#fetchedAt >= this.#o.maxAgeMs && now >= retryAt
  }

  /** While the issuer answers, one miss refetch per interval; after a failure, the backoff decides. */
  #nextMissRefetchAt(): number {
    if (this.#failures > 0) return this.#lastAttemptAt + this.#backoffMs()
    return this.#lastMissRefetchAt + this.#o.refetchIntervalMs
  }

  /** 1 s, 2 s, 4 s … after 1, 2, 3 … consecutive failures, capped at the normal refetch interval. */
  #backoffMs(): number {
    const first = this.#o.retryAfterFailureMs ?? 1000
    return Math.min(first * 2 ** Math.min(this.#failures - 1, 30), this.#o.refetchIntervalMs)
  }

  /**
   * The last fetch's error, saying when it failed and when the next fetch may run, so an operator can
   * tell a stale outage from a fresh one. Built from the fetch error only: the token is never in it.
   */
  #unavailableSinceLastFailure(last: BrokerError): BrokerError {
    const now = this.#o.clock.now()
    const at = new Date(this.#lastAttemptAt).toISOString()
    const ago = seconds(now - this.#lastAttemptAt)
    const next = seconds(Math.max(0, this.#nextMissRefetchAt() - now))
    return new BrokerError(
      last.code,
      `${last.message} (last JWKS fetch failed at ${at}, ${ago} ago; next attempt in ${next} at the earliest)`,
      { cause: last },
    )
  }

  /** undefined means "not in the current set" (a refetch may help); a key that exists but cannot fit throws. */
  #select(alg: string, kid: string | undefined): JWK | undefined {
    const keys = this.#keys ?? []
    if (kid === undefined) {
      const fitting = keys.filter((k) => keyFitsAlgorithm(k, alg))
      if (fitting.length > 1) {
        throw new BrokerError(
          'ERR_TOKEN_INVALID',
          `token has no kid and issuer ${this.#o.name}'s JWKS has several keys for alg ${alg}`,
        )
      }
      return fitting[0]
    }
    const named = keys.filter((k) => k.kid === kid)
    if (named.length === 0) return undefined
    const fitting = named.find((k) => keyFitsAlgorithm(k, alg))
    if (fitting === undefined) {
      throw new BrokerError(
        'ERR_TOKEN_INVALID',
        `key with kid ${safe(kid)} in issuer ${this.#o.name}'s JWKS cannot verify alg ${alg}`,
      )
    }
    return fitting
  }

  #import(jwk: JWK, alg: string): Promise<CryptoKey> {
    let byAlg = this.#imported.get(jwk)
    if (byAlg === undefined) {
      byAlg = new Map()
      this.#imported.set(jwk, byAlg)
    }
    let key = byAlg.get(alg)
    if (key === undefined) {
      key = importJWK(jwk, alg).then(
        (k) => k as CryptoKey,
        (cause) => {
          throw this.#o.http.unavailable(
            `JWKS key ${safe(jwk.kid ?? '(no kid)')} cannot be imported for ${alg}`,
            cause,
          )
        },
      )
      byAlg.set(alg, key)
    }
    return key
  }

  /** Single-flight: every caller that needs fresh keys while a fetch is running shares it. */
  #refresh(): Promise<void> {
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  async #load(): Promise<void> {
    this.#lastAttemptAt = this.#o.clock.now()
    try {
      this.#jwksUri ??= await this.#discover()
      const doc = await this.#o.http.getJson(this.#jwksUri, 'JWKS')
      this.#keys = this.#parseJwks(doc, this.#jwksUri)
      this.#fetchedAt = this.#o.clock.now()
      this.#lastError = undefined
      this.#failures = 0
    } catch (err) {
      this.#failures++
      this.#lastError =
        err instanceof BrokerError ? err : this.#o.http.unavailable('JWKS could not be loaded', err)
      throw this.#lastError
    }
  }

  async #discover(): Promise<string> {
    const url = `${this.#o.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    const doc = await this.#o.http.getJson(url, 'discovery document')
    if (!isObject(doc)) throw this.#o.http.unavailable(`discovery document ${url} is not a JSON object`)
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer we asked about.
    if (doc['issuer'] !== this.#o.issuer) {
      throw this.#o.http.unavailable(`discovery document ${url} names a different issuer`)
    }
    const jwksUri = doc['jwks_uri']
    if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) {
      throw this.#o.http.unavailable(`discovery document ${url} has no https jwks_uri`)
    }
    return jwksUri
  }

  #parseJwks(doc: unknown, url: string): JWK[] {
    if (!isObject(doc) || !Array.isArray(doc['keys'])) {
      throw this.#o.http.unavailable(`JWKS ${url} is not a JSON object with a keys array`)
    }
    // Only public asymmetric keys can verify; a private or symmetric key in a JWKS is ignored, not trusted.
    return (doc['keys'] as unknown[]).filter(
      (k): k is JWK => isObject(k) && typeof k['kty'] === 'string' && k['kty'] !== 'oct' && !('d' in k),
    )
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
