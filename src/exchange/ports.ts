/**
 * What the exchange needs from the parts below it, as narrow interfaces. The composition root
 * (src/server) passes the concrete objects; nothing in src/exchange imports a storage driver.
 */
import type { ExchangeRecord } from '../audit/record.js'
import type { AccessTokenClaims } from '../issuer/mint.js'
import type { Revocation } from '../issuer/revocations.js'
import type { ResolvedSecret } from '../providers/resolver.js'
import type { CommitEffects } from '../storage/ports.js'

export type { ResolvedSecret } from '../providers/resolver.js'

/** Step 4: commit one audit row; rejects with ERR_AUDIT_UNAVAILABLE when it cannot. */
export interface AuditAppender {
  /** `effects` (usage budgets) commit in the same transaction; a spent budget: ERR_BUDGET_EXHAUSTED. */
  append(
    record: ExchangeRecord,
    effects?: CommitEffects,
  ): Promise<{ id: string; seq: number; remaining?: number }>
}

/** Revoked token ids (checked when a broker token is presented back: proxy, delegation). */
export interface RevocationPort {
  isTokenRevoked(claims: Pick<AccessTokenClaims, 'jti' | 'kb_ancestors'>): boolean
  revoke(entries: Revocation[]): Promise<number>
}

/** Where the proxy gets the key it injects; a name from `secrets:`, never from the caller. */
export interface ProxySecretSource {
  get(name: string, signal?: AbortSignal): Promise<ResolvedSecret>
}
