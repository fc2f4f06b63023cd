import { BrokerError } from '../../errors.js'
import type { OidcPreset, TrustedIssuer } from '../oidc.js'
import { DEFAULT_ALGORITHMS, isForbiddenAlgorithm, isSupportedAlgorithm } from './algorithms.js'

/** A trusted issuer with every default filled in and every field checked. */
export type ResolvedIssuer = TrustedIssuer & { fetchTimeoutMs: number }

const PRESETS: readonly OidcPreset[] = ['kubernetes', 'github-actions', 'generic']
export const MAX_LEEWAY_SECONDS = 60
export const DEFAULT_FETCH_TIMEOUT_MS = 5000

/** Validate every issuer up front so a bad trust entry fails at start, naming its path. */
export function resolveIssuers(issuers: readonly TrustedIssuer[]): ResolvedIssuer[] {
  if (!Array.isArray(issuers)) throw configError('trust.oidc', 'must be a list of trusted issuers')
  const resolved = issuers.map((issuer, i) => resolveIssuer(issuer, `trust.oidc[${i}]`))
  const names = new Set<string>()
  const urls = new Set<string>()
  resolved.forEach((r, i) => {
    if (names.has(r.name)) throw configError(`trust.oidc[${i}].name`, `"${r.name}" is used twice`)
    // The unverified `iss` picks the entry, so two entries for one issuer would be ambiguous.
    if (urls.has(r.issuer)) throw configError(`trust.oidc[${i}].issuer`, `"${r.issuer}" is trusted twice`)
    names.add(r.name)
    urls.add(r.issuer)
  })
  return resolved
}

function resolveIssuer(t: TrustedIssuer, path: string): ResolvedIssuer {
  if (typeof t !== 'object' || t === null) throw configError(path, 'must be an object')
  const name = nonEmptyString(t.name, `${path}.name`)
  const issuer = nonEmptyString(t.issuer, `${path}.issuer`)
  const audience = nonEmptyString(t.audience, `${path}.audience`)
  if (t.jwksUri === undefined) httpsUrl(issuer, `${path}.issuer`)
  const jwksUri = t.jwksUri === undefined ? undefined : httpsUrl(t.jwksUri, `${path}.jwksUri`)

  const algorithms = t.algorithms === undefined ? [...DEFAULT_ALGORITHMS] : t.algorithms
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw configError(`${path}.algorithms`, 'must be a non-empty list')
  }
  algorithms.forEach((alg, i) => {
    if (typeof alg !== 'string' || isForbiddenAlgorithm(alg)) {
      throw configError(
        `${path}.algorithms[${i}]`,
        `${JSON.stringify(alg)} is not allowed (none and HS* never are)`,
      )
    }
    if (!isSupportedAlgorithm(alg)) {
      throw configError(
        `${path}.algorithms[${i}]`,
        `${JSON.stringify(alg)} is not a supported asymmetric algorithm`,
      )
    }
  })

  const leewaySeconds = t.leewaySeconds ?? 0
  if (!Number.isFinite(leewaySeconds) || leewaySeconds < 0 || leewaySeconds > MAX_LEEWAY_SECONDS) {
    throw configError(`${path}.leewaySeconds`, `must be between 0 and ${MAX_LEEWAY_SECONDS}`)
  }
  const maxTokenAgeSeconds = t.maxTokenAgeSeconds
  if (maxTokenAgeSeconds !== undefined && (!Number.isFinite(maxTokenAgeSeconds) || maxTokenAgeSeconds <= 0)) {
    throw configError(`${path}.maxTokenAgeSeconds`, 'must be a positive number of seconds')
  }
  const fetchTimeoutMs = t.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
  if (!Number.isFinite(fetchTimeoutMs) || fetchTimeoutMs <= 0) {
    throw configError(`${path}.fetchTimeoutMs`, 'must be a positive number of milliseconds')
  }
  const preset = t.preset ?? 'generic'
  if (!PRESETS.includes(preset)) {
    throw configError(`${path}.preset`, `${JSON.stringify(preset)} is not one of ${PRESETS.join(', ')}`)
  }
  const attributes = t.attributes ?? {}
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw configError(`${path}.attributes`, 'must map claim paths to attribute names')
  }
  for (const [claim, attr] of Object.entries(attributes)) {
    if (claim === '' || typeof attr !== 'string' || attr === '') {
      throw configError(
        `${path}.attributes`,
        `${JSON.stringify(claim)} must map to a non-empty attribute name`,
      )
    }
  }
  if (t.caPem !== undefined && !/-----BEGIN CERTIFICATE-----/.test(t.caPem)) {
    throw configError(`${path}.caPem`, 'is not a PEM certificate')
  }

  return {
    name,
    issuer,
    audience,
    jwksUri,
    algorithms: [...algorithms],
    maxTokenAgeSeconds,
    leewaySeconds,
    attributes: { ...attributes },
    preset,
    caPem: t.caPem,
    fetchTimeoutMs,
  }
}

function nonEmptyString(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw configError(path, 'must be a non-empty string')
  return value
}

// Keys fetched over plain HTTP could be swapped by anyone on the path, so only HTTPS is accepted.
function httpsUrl(value: unknown, path: string): string {
  const s = nonEmptyString(value, path)
  let url: URL
  try {
    url = new URL(s)
  } catch {
    throw configError(path, `${JSON.stringify(s)} is not a URL`)
  }
  if (url.protocol !== 'https:') throw configError(path, `${JSON.stringify(s)} must be an https:// URL`)
  return s
}

function configError(path: string, message: string): BrokerError {
  return new BrokerError('ERR_CONFIG', `${path}: ${message}`)
}
