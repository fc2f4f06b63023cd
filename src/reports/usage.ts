import { parseTime } from '../audit/index.js'
import type { BrokerConfig } from '../config/index.js'
import { parseDuration } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { UsageReports, UsageRow } from '../storage/ports.js'

export interface UnusedItem {
  kind: 'grant' | 'secret'
  name: string
  /** unix ms of the newest allowed exchange anywhere in the log; null = never */
  lastUsed: number | null
}

export interface UsageReport {
  /** unix ms the counts start at */
  sinceMs: number
  rows: UsageRow[]
  /** only when `unused_for` was asked */
  unused: UnusedItem[]
}

export const DEFAULT_USAGE_WINDOW = '30d'

/** `since`: RFC 3339, unix seconds, or a duration ago (`7d`); default 30 days ago. */
export function parseSince(text: string | undefined, nowMs: number): number {
  const value = text?.trim() || DEFAULT_USAGE_WINDOW
  const ago = parseDuration(value)
  if (ago !== undefined) return nowMs - ago * 1000
  return parseTime(value, 'since')
}

/** `unused_for`: a duration (`90d`); undefined when not asked. */
export function parseUnusedFor(text: string | undefined): number | undefined {
  const value = text?.trim()
  if (!value) return undefined
  const seconds = parseDuration(value)
  if (seconds === undefined || seconds === 0)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `unused_for: "${value.slice(0, 40)}" is not a duration (e.g. 90d)`,
    )
  return seconds
}

/**
 * Usage per grant and subject since a time, and the grants and secrets of `config` nobody used
 * (no allowed exchange) within `unused_for`: cleanup candidates. Aggregates come from the store.
 *
 * @example
 * const report = await usageReport(storage.reports, config, { since: '7d', unusedFor: '90d' }, Date.now())
 */
export async function usageReport(
  store: UsageReports,
  config: Pick<BrokerConfig, 'grants' | 'secrets'>,
  input: { since?: string; unusedFor?: string },
  nowMs: number,
): Promise<UsageReport> {
  const sinceMs = parseSince(input.since, nowMs)
  const unusedFor = parseUnusedFor(input.unusedFor)
  const rows = await store.bySubject(sinceMs, Math.floor(nowMs / 1000))
  const unused: UnusedItem[] = []
  if (unusedFor !== undefined) {
    const cutoff = nowMs - unusedFor * 1000
    const last = await store.lastAllowed()
    const check = (kind: UnusedItem['kind'], name: string, used: number | undefined) => {
      if (used === undefined || used < cutoff) unused.push({ kind, name, lastUsed: used ?? null })
    }
    for (const grant of config.grants) check('grant', grant.name, last.grants[grant.name])
    for (const name of Object.keys(config.secrets).sort()) check('secret', name, last.secrets[name])
  }
  return { sinceMs, rows, unused }
}
