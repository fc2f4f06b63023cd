import type { TrustedIssuerConfig } from '../../config/schema.js'
import type { TrustedIssuer } from '../oidc.js'

/**
 * One validated `trust.oidc[]` entry (snake_case, durations in seconds) → the verifier's options.
 * A pure mapping: the config schema (src/config/schema.ts) is the only validator of these fields,
 * so `config check` and `serve` accept exactly the same entries.
 *
 * @example
 * ```ts
 * const issuers = config.trust.oidc.map((entry) => trustedIssuerFromConfig(entry))
 * const verifier = new WorkloadTokenVerifier(issuers)
 * ```
 */
export function trustedIssuerFromConfig(entry: TrustedIssuerConfig, caPem?: string): TrustedIssuer {
  return {
    name: entry.name,
    issuer: entry.issuer,
    audience: entry.audience,
    ...(entry.jwks_uri !== undefined ? { jwksUri: entry.jwks_uri } : {}),
    algorithms: [...entry.algorithms],
    ...(entry.max_token_age !== undefined ? { maxTokenAgeSeconds: entry.max_token_age } : {}),
    leewaySeconds: entry.leeway,
    attributes: entry.attributes.map((m) => ({ ...m, path: [...m.path], types: [...m.types] })),
    preset: entry.preset,
    ...(caPem !== undefined ? { caPem } : {}),
    fetchTimeoutMs: entry.fetch_timeout * 1000,
  }
}
