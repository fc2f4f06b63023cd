export { formatExchangeLine } from './format.js'
export {
  DECISIONS,
  type Decision,
  type DetailValue,
  EXCHANGE_KINDS,
  type ExchangeKind,
  type ExchangeRecord,
  GENESIS_HASH,
  type StoredExchange,
} from './record.js'
export { type AppendListener, SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite_store.js'
export { type VerifyChainResult, verifyChain } from './verify.js'
