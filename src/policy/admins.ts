import type { AdminEntry, AdminRole, ApproverEntry } from '../config/index.js'
import type { Identity } from '../identity/identity.js'

/**
 * Does this entry name this caller? A subject string alone never decides: a SPIFFE ID entry matches
 * only an mTLS identity, and an OIDC entry names the trust it must come from. Otherwise any trusted
 * issuer (or a second cluster with the same service-account names) could mint `sub: <an admin>`.
 */
export function entryMatches(identity: Identity, entry: AdminEntry | ApproverEntry): boolean {
  if (typeof entry === 'string') return identity.method === 'mtls' && identity.subject === entry
  if ('spiffe_id' in entry) return identity.method === 'mtls' && identity.subject === entry.spiffe_id
  return (
    identity.method === 'oidc' && identity.trustName === entry.issuer && identity.subject === entry.subject
  )
}

/** Is this caller an operator, of any role? */
export function isAdmin(identity: Identity, admins: readonly AdminEntry[]): boolean {
  return admins.some((entry) => entryMatches(identity, entry))
}

/** An entry's role (a bare SPIFFE ID string is an admin, as before roles existed). */
export function entryRole(entry: AdminEntry): AdminRole {
  return typeof entry === 'string' ? 'admin' : entry.role
}

const RANK: Record<AdminRole, number> = { auditor: 1, approver: 2, admin: 3 }

/**
 * The caller's role, or undefined when no `admins` entry names it. When several entries name the
 * same caller the widest role wins (listing someone twice is not a way to take rights away).
 */
export function roleOf(identity: Identity, admins: readonly AdminEntry[]): AdminRole | undefined {
  let role: AdminRole | undefined
  for (const entry of admins) {
    if (!entryMatches(identity, entry)) continue
    const r = entryRole(entry)
    if (role === undefined || RANK[r] > RANK[role]) role = r
  }
  return role
}
