export {
  type AppendHealth,
  type AppendListener,
  ChainAppender,
  type ChainAppenderOptions,
} from './appender.js'
export { CANONICAL_FORM, canonicalRow, GENESIS_HASH, rowHash } from './canonical.js'
export { decodeCursor, encodeCursor } from './cursor.js'
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
  toStoredExchange,
} from './query.js'
export {
  DECISIONS,
  type Decision,
  type DetailValue,
  EXCHANGE_KINDS,
  type ExchangeKind,
  type ExchangeRecord,
  type StoredExchange,
} from './record.js'
export { AuditRetention, type RetentionOptions } from './retention.js'
export { type VerifyChainResult, verifyChain } from './verify.js'
export { type AppendSource, ExchangeWatch, type WatchOptions, type WatchSink } from './watch.js'
