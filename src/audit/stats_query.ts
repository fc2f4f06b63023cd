import { parseDuration } from '../config/duration.js'
import { BrokerError } from '../errors.js'
import type { StatsQuery } from '../storage/ports.js'

export const DEFAULT_STATS_BUCKET = '1m'
export const DEFAULT_STATS_TOP = 10
const MAX_TOP = 1000
/** More buckets than this is refused (a larger bucket or a shorter window is what the caller wants). */
export const MAX_STATS_BUCKETS = 10_000

/**
 * Validate GetExchangeStats' bucket (a duration, default 1m) and top (default 10, at most 1000).
 *
 * @example
 * parseStatsQuery('1h', 0) // { bucketMs: 3600000, top: 10, maxBuckets: 10000 }
 */
export function parseStatsQuery(bucket: string | undefined, top: number | undefined): StatsQuery {
  const text = bucket || DEFAULT_STATS_BUCKET
  const seconds = parseDuration(text)
  if (seconds === undefined || seconds <= 0)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `bucket: "${text.slice(0, 32)}" is not a duration (use 1m, 5m, 1h, 1d)`,
    )
  const n = top || DEFAULT_STATS_TOP
  if (!Number.isInteger(n) || n < 0 || n > MAX_TOP)
    throw new BrokerError('ERR_INVALID_ARGUMENT', `top: ${n} is not a whole number from 1 to ${MAX_TOP}`)
  return { bucketMs: seconds * 1000, top: n, maxBuckets: MAX_STATS_BUCKETS }
}
