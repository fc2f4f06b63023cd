import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose'
import { VerifierUnavailable } from './errors.js'
import { getJson, type HttpsGet } from './https_fetch.js'

export interface BrokerKeySetOptions {
  issuer: string
  /** Skip discovery and fetch keys here. */
  jwksUri?: string
  get: HttpsGet
  timeoutMs: number
  /** Minimum time between refetches caused by an unknown `kid`. */
  cooldownMs: number
  /** After this long the key set is refetched on next use (withdrawn keys stop verifying). */
  maxAgeMs: number
  /** How long a failed discovery is remembered before the next attempt. */
  retryAfterMs: number
  now: () => number
}

/**
 * The broker's public keys: `jwks_uri` from `<issuer>/.well-known/openid-configuration` (once), then
 * jose's remote JWKS set: cached, refetched when a token names an unknown `kid` at most once per
 * cooldown, so a stream of forged kids cannot turn the verifier into a flood against the broker.
 */
export class BrokerKeySet {
  readonly #o: BrokerKeySetOptions
  #set: Promise<RemoteJWKSet> | undefined
  #failed: { at: number; error: VerifierUnavailable } | undefined

  constructor(options: BrokerKeySetOptions) {
    this.#o = options
  }

  /** jose's key resolver over the remote set; refuses with VerifierUnavailable while discovery fails. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const set = await this.#remote()
    try {
      return await set(header, token)
    } catch (err) {
      // "no such kid" is the token's fault; anything else (timeout, HTTP error, bad JSON) is the fetch's.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err
      throw new VerifierUnavailable(
        'ERR_KEYS_UNAVAILABLE',
        `broker keys unavailable: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
  }

  /** Fetch the keys now (discovery included), so the first request does not wait for them. */
  async warm(): Promise<void> {
    const set = await this.#remote()
    if (set.jwks() === undefined) {
      try {
        await set.reload()
      } catch (err) {
        throw new VerifierUnavailable(
          'ERR_KEYS_UNAVAILABLE',
          `broker keys unavailable: ${(err as Error).message}`,
          {
            cause: err,
          },
        )
      }
    }
  }

  #remote(): Promise<RemoteJWKSet> {
    if (this.#failed && this.#o.now() - this.#failed.at < this.#o.retryAfterMs) throw this.#failed.error
    this.#set ??= this.#discover().then(
      (uri) => {
        this.#failed = undefined
        return createRemoteJWKSet(new URL(uri), {
          timeoutDuration: this.#o.timeoutMs,
          cooldownDuration: this.#o.cooldownMs,
          cacheMaxAge: this.#o.maxAgeMs,
          [customFetch]: this.#o.get,
        })
      },
      (err: unknown) => {
        this.#set = undefined
        const error = new VerifierUnavailable(
          'ERR_KEYS_UNAVAILABLE',
          `cannot find the broker's keys: ${(err as Error).message}`,
          { cause: err },
        )
        this.#failed = { at: this.#o.now(), error }
        throw error
      },
    )
    return this.#set
  }

  async #discover(): Promise<string> {
    if (this.#o.jwksUri) return this.#o.jwksUri
    const url = `${this.#o.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    const doc = (await getJson(this.#o.get, url, this.#o.timeoutMs)) as Record<string, unknown> | null
    // A discovery document that names another issuer is someone else's: its keys must not be trusted.
    if (doc?.issuer !== this.#o.issuer)
      throw new Error(`${url} is for issuer ${JSON.stringify(doc?.issuer)}, not ${this.#o.issuer}`)
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`)
    return doc.jwks_uri
  }
}
