import type { JWK } from 'jose'

/**
 * Asymmetric JWS algorithms a workload token may be signed with. `none` and HS* are absent on
 * purpose: a verifier that accepts them can be fooled with the issuer's public key used as an
 * HMAC secret. The config schema offers exactly this list for `trust.oidc[].algorithms`.
 */
export const WORKLOAD_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const
export type WorkloadTokenAlgorithm = (typeof WORKLOAD_TOKEN_ALGORITHMS)[number]

/** The key shape each algorithm needs. */
const KEY_SHAPES: Readonly<Record<WorkloadTokenAlgorithm, { kty: string; crv?: string }>> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
}

/** `trust.oidc[].algorithms` when the config names none. */
export const DEFAULT_ALGORITHMS: readonly WorkloadTokenAlgorithm[] = ['RS256', 'ES256']

/** True for `none` and the HMAC family, which are refused whatever the configuration says. */
export function isForbiddenAlgorithm(alg: string): boolean {
  return alg.toLowerCase() === 'none' || /^HS\d+$/i.test(alg)
}

/** Whether a public JWK from a JWKS can verify a signature made with `alg`. */
export function keyFitsAlgorithm(jwk: JWK, alg: string): boolean {
  const shape = Object.hasOwn(KEY_SHAPES, alg) ? KEY_SHAPES[alg as WorkloadTokenAlgorithm] : undefined
  if (!shape) return false
  if (jwk.kty !== shape.kty) return false
  if (shape.crv !== undefined && jwk.crv !== shape.crv) return false
  if (jwk.alg !== undefined && jwk.alg !== alg) return false
  if (jwk.use !== undefined && jwk.use !== 'sig') return false
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes('verify')) return false
  return true
}
