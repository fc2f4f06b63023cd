import type { AdminEntry } from '../config/index.js'
import type { Identity } from '../identity/identity.js'

/**
 * Is this caller an operator? A subject string alone never decides: a SPIFFE ID entry matches only an
 * mTLS identity, and an OIDC entry names the trust it must come from. Otherwise any trusted issuer
 * (or a second cluster with the same service-account names) could mint `sub: <an admin>` and be one.
 */
export function isAdmin(identity: Identity, admins: readonly AdminEntry[]): boolean {
  return admins.some((entry) =>
    typeof entry === 'string'
      ? identity.method === 'mtls' && identity.subject === entry
      : identity.method === 'oidc' &&
        identity.trustName === entry.issuer &&
        identity.subject === entry.subject,
  )
}
