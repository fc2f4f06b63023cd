import type { AlertRulesConfig } from '../config/index.js'
import type { ExchangeRow } from '../storage/ports.js'

/** Every rule name; an event's type is `dev.keybroker.alert.<rule>`. */
export type AlertRule =
  | 'denial_burst'
  | 'new_peer'
  | 'issuance_spike'
  | 'auth_failures'
  | 'approval_requested'
  | 'audit_chain_broken'
  | 'approval_cap'

/** An alert a rule raised, before it has an id or a sink. */
export interface RaisedAlert {
  rule: AlertRule
  /** who or what it is about: a subject, a peer address, a chain */
  subject: string
  /** unix ms of the row that triggered it (log time, not wall time) */
  at: number
  /** the exchanges that triggered it, oldest first (at most MAX_IDS) */
  exchangeIds: string[]
  count: number
  summary: string
  /** rule-specific facts (no credential ever) */
  extra?: Record<string, string | number>
}

/** What the evaluator saves with the alerts it produced, so a restart resumes exactly. */
export interface RuleState {
  /** rule/key → [ts, exchange id] of recent matching rows */
  windows: Record<string, Array<[number, string]>>
  /** rule/key → log time before which that key raises nothing again */
  quiet: Record<string, number>
  /** subject → addresses it has used */
  peers: Record<string, string[]>
  /** subject → { bucket start ms → tokens minted } over the trailing hour and the spike window */
  minted: Record<string, Record<string, number>>
}

export const MAX_IDS = 100
/** Bounds on what the evaluator keeps per key and in all, so a flood of subjects cannot grow it without end. */
const MAX_KEYS = 10_000
const MAX_PEERS_PER_SUBJECT = 64
const SPIKE_BUCKET_MS = 10_000
const HOUR_MS = 3_600_000
/** An approval cap alert repeats at most this often per subject. */
const APPROVAL_CAP_QUIET_MS = 10 * 60_000

const CREDENTIAL_KINDS = new Set(['issue', 'delegate', 'fetch', 'proxy'])

export function emptyRuleState(): RuleState {
  return { windows: {}, quiet: {}, peers: {}, minted: {} }
}

/** `peer` as recorded (`host:port`, `[v6]:port`) without its port: an address, not a connection. */
export function peerHost(peer: string): string {
  return peer.replace(/:\d+$/, '')
}

function detailOf(row: ExchangeRow): Record<string, unknown> {
  if (!row.detail) return {}
  try {
    return JSON.parse(row.detail) as Record<string, unknown>
  } catch {
    return {}
  }
}

/**
 * The alert rules over the audit log, fed one committed row at a time in each chain's order. Pure:
 * no I/O and no wall clock (windows are measured in log time), so the evaluator can save the state
 * with the alerts it produced and a restart neither loses nor repeats one.
 */
export class RuleEngine {
  constructor(
    private readonly rules: AlertRulesConfig,
    readonly state: RuleState = emptyRuleState(),
  ) {}

  /** The alerts `row` completes (usually none). */
  observe(row: ExchangeRow): RaisedAlert[] {
    if (row.kind === 'alert') return []
    const raised: RaisedAlert[] = []
    const push = (alert: RaisedAlert | undefined) => {
      if (alert) raised.push(alert)
    }
    const { rules } = this
    const detail = detailOf(row)
    if (rules.denial_burst && row.decision === 'deny' && row.subject && row.kind !== 'auth_failure')
      push(this.burst('denial_burst', row.subject, row, rules.denial_burst, 'refusals'))
    if (rules.auth_failures && row.kind === 'auth_failure' && row.peer)
      push(
        this.burst('auth_failures', peerHost(row.peer), row, rules.auth_failures, 'failed authentications'),
      )
    if (rules.new_peer && row.subject && row.peer && CREDENTIAL_KINDS.has(row.kind)) push(this.newPeer(row))
    if (
      rules.issuance_spike &&
      row.decision === 'allow' &&
      row.subject &&
      row.token_id &&
      row.kind !== 'revoke'
    )
      if (row.kind === 'issue' || row.kind === 'delegate') push(this.spike(row, rules.issuance_spike))
    if (rules.approval_requested && row.decision === 'pending' && row.approval_id && detail.approval_created)
      push({
        rule: 'approval_requested',
        subject: row.subject ?? '',
        at: row.ts,
        exchangeIds: [row.id],
        count: 1,
        summary: `${row.subject} asked for ${describeRequest(row)}; approval ${row.approval_id} waits for a person`,
        extra: { approval_id: row.approval_id, grant: row.grant_name ?? '' },
      })
    if (row.decision === 'deny' && detail.code === 'ERR_TOO_MANY_APPROVALS' && row.subject)
      push(this.approvalCap(row))
    return raised
  }

  /** `count` matching rows for one key within `window` seconds: one alert, then quiet for a window. */
  private burst(
    rule: 'denial_burst' | 'auth_failures',
    key: string,
    row: ExchangeRow,
    limits: { count: number; window: number },
    what: string,
  ): RaisedAlert | undefined {
    const id = `${rule}/${key}`
    if ((this.state.quiet[id] ?? 0) > row.ts) return undefined
    const windowMs = limits.window * 1000
    const recent = (this.state.windows[id] ?? []).filter(([ts]) => ts > row.ts - windowMs)
    recent.push([row.ts, row.id])
    if (recent.length < limits.count) {
      this.state.windows[id] = recent.slice(-limits.count)
      return undefined
    }
    delete this.state.windows[id]
    this.state.quiet[id] = row.ts + windowMs
    return {
      rule,
      subject: key,
      at: row.ts,
      exchangeIds: recent.slice(-MAX_IDS).map(([, exchangeId]) => exchangeId),
      count: recent.length,
      summary: `${recent.length} ${what} for ${key} within ${limits.window}s`,
      extra: { window_seconds: limits.window },
    }
  }

  /** A subject's first address is learnt silently; each address after that raises once. */
  private newPeer(row: ExchangeRow): RaisedAlert | undefined {
    const subject = row.subject!
    const host = peerHost(row.peer!)
    const known = this.state.peers[subject]
    if (!known) {
      this.state.peers[subject] = [host]
      return undefined
    }
    if (known.includes(host)) return undefined
    known.push(host)
    if (known.length > MAX_PEERS_PER_SUBJECT) known.shift()
    return {
      rule: 'new_peer',
      subject,
      at: row.ts,
      exchangeIds: [row.id],
      count: 1,
      summary: `${subject} used ${host} for the first time (known: ${known.slice(0, -1).slice(-5).join(', ')})`,
      extra: { peer: host },
    }
  }

  /** Tokens minted to one subject in the window, against its trailing hourly rate scaled to the window. */
  private spike(
    row: ExchangeRow,
    limits: { factor: number; window: number; min_count: number },
  ): RaisedAlert | undefined {
    const subject = row.subject!
    const windowMs = limits.window * 1000
    const buckets = this.state.minted[subject] ?? {}
    this.state.minted[subject] = buckets
    const bucket = String(Math.floor(row.ts / SPIKE_BUCKET_MS) * SPIKE_BUCKET_MS)
    buckets[bucket] = (buckets[bucket] ?? 0) + 1
    const windowKey = `issuance_spike/${subject}`
    const ids = (this.state.windows[windowKey] ?? []).filter(([ts]) => ts > row.ts - windowMs)
    ids.push([row.ts, row.id])
    this.state.windows[windowKey] = ids.slice(-MAX_IDS)
    let inWindow = 0
    let before = 0
    for (const [start, n] of Object.entries(buckets)) {
      const ts = Number(start)
      if (ts <= row.ts - windowMs - HOUR_MS) delete buckets[start]
      else if (ts > row.ts - windowMs) inWindow += n
      else before += n
    }
    const baseline = (before * windowMs) / HOUR_MS
    const threshold = Math.max(limits.min_count, limits.factor * baseline)
    if (inWindow < threshold || (this.state.quiet[windowKey] ?? 0) > row.ts) return undefined
    this.state.quiet[windowKey] = row.ts + windowMs
    return {
      rule: 'issuance_spike',
      subject,
      at: row.ts,
      exchangeIds: ids.map(([, id]) => id).slice(-MAX_IDS),
      count: inWindow,
      summary: `${inWindow} tokens for ${subject} within ${limits.window}s (trailing rate ${baseline.toFixed(1)} per window)`,
      extra: { window_seconds: limits.window, baseline: Number(baseline.toFixed(2)) },
    }
  }

  private approvalCap(row: ExchangeRow): RaisedAlert | undefined {
    const id = `approval_cap/${row.subject}`
    if ((this.state.quiet[id] ?? 0) > row.ts) return undefined
    this.state.quiet[id] = row.ts + APPROVAL_CAP_QUIET_MS
    return {
      rule: 'approval_cap',
      subject: row.subject!,
      at: row.ts,
      exchangeIds: [row.id],
      count: 1,
      summary: `${row.subject} hit the cap on pending approvals; its further requests are refused`,
    }
  }

  /**
   * Forget what can no longer matter at log time `nowMs` (ended quiet periods, windows and buckets
   * older than the longest window plus an hour), then drop the oldest keys beyond MAX_KEYS.
   * The evaluator calls this once per batch.
   */
  compact(nowMs: number): void {
    const horizon = nowMs - 2 * HOUR_MS
    for (const [key, until] of Object.entries(this.state.quiet))
      if (until <= nowMs) delete this.state.quiet[key]
    for (const [key, entries] of Object.entries(this.state.windows))
      if ((entries.at(-1)?.[0] ?? 0) < horizon) delete this.state.windows[key]
    for (const [subject, buckets] of Object.entries(this.state.minted))
      if (Object.keys(buckets).every((start) => Number(start) < horizon)) delete this.state.minted[subject]
    for (const table of [this.state.windows, this.state.quiet, this.state.peers, this.state.minted]) {
      const keys = Object.keys(table)
      for (const key of keys.slice(0, Math.max(0, keys.length - MAX_KEYS)))
        delete (table as Record<string, unknown>)[key]
    }
  }
}

function describeRequest(row: ExchangeRow): string {
  if (row.kind === 'fetch') return `secret ${row.secret_name ?? '?'}`
  return `${row.audience ?? '?'} [${row.scopes ?? ''}]`
}

/** The alert raised when the periodic verification finds the log altered. */
export function chainBrokenAlert(
  at: number,
  result: { firstBadNodeId?: string; firstBadSeq?: number; firstBadId?: string; problem?: string },
): RaisedAlert {
  const chain = result.firstBadNodeId ?? ''
  return {
    rule: 'audit_chain_broken',
    subject: chain === '' ? 'audit-log' : chain,
    at,
    exchangeIds: result.firstBadId ? [result.firstBadId] : [],
    count: 1,
    summary: `audit log verification failed at chain "${chain}" seq ${result.firstBadSeq ?? '?'}: ${result.problem ?? 'mismatch'}`,
    extra: { first_bad_node_id: chain, first_bad_seq: result.firstBadSeq ?? 0 },
  }
}
