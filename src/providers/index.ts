export { AwsSecretsManagerProvider, type AwsSecretsManagerProviderOptions } from './aws.js'
export {
  type CachedSecret,
  type CacheOutcome,
  type CachePolicy,
  SecretCache,
  type SecretCacheOptions,
} from './cache.js'
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitChange,
  CircuitOpenError,
  type CircuitPolicy,
  type CircuitState,
} from './circuit_breaker.js'
export { createProvider, type ProviderOptions } from './create.js'
export { FileProvider, type FileProviderOptions } from './file.js'
export { guardProvider } from './guarded_provider.js'
export type { Provider, ProviderLogger, ProviderType, SecretRef, SecretValue } from './provider.js'
export {
  type ResolvedSecret,
  type SecretBinding,
  SecretResolver,
  type SecretResolverOptions,
} from './resolver.js'
export { type VaultAuthOptions, VaultProvider, type VaultProviderOptions } from './vault.js'
