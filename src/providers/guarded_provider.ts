import type { CircuitBreaker } from './circuit_breaker.js'
import type { Provider, SecretRef, SecretValue } from './provider.js'

/**
 * A provider whose calls go through a circuit breaker: while the breaker is open, `get()` rejects at
 * once with CircuitOpenError instead of waiting on a failing upstream.
 *
 * @example
 * const guarded = guardProvider(vault, new CircuitBreaker({ name: "vault provider 'vault'" }))
 * await guarded.get({ name: 'stripe-key', path: 'secret/data/stripe', field: 'api_key' })
 */
export function guardProvider(provider: Provider, breaker: CircuitBreaker): Provider {
  return {
    name: provider.name,
    type: provider.type,
    get: (ref: SecretRef, signal?: AbortSignal): Promise<SecretValue> =>
      breaker.run(() => provider.get(ref, signal), `fetching secret ${ref.name}`, signal),
    close: () => provider.close?.() ?? Promise.resolve(),
  }
}
