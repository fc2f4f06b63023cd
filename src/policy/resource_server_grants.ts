import type { GrantConfig } from '../config/index.js'
import type { Identity } from '../identity/identity.js'
import type { Policy } from './policy.js'

/**
 * The grant that lets this identity follow the revocation feed (`revocations: { watch: true }`), or
 * undefined. Pure, like every policy decision.
 */
export function revocationWatchGrant(policy: Policy, identity: Identity): GrantConfig | undefined {
  return policy.matchingGrants(identity).find((g) => g.revocations?.watch === true)
}

/**
 * The audiences whose tokens this identity may introspect (the union over its matching grants'
 * `introspect.audiences`), with the names of the grants that gave them.
 */
export function introspectableAudiences(
  policy: Policy,
  identity: Identity,
): { audiences: ReadonlySet<string>; grants: string[] } {
  const audiences = new Set<string>()
  const grants: string[] = []
  for (const grant of policy.matchingGrants(identity)) {
    if (!grant.introspect) continue
    grants.push(grant.name)
    for (const audience of grant.introspect.audiences) audiences.add(audience)
  }
  return { audiences, grants }
}
