import { accessSync, constants, readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { BrokerConfig, ProviderConfig, SecretConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import {
  type CachePolicy,
  type CircuitPolicy,
  type CircuitState,
  type ProviderOptions,
  type SecretBinding,
  SecretResolver,
  type VaultAuthOptions,
} from '../providers/index.js'

/**
 * `secrets:`, `providers:` and `cache:` (snake_case config, durations in seconds) → a SecretResolver.
 * Credential files are checked here so a broker that could never log in fails at start, naming the
 * key; their contents are read by the provider at each login, since they rotate.
 */
export function secretResolverFromConfig(
  config: BrokerConfig,
  wiring: {
    clock: Clock
    logger: Logger
    /** Metrics hooks: one call per cache lookup and per real upstream request. */
    onCacheResult?: (provider: string, result: string) => void
    onUpstream?: (provider: string, result: string) => void
    /** On every circuit breaker state change, and `closed` for each provider at start. */
    onCircuitState?: (provider: string, state: CircuitState) => void
  },
): SecretResolver {
  const logger = wiring.logger.child({ component: 'providers' })
  const providers: Record<string, ProviderOptions> = {}
  const circuits: Record<string, CircuitPolicy> = {}
  for (const [name, provider] of Object.entries(config.providers)) {
    providers[name] = providerOptions(config, name, provider, wiring.clock, logger)
    if (provider.type !== 'file') circuits[name] = circuitPolicy(provider.circuit)
  }
  const secrets: Record<string, SecretBinding> = {}
  for (const [name, secret] of Object.entries(config.secrets)) secrets[name] = binding(secret)
  return new SecretResolver({
    providers,
    secrets,
    cache: {
      ttlMs: config.cache.ttl * 1000,
      staleTtlMs: config.cache.stale_ttl * 1000,
      maxBytes: config.cache.max_bytes,
    },
    clock: wiring.clock,
    onResult: (provider, result) => wiring.onCacheResult?.(provider, result),
    onUpstream: (provider, result) => {
      wiring.onUpstream?.(provider, result)
      if (result !== 'ok') logger.warn({ provider, code: result }, 'upstream secret request failed')
    },
    circuits,
    onCircuitState: (provider, state, change) => {
      wiring.onCircuitState?.(provider, state)
      if (state === 'open') {
        // the last error's message names provider and secret, never a value or credential
        logger.warn(
          {
            provider,
            failures: change.failures,
            probe_at: new Date(change.probeAt ?? 0).toISOString(),
            code: change.lastError?.code,
            reason: change.lastError?.message,
          },
          'upstream circuit breaker opened: calls fail fast (stale values are served) until a probe succeeds',
        )
      } else if (state === 'closed' && change.previous !== undefined) {
        logger.info({ provider }, 'upstream circuit breaker closed: the upstream answered a probe')
      }
    },
  })
}

/** `circuit: { failures, open_for, max_open_for }` (seconds) → the breaker's policy (ms). */
function circuitPolicy(circuit: { failures: number; open_for: number; max_open_for: number }): CircuitPolicy {
  return {
    failures: circuit.failures,
    openMs: circuit.open_for * 1000,
    maxOpenMs: circuit.max_open_for * 1000,
  }
}

function providerOptions(
  config: BrokerConfig,
  name: string,
  provider: ProviderConfig,
  clock: Clock,
  logger: Logger,
): ProviderOptions {
  const at = `providers.${name}`
  if (provider.type === 'file') {
    // read again on each cache miss (mounted files rotate); a missing file is a config fault now
    return { type: 'file', name, path: readable(config, `${at}.path`, provider.path) }
  }
  const caPem = provider.ca_file ? readPem(config, `${at}.ca_file`, provider.ca_file) : undefined
  const common = { name, timeoutMs: provider.timeout * 1000, ...(caPem ? { caPem } : {}) }
  if (provider.type === 'aws-secrets-manager') {
    return {
      type: 'aws-secrets-manager',
      ...common,
      region: provider.region,
      maxAttempts: provider.max_attempts,
      ...(provider.endpoint ? { endpoint: provider.endpoint } : {}),
    }
  }
  return {
    type: 'vault',
    ...common,
    address: provider.address,
    ...(provider.namespace ? { namespace: provider.namespace } : {}),
    auth: vaultAuth(config, `${at}.auth`, provider.auth),
    clock,
    logger,
  }
}

function vaultAuth(
  config: BrokerConfig,
  at: string,
  auth: Extract<ProviderConfig, { type: 'vault' }>['auth'],
): VaultAuthOptions {
  const readableAt = (key: string, file: string) => readable(config, `${at}.${key}`, file)
  switch (auth.method) {
    case 'token':
      return { method: 'token', tokenFile: readableAt('token_file', auth.token_file) }
    case 'approle':
      return {
        method: 'approle',
        roleIdFile: readableAt('role_id_file', auth.role_id_file),
        secretIdFile: readableAt('secret_id_file', auth.secret_id_file),
        mount: auth.mount,
      }
    case 'kubernetes':
      return {
        method: 'kubernetes',
        role: auth.role,
        tokenFile: readableAt('token_file', auth.token_file),
        mount: auth.mount,
      }
  }
}

function binding(secret: SecretConfig): SecretBinding {
  const cache: CachePolicy = {
    ...(secret.cache_ttl !== undefined ? { ttlMs: secret.cache_ttl * 1000 } : {}),
    ...(secret.stale_ttl !== undefined ? { staleTtlMs: secret.stale_ttl * 1000 } : {}),
    ...(secret.max_bytes !== undefined ? { maxBytes: secret.max_bytes } : {}),
  }
  return {
    provider: secret.provider,
    ref: {
      ...(secret.path ? { path: secret.path } : {}),
      ...(secret.field ? { field: secret.field } : {}),
      ...(secret.secret_id ? { secretId: secret.secret_id } : {}),
      ...(secret.version_stage ? { versionStage: secret.version_stage } : {}),
      ...(secret.json_key ? { jsonKey: secret.json_key } : {}),
    },
    cache,
  }
}

function readable(config: BrokerConfig, key: string, file: string): string {
  try {
    accessSync(file, constants.R_OK)
  } catch (err) {
    throw configError(config, key, file, err)
  }
  return file
}

function readPem(config: BrokerConfig, key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw configError(config, key, file, err)
  }
}

function configError(config: BrokerConfig, key: string, file: string, err: unknown): BrokerError {
  const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
  return new BrokerError('ERR_CONFIG', `${config.sourceFile}: ${key}: cannot read ${file} (${reason})`)
}
