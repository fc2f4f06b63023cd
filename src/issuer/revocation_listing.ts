import type { RevocationRow, RevocationRows } from '../storage/ports.js'

export const DEFAULT_REVOCATION_LIMIT = 100
export const MAX_REVOCATION_LIMIT = 10_000

/**
 * The revocations still in force (not_after not passed), newest first, at most `limit`: what
 * `keybroker revocations list` prints and Admin.ListRevocations returns. Token, subject and key
 * (kid) revocations alike; never a token.
 */
export async function listRevocations(
  rows: Pick<RevocationRows, 'since'>,
  nowSec: number,
  limit: number,
): Promise<RevocationRow[]> {
  const live = await rows.since(0, nowSec)
  return live.slice(-limit).reverse()
}
