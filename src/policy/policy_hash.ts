import { createHash } from 'node:crypto'
import type { BrokerConfig } from '../config/index.js'

/**
 * A short fingerprint of what decides answers: issuer, grants, admins, secrets, routes, trusted
 * issuers and key settings. Replicas of one broker must agree on it; a difference means a rollout
 * in progress or drift. Node-local settings (listen addresses, node_id, file paths of TLS
 * material) are left out so identical policies hash alike on every replica.
 */
export function policyHash(config: BrokerConfig): string {
  const relevant = {
    issuer: config.issuer,
    grants: config.grants,
    admins: config.admins,
    secrets: config.secrets,
    routes: config.routes,
    trust: config.trust,
    keys: { algorithm: config.keys.algorithm, rotation_period: config.keys.rotation_period },
  }
  return createHash('sha256').update(stableJson(relevant)).digest('hex').slice(0, 16)
}

/** JSON with object keys sorted, so the same policy written in another key order hashes alike. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(value ?? null)
}
