import type { RawExchangeFilter } from '../audit/index.js'
import type { CountRow, ExchangeStatsResult } from '../storage/ports.js'
import { displayTime } from './display_time.js'
import { terminalSafe } from './exchange_output.js'

/** `audit stats -o json`: stable field names; times ISO UTC. */
export function statsJson(s: ExchangeStatsResult, filter: RawExchangeFilter, bucket: string): object {
  return {
    window: { since: filter.since ?? null, until: filter.until ?? null },
    bucket,
    total: s.total,
    byDecision: decisionTotals(s),
    byKind: s.byKind,
    topSubjects: s.topSubjects,
    topAudiences: s.topAudiences,
    denialsByReason: s.denialsByReason,
    buckets: s.buckets.map((b) => ({
      start: new Date(b.startMs).toISOString(),
      allow: b.allow,
      deny: b.deny,
      error: b.error,
      pending: b.pending,
      p50_us: b.p50Us,
      p99_us: b.p99Us,
    })),
  }
}

/** `audit stats` as a person reads it: totals, top lists, then one line per time bucket. */
export function renderStats(
  s: ExchangeStatsResult,
  filter: RawExchangeFilter,
  bucket: string,
  utc: boolean,
): string {
  const window = `${filter.since ?? 'start'} … ${filter.until ?? 'now'}`
  const section = (title: string, rows: CountRow[], empty = '(none)') => {
    if (rows.length === 0) return `${title}\n  ${empty}\n`
    const width = Math.max(...rows.map((r) => String(r.count).length))
    return `${title}\n${rows.map((r) => `  ${String(r.count).padStart(width)}  ${terminalSafe(r.key || '-')}`).join('\n')}\n`
  }
  const decisions = Object.entries(decisionTotals(s))
    .filter(([, n]) => n > 0)
    .map(([key, count]) => ({ key, count }))
  const header = ['START', 'ALLOW', 'DENY', 'ERROR', 'PENDING', 'P50_US', 'P99_US']
  const widths = [utc ? 20 : 25, 7, 7, 7, 7, 9, 9]
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const buckets =
    s.buckets.length === 0
      ? '  (none)\n'
      : `${line(header)}\n${s.buckets
          .map((b) =>
            line([
              displayTime(b.startMs, utc),
              ...[b.allow, b.deny, b.error, b.pending, b.p50Us, b.p99Us].map(String),
            ]),
          )
          .join('\n')}\n`
  return [
    `window: ${window}\ntotal exchanges: ${s.total}\n`,
    section('by decision', decisions),
    section('by kind', s.byKind),
    section(
      'top subjects',
      s.topSubjects.map((r) => ({ ...r, key: r.key || '(unauthenticated)' })),
    ),
    section('top audiences', s.topAudiences),
    section('refusals by reason', s.denialsByReason),
    `per ${bucket}\n${buckets}`,
  ].join('\n')
}

function decisionTotals(s: ExchangeStatsResult): Record<'allow' | 'deny' | 'error' | 'pending', number> {
  const totals = { allow: 0, deny: 0, error: 0, pending: 0 }
  for (const b of s.buckets) {
    totals.allow += b.allow
    totals.deny += b.deny
    totals.error += b.error
    totals.pending += b.pending
  }
  return totals
}
