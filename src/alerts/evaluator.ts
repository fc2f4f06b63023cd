import type { Logger } from 'pino'
import type { ExchangeRecord } from '../audit/index.js'
import { monotonicUlid } from '../audit/lib/ulid.js'
import type { VerifyChainResult } from '../audit/verify.js'
import type { Clock } from '../clock.js'
import type { AlertsConfig } from '../config/index.js'
import type { AlertOutboxRow, ChainCursor, Storage } from '../storage/ports.js'
import { alertBody } from './events.js'
import { chainBrokenAlert, emptyRuleState, type RaisedAlert, RuleEngine, type RuleState } from './rules.js'

/** The lease naming the one replica that evaluates rules, and the evaluator's saved state. */
export const LEADER_LEASE = 'alert-evaluator'
const STATE_NAME = 'alert-evaluator'
const PAGE = 500
/** Pages read per pass, so one pass over a long backlog does not hold the leader for minutes. */
const PAGES_PER_PASS = 20

interface SavedState {
  cursor: ChainCursor
  rules: RuleState
  /** the last verification failure alerted ("node:seq"), so a broken log alerts once, not every check */
  broken?: string
  verifiedAt?: number
}

export interface EvaluatorOptions {
  config: AlertsConfig
  storage: Pick<Storage, 'alerts' | 'reader'>
  /** Appends the alert's audit row (kind alert). */
  record: (record: ExchangeRecord) => Promise<unknown>
  verifyLog: () => Promise<VerifyChainResult>
  clock: Clock
  logger: Logger
  /** This process (leader lease owner). */
  owner: string
  /** `source` of the events: the broker's issuer URL. */
  source: string
  /** Sinks each alert goes to (empty: recorded only). */
  sinks: ReadonlyArray<{ name: string; format: 'cloudevents' | 'json' }>
  onAlert?: (alert: RaisedAlert) => void
}

/**
 * Reads the merged log past its cursor (one cursor per chain) and runs the rules over it, on the
 * replica holding the leader lease only. The alerts of a pass and the new cursor are written in one
 * transaction (AlertOutbox.enqueue), so a crash can neither lose an alert nor raise it twice; each
 * alert is then also an audit row (kind `alert`).
 */
export class AlertEvaluator {
  readonly #newId = monotonicUlid()
  /** undefined while not leader: state is re-read from the store on becoming leader */
  #state: SavedState | undefined
  #running: Promise<void> | undefined
  readonly #startedAt: number

  constructor(private readonly options: EvaluatorOptions) {
    this.#startedAt = options.clock.now()
  }

  /** One pass; concurrent calls share the pass in progress. */
  evaluate(): Promise<void> {
    this.#running ??= this.#pass()
      .catch((err) => {
        // the rule state in memory may be ahead of what was saved: start again from the store
        this.#state = undefined
        throw err
      })
      .finally(() => {
        this.#running = undefined
      })
    return this.#running
  }

  /** Give up leadership now (at shutdown), so another replica takes over without waiting for the lease. */
  async resign(): Promise<void> {
    await this.#running?.catch(() => {})
    if (this.#state === undefined) return
    this.#state = undefined
    await this.options.storage.alerts.lead(LEADER_LEASE, this.options.owner, -1, this.options.clock.now())
  }

  get leaseMs(): number {
    return Math.max(15_000, this.options.config.evaluate_every * 5000)
  }

  async #pass(): Promise<void> {
    const { storage, clock, owner } = this.options
    const leader = await storage.alerts.lead(LEADER_LEASE, owner, this.leaseMs, clock.now())
    if (!leader) {
      this.#state = undefined
      return
    }
    this.#state ??= await this.#load()
    const state = this.#state
    const engine = new RuleEngine(this.options.config.rules, state.rules)
    let cursor = state.cursor
    for (let page = 0; page < PAGES_PER_PASS; page++) {
      const read = await storage.reader.scan({}, cursor, PAGE)
      const raised = read.rows.flatMap((row) => engine.observe(row))
      const last = read.rows.at(-1)
      if (last) engine.compact(last.ts)
      cursor = read.cursor
      const moved = JSON.stringify(cursor) !== JSON.stringify(state.cursor)
      if (moved || raised.length > 0) await this.#commit(raised, { ...state, cursor, rules: engine.state })
      state.cursor = cursor
      if (read.rows.length < PAGE) break
    }
    await this.#maybeVerify(state)
  }

  /** Saved state, or a fresh start at this process's start (rows from then on are evaluated). */
  async #load(): Promise<SavedState> {
    const text = await this.options.storage.alerts.readState(STATE_NAME)
    if (text) {
      const saved = JSON.parse(text) as SavedState
      return { ...saved, rules: { ...emptyRuleState(), ...saved.rules } }
    }
    return { cursor: await this.options.storage.reader.cursorAt(this.#startedAt), rules: emptyRuleState() }
  }

  /** The audit log is verified every `audit_chain_broken.every`; a new failure raises one alert. */
  async #maybeVerify(state: SavedState): Promise<void> {
    const rule = this.options.config.rules.audit_chain_broken
    const now = this.options.clock.now()
    if (!rule || now - (state.verifiedAt ?? 0) < rule.every * 1000) return
    const result = await this.options.verifyLog()
    state.verifiedAt = now
    const key = result.ok ? undefined : `${result.firstBadNodeId ?? ''}:${result.firstBadSeq ?? 0}`
    if (key === state.broken) return
    state.broken = key
    await this.#commit(result.ok ? [] : [chainBrokenAlert(now, result)], state)
    if (!result.ok) this.options.logger.error({ ...result }, 'audit log verification failed')
  }

  async #commit(raised: RaisedAlert[], state: SavedState): Promise<void> {
    const { storage, clock, source, sinks } = this.options
    const now = clock.now()
    const rows: AlertOutboxRow[] = []
    const ids: string[] = []
    for (const alert of raised) {
      const id = this.#newId(now)
      ids.push(id)
      const targets = sinks.length > 0 ? sinks : [{ name: '', format: 'cloudevents' as const }]
      for (const sink of targets)
        rows.push({
          id,
          sink: sink.name,
          rule: alert.rule,
          subject: alert.subject,
          body: alertBody(alert, { id, source, format: sink.format }),
          state: sinks.length > 0 ? 'pending' : 'recorded',
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          created_at: now,
          delivered_at: null,
        })
    }
    await storage.alerts.enqueue(rows, { name: STATE_NAME, value: JSON.stringify(state) })
    raised.forEach((alert, i) => {
      this.options.onAlert?.(alert)
      this.#audit(alert, ids[i]!)
    })
  }

  /** The alert's audit row; a failure is logged (the alert itself is already safe in the outbox). */
  #audit(alert: RaisedAlert, id: string): void {
    const peerRule = alert.rule === 'auth_failures'
    this.options
      .record({
        kind: 'alert',
        decision: 'allow',
        subject: peerRule ? undefined : alert.subject,
        peer: peerRule ? alert.subject : undefined,
        reason: alert.summary,
        detail: {
          rule: alert.rule,
          alert_id: id,
          count: alert.count,
          exchange_ids: alert.exchangeIds.slice(0, 20).join(' '),
          sinks: this.options.sinks.map((s) => s.name).join(' '),
        },
      })
      .catch((err) =>
        this.options.logger.error({ err, alert_id: id }, 'could not record an alert in the audit log'),
      )
  }
}
