import type { StoredExchange } from './record.js'

export interface ExchangeStatsSummary {
  total: number
  firstTs?: number
  lastTs?: number
  bySubject: Array<[string, number]>
  byKind: Array<[string, number]>
  byDecision: Array<[string, number]>
  /** Subjects with the most `deny` rows, most first. */
  topRefused: Array<[string, number]>
}

/**
 * Counts over a stream of rows (`keybroker audit stats`). Fed one row at a time, so a long
 * window is aggregated without holding it in memory, whether rows come from the file or the broker.
 */
export class ExchangeStats {
  #total = 0
  #firstTs: number | undefined
  #lastTs: number | undefined
  readonly #bySubject = new Map<string, number>()
  readonly #byKind = new Map<string, number>()
  readonly #byDecision = new Map<string, number>()
  readonly #refused = new Map<string, number>()

  add(row: StoredExchange): void {
    this.#total++
    this.#firstTs = Math.min(this.#firstTs ?? row.ts, row.ts)
    this.#lastTs = Math.max(this.#lastTs ?? row.ts, row.ts)
    const subject = row.subject ?? '(unauthenticated)'
    bump(this.#bySubject, subject)
    bump(this.#byKind, row.kind)
    bump(this.#byDecision, row.decision)
    if (row.decision === 'deny') bump(this.#refused, subject)
  }

  summary(top = 10): ExchangeStatsSummary {
    return {
      total: this.#total,
      firstTs: this.#firstTs,
      lastTs: this.#lastTs,
      bySubject: sorted(this.#bySubject).slice(0, top),
      byKind: sorted(this.#byKind),
      byDecision: sorted(this.#byDecision),
      topRefused: sorted(this.#refused).slice(0, top),
    }
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function sorted(map: Map<string, number>): Array<[string, number]> {
  return [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
}
