/**
 * Advisory lock keys, (namespace, purpose) pairs: the two-int form keeps them apart from any
 * single-bigint advisory lock another application takes in the same database.
 */
export const LOCK_NAMESPACE = 0x6b62 // "kb"

export const LOCKS = {
  /** Serializes schema migrations across processes (session lock on a dedicated connection). */
  migrations: 1,
  /** One signing-key rotation at a time across replicas. */
  keyRotation: 2,
  /** Revocations commit in seq order, so a feed reader never passes a seq that commits later. */
  revocationFeed: 3,
  /** Opening an approval: find the identical pending one, else insert under the per-subject cap. */
  approvals: 4,
} as const

/** SQL arguments for pg_advisory_*lock: `${LOCK_NAMESPACE}, ${purpose}`. */
export function lockArgs(purpose: number): string {
  return `${LOCK_NAMESPACE}, ${purpose}`
}
