/*
 * How a `trust.oidc[].attributes` key names a claim, and which JSON types a mapping accepts.
 * Dependency-free: the config schema validates keys with it, the verifier walks tokens with it.
 */

/** JSON types a claim may have to become an attribute; strings only unless the config says otherwise. */
export const CLAIM_TYPES = ['string', 'number', 'boolean'] as const
export type ClaimType = (typeof CLAIM_TYPES)[number]

/** One configured claim → attribute mapping, already parsed. */
export interface ClaimMapping {
  /** The key as written in the config, for messages. */
  claim: string
  /** Object keys from the top of the claims set down to the value. */
  path: readonly string[]
  /** Attribute name grants match on. */
  name: string
  /** JSON types accepted; a value of another type leaves the attribute unset. */
  types: readonly ClaimType[]
}

/**
 * Parse a claim path. `org.name` is the nested path org → name, never a top-level claim literally
 * named "org.name": a token cannot choose which reading applies. A claim whose name holds a dot is
 * written as an RFC 6901 JSON Pointer: `/kubernetes.io/namespace` (`~1` is `/`, `~0` is `~`).
 * Returns undefined for an empty segment or a bad `~` escape.
 *
 * @example
 * ```ts
 * parseClaimPath('org.name')                 // ['org', 'name']
 * parseClaimPath('/kubernetes.io/namespace') // ['kubernetes.io', 'namespace']
 * parseClaimPath('org..name')                // undefined
 * ```
 */
export function parseClaimPath(text: string): string[] | undefined {
  const segments = text.startsWith('/') ? pointerSegments(text.slice(1)) : text.split('.')
  if (segments === undefined || segments.some((s) => s === '')) return undefined
  return segments
}

function pointerSegments(rest: string): string[] | undefined {
  const out: string[] = []
  for (const raw of rest.split('/')) {
    if (/~[^01]|~$/.test(raw)) return undefined
    out.push(raw.replaceAll('~1', '/').replaceAll('~0', '~'))
  }
  return out
}
