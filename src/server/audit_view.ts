import { type StoredExchange, toStoredExchange } from '../audit/index.js'
import type { Storage } from '../storage/ports.js'

/** A small read view of the whole log (every chain), ordered by (ts, id) ascending. */
export interface AuditLogView {
  /** The newest `n` rows, oldest first. */
  tail(n: number): Promise<StoredExchange[]>
  count(): Promise<number>
  /** Every row about one token, oldest first. */
  findByTokenId(tokenId: string): Promise<StoredExchange[]>
}

export function auditLogView(storage: Storage): AuditLogView {
  return {
    async tail(n) {
      if (n <= 0) return []
      return (await storage.reader.listPage({}, n)).reverse().map(toStoredExchange)
    },
    count: () => storage.reader.count(),
    async findByTokenId(tokenId) {
      return (await storage.reader.byTokenId(tokenId)).map(toStoredExchange)
    },
  }
}
