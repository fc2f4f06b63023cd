export { formatExchangeLine } from './format.js'
export {
  AuditQuery,
  DEFAULT_LIMIT,
  type ExchangeFilter,
  type IssuedTokenRecord,
  type ListPage,
  MAX_LIMIT,
  matchesFilter,
  parseFilter,
  parseLimit,
  parseTime,
  type RawExchangeFilter,
} from './query.js'
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
export { AuditRetention, type RetentionOptions } from './retention.js'
export { type AppendListener, SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite_store.js'
export { ExchangeStats, type ExchangeStatsSummary } from './stats.js'
export { type VerifyChainResult, verifyChain } from './verify.js'
export { type AppendSource, ExchangeWatch, type WatchOptions, type WatchSink } from './watch.js'
