import type { JWTPayload } from 'jose'
import { BrokerError } from '../../errors.js'
import type { OidcPreset } from '../oidc.js'
import type { ClaimMapping, ClaimType } from './claim_path.js'

const GITHUB_ACTIONS_CLAIMS = [
  'repository',
  'repository_owner',
  'ref',
  'environment',
  'workflow_ref',
  'job_workflow_ref',
  'actor',
] as const

const STRINGS_ONLY: readonly ClaimType[] = ['string']

/** Subject and policy attributes for a verified claims set, per the issuer's preset plus its configured mapping. */
export function mapClaims(
  preset: OidcPreset,
  configured: readonly ClaimMapping[],
  claims: JWTPayload,
): { subject: string; attributes: Record<string, string> } {
  const attributes: Record<string, string> = {}
  let subject = typeof claims.sub === 'string' ? claims.sub : ''

  if (preset === 'kubernetes') {
    const namespace = stringAt(claims, ['kubernetes.io', 'namespace'])
    const serviceAccount = stringAt(claims, ['kubernetes.io', 'serviceaccount', 'name'])
    const pod = stringAt(claims, ['kubernetes.io', 'pod', 'name'])
    if (namespace !== undefined) attributes['namespace'] = namespace
    if (serviceAccount !== undefined) attributes['service_account'] = serviceAccount
    if (pod !== undefined) attributes['pod'] = pod
    if (namespace && serviceAccount) subject = `system:serviceaccount:${namespace}:${serviceAccount}`
  } else if (preset === 'github-actions') {
    for (const name of GITHUB_ACTIONS_CLAIMS) {
      const value = stringAt(claims, [name])
      if (value !== undefined) attributes[name] = value
    }
  }

  // Configured mappings come last: an operator's explicit choice wins over a preset default.
  for (const mapping of configured) {
    const value = attributeValue(claimAt(claims, mapping.path), mapping.types)
    if (value !== undefined) attributes[mapping.name] = value
  }

  if (subject === '') throw new BrokerError('ERR_TOKEN_INVALID', 'token has no sub claim')
  return { subject, attributes }
}

/**
 * The value at `path`, walking own properties of nested objects only: `['org', 'name']` never reads
 * a top-level claim named "org.name", and arrays are not indexed.
 */
export function claimAt(obj: unknown, path: readonly string[]): unknown {
  let current = obj
  for (const key of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined
    if (!Object.hasOwn(current, key)) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

function stringAt(obj: unknown, path: readonly string[]): string | undefined {
  return attributeValue(claimAt(obj, path), STRINGS_ONLY)
}

/**
 * Attributes are flat strings. A string claim maps as is; a number or boolean only when the mapping
 * lists its type (then as its JSON text: `3`, `false`), so a grant written for strings is never met
 * by a value of another type. Objects, arrays and null never map.
 */
function attributeValue(v: unknown, types: readonly ClaimType[]): string | undefined {
  if (typeof v === 'string') return types.includes('string') ? v : undefined
  if (typeof v === 'number') return types.includes('number') && Number.isFinite(v) ? String(v) : undefined
  if (typeof v === 'boolean') return types.includes('boolean') ? String(v) : undefined
  return undefined
}
