import type { Clock } from '../clock.js'
import { BrokerError, type BrokerErrorCode } from '../errors.js'
import { type CacheOutcome, type CachePolicy, SecretCache } from './cache.js'
import {
  CircuitBreaker,
  type CircuitChange,
  type CircuitPolicy,
  type CircuitState,
} from './circuit_breaker.js'
import { createProvider, type ProviderOptions } from './create.js'
import { guardProvider } from './guarded_provider.js'
import type { Provider, ProviderType, SecretRef } from './provider.js'

/** One configured secret: which provider holds it, where, and how long its value may be kept. */
export interface SecretBinding {
  /** Name of an entry in `providers`. */
  provider: string
  /** Where it lives upstream; `name` is filled in from the binding's key. */
  ref: Omit<SecretRef, 'name'>
  cache?: CachePolicy
}

export interface SecretResolverOptions {
  /** Broker-side secret name → binding. Names come from config, never from callers. */
  secrets: Record<string, SecretBinding>
  /** Provider name → a built provider, or the plain options to build one. */
  providers: Record<string, Provider | ProviderOptions>
  /** Defaults for every secret (top-level `cache:`); per-secret policies override them. */
  cache?: CachePolicy
  clock?: Clock
  /** Once per `get()`, for `keybroker_secret_cache_total{result}`. */
  onResult?(provider: string, result: CacheOutcome | 'error'): void
  /** Once per real upstream call, for `keybroker_upstream_requests_total{provider,result}`. */
  onUpstream?(provider: string, result: 'ok' | BrokerErrorCode): void
  /** Circuit breaker policy by provider name; a provider not named gets the defaults. */
  circuits?: Record<string, CircuitPolicy>
  /** On every breaker state change (and `closed` at start), for `keybroker_upstream_circuit_state{provider}`. */
  onCircuitState?(provider: string, state: CircuitState, change: CircuitChange): void
  /** Jitter source for the breakers, uniform in [0, 1); tests pin it. */
  random?: () => number
}

export interface ResolvedSecret {
  value: Buffer
  version?: string
  /** Unix seconds at which an upstream lease ends. */
  expiresAt?: number
  cache: CacheOutcome
  /** Provider name (`providers.<name>`). */
  provider: string
  providerType: ProviderType
}

/**
 * Secret names → values: the one entry point the exchange and the injection proxy use.
 * Callers are expected to have checked policy first; this only knows what is configured.
 *
 * @example
 * const secrets = new SecretResolver({
 *   providers: { aws: { type: 'aws-secrets-manager', name: 'aws', region: 'eu-west-1', timeoutMs: 5000 } },
 *   secrets: { 'openai-key': { provider: 'aws', ref: { secretId: 'prod/openai', jsonKey: 'api_key' } } },
 * })
 * const { value, cache } = await secrets.get('openai-key')
 */
export class SecretResolver {
  readonly #secrets = new Map<string, { ref: SecretRef; provider: Provider; cache: CachePolicy }>()
  readonly #providers: Provider[]
  readonly #cache: SecretCache

  constructor(opts: SecretResolverOptions) {
    const providers = new Map<string, Provider>()
    for (const [name, p] of Object.entries(opts.providers)) {
      // one breaker per provider: a failing upstream fails fast for every secret it holds
      const breaker = new CircuitBreaker({
        ...opts.circuits?.[name],
        name: `${p.type} provider '${name}'`,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.random ? { random: opts.random } : {}),
        onStateChange: (state, change) => opts.onCircuitState?.(name, state, change),
      })
      // Vault renews its token in the background: that upkeep honours the same breaker
      const provider = isProvider(p) ? p : createProvider(p.type === 'vault' ? { ...p, circuit: breaker } : p)
      providers.set(name, guardProvider(provider, breaker))
    }
    this.#providers = [...providers.values()]
    for (const [name, binding] of Object.entries(opts.secrets)) {
      const provider = providers.get(binding.provider)
      if (!provider) {
        throw new BrokerError(
          'ERR_CONFIG',
          `secret ${name} names provider '${binding.provider}', which is not defined`,
        )
      }
      this.#secrets.set(name, { ref: { ...binding.ref, name }, provider, cache: binding.cache ?? {} })
    }
    this.#cache = new SecretCache({
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.cache ? { defaults: opts.cache } : {}),
      ...(opts.onResult ? { onResult: opts.onResult } : {}),
      ...(opts.onUpstream ? { onUpstream: opts.onUpstream } : {}),
    })
  }

  /** Which provider serves `name`, or undefined when no such secret is configured. */
  describe(name: string): { provider: string; providerType: ProviderType } | undefined {
    const secret = this.#secrets.get(name)
    return secret && { provider: secret.provider.name, providerType: secret.provider.type }
  }

  /**
   * The current value of `name`, from cache or upstream. Rejects only with BrokerError whose
   * message names the secret and provider, never the value. `signal` frees this caller early;
   * a fetch shared with other callers carries on.
   */
  async get(name: string, signal?: AbortSignal): Promise<ResolvedSecret> {
    const secret = this.#secrets.get(name)
    if (!secret) throw new BrokerError('ERR_NOT_FOUND', `secret ${name} is not configured`)
    const got = await this.#cache.get(secret.ref, secret.provider, secret.cache, signal)
    return { ...got, provider: secret.provider.name, providerType: secret.provider.type }
  }

  /** Close every provider (renewal timers, sockets). */
  async close(): Promise<void> {
    await Promise.allSettled(this.#providers.map((p) => p.close?.()))
  }
}

function isProvider(p: Provider | ProviderOptions): p is Provider {
  return typeof (p as Provider).get === 'function'
}
