import { BrokerError } from '../errors.js'

/** Budgets are counted at the injection proxy only: its audiences are `proxy:<route>`. */
export const BUDGETED_AUDIENCE_PREFIX = 'proxy:'
/** Without a grant cap, a larger request is refused (a negative number sent as uint32 lands here). */
export const MAX_USES_LIMIT = 1_000_000_000

/**
 * The real budget of a new token: `requested` (0 = the grant's max_uses, or unlimited when the
 * grant sets none), capped by the grant's `max_uses`. 0 means unlimited. A budget on an audience
 * the proxy does not serve is refused: it would be a "one-use" token nobody counts.
 */
export function resolveMaxUses(
  requested: number,
  audience: string,
  grantCap: number | undefined,
): { maxUses: number; capped: boolean } {
  if (!Number.isInteger(requested) || requested < 0)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      'max_uses must be a whole number ≥ 0 (0 = the grant default)',
    )
  if (requested > 0 && !audience.startsWith(BUDGETED_AUDIENCE_PREFIX))
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `max_uses is counted by the injection proxy only: audience "${audience.slice(0, 64)}" is not a proxy:<route> audience, so the budget would never be enforced`,
    )
  if (requested === 0) return { maxUses: grantCap ?? 0, capped: false }
  if (grantCap !== undefined && requested > grantCap) return { maxUses: grantCap, capped: true }
  if (requested > MAX_USES_LIMIT)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `max_uses ${requested} is above ${MAX_USES_LIMIT} (a negative number arrives as a large one); use 0 for unlimited`,
    )
  return { maxUses: requested, capped: false }
}

/**
 * A delegated child's own budget given what its budgeted ancestors have left (`parentLeft`,
 * undefined when none is budgeted): never more than that. Returns the child's own counter (0 =
 * none: it spends its ancestors' only) and the budget to report (the smaller of both).
 */
export function childBudget(
  own: { maxUses: number; requested: number },
  parentLeft: number | undefined,
): { ownUses: number; reported: number } {
  if (parentLeft === undefined) return { ownUses: own.maxUses, reported: own.maxUses }
  if (parentLeft <= 0)
    throw new BrokerError('ERR_BUDGET_EXHAUSTED', 'the parent token has no proxy use left (max_uses spent)')
  if (own.requested > parentLeft)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `max_uses ${own.requested} is more than the parent token has left (${parentLeft}); a delegated token cannot outspend its parent`,
    )
  const ownUses = Math.min(own.maxUses, parentLeft)
  return { ownUses, reported: ownUses > 0 ? ownUses : parentLeft }
}
