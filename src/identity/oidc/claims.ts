import type { JWTPayload } from 'jose'
import { BrokerError } from '../../errors.js'
import type { OidcPreset } from '../oidc.js'

const GITHUB_ACTIONS_CLAIMS = [
  'repository',
  'repository_owner',
  'ref',
  'environment',
  'workflow_ref',
  'job_workflow_ref',
  'actor',
] as const

/** Subject and policy attributes for a verified claims set, per the issuer's preset plus its configured mapping. */
export function mapClaims(
  preset: OidcPreset,
  configured: Record<string, string>,
  claims: JWTPayload,
): { subject: string; attributes: Record<string, string> } {
  const attributes: Record<string, string> = {}
  let subject = typeof claims.sub === 'string' ? claims.sub : ''

  if (preset === 'kubernetes') {
    const namespace = attributeValue(claimAt(claims, 'kubernetes.io.namespace'))
    const serviceAccount = attributeValue(claimAt(claims, 'kubernetes.io.serviceaccount.name'))
    const pod = attributeValue(claimAt(claims, 'kubernetes.io.pod.name'))
    if (namespace !== undefined) attributes['namespace'] = namespace
    if (serviceAccount !== undefined) attributes['service_account'] = serviceAccount
    if (pod !== undefined) attributes['pod'] = pod
    if (namespace && serviceAccount) subject = `system:serviceaccount:${namespace}:${serviceAccount}`
  } else if (preset === 'github-actions') {
    for (const name of GITHUB_ACTIONS_CLAIMS) {
      const value = attributeValue(claims[name])
      if (value !== undefined) attributes[name] = value
    }
  }

  // Configured mappings come last: an operator's explicit choice wins over a preset default.
  for (const [path, name] of Object.entries(configured)) {
    const value = attributeValue(claimAt(claims, path))
    if (value !== undefined) attributes[name] = value
  }

  if (subject === '') throw new BrokerError('ERR_TOKEN_INVALID', 'token has no sub claim')
  return { subject, attributes }
}

/**
 * Read a dotted claim path. Claim names may themselves contain dots (`kubernetes.io`), so at each level
 * the longest key that exists wins, falling back to shorter ones.
 */
export function claimAt(obj: unknown, path: string): unknown {
  return walk(obj, path.split('.'))
}

function walk(obj: unknown, segments: string[]): unknown {
  if (segments.length === 0) return obj
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined
  for (let i = segments.length; i >= 1; i--) {
    const key = segments.slice(0, i).join('.')
    if (!Object.hasOwn(obj, key)) continue
    const found = walk((obj as Record<string, unknown>)[key], segments.slice(i))
    if (found !== undefined) return found
  }
  return undefined
}

/** Attributes are flat strings: numbers and booleans are stringified, objects, arrays and null skipped. */
function attributeValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'boolean') return String(v)
  return undefined
}
