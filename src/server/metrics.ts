import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ExchangeEvent } from '../exchange/index.js'

const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const

export interface MetricsSources {
  /** ms since the key that signs now started signing; undefined while no key is loaded. */
  signingKeyAgeMs: () => number | undefined
  /** Revoked tokens whose `exp` has not passed. */
  revokedLive: () => number
}

/**
 * The broker's Prometheus metrics (DESIGN.md "Metrics"), on its own registry so several brokers
 * in one process (tests) do not collide. Fed by the exchange `observe` hook and the audit writer;
 * gauges are read at scrape time. Labels are low-cardinality by design: never a subject or token.
 */
export class BrokerMetrics {
  readonly registry = new Registry()
  readonly exchanges: Counter<'kind' | 'decision'>
  readonly exchangeDuration: Histogram<'kind'>
  readonly upstreamRequests: Counter<'provider' | 'result'>
  readonly secretCache: Counter<'result'>
  readonly auditWriteDuration: Histogram
  readonly watchersDropped: Counter
  readonly upstreamCircuitState: Gauge<'provider'>
  readonly proxyLeaksRedacted: Counter<'route'>
  readonly connectionsRefused: Counter<'listener' | 'reason'>
  readonly rateLimited: Counter<'kind'>
  readonly budgetExhausted: Counter
  readonly authFailuresSuppressed: Counter
  readonly #exchangeCounters = new Map<string, Counter.Internal>()
  readonly #exchangeDurations = new Map<string, Histogram.Internal<'kind'>>()

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    this.exchanges = new Counter({
      name: 'keybroker_exchanges_total',
      help: 'Exchanges recorded, by kind and decision (allow, deny, error).',
      labelNames: ['kind', 'decision'],
      registers,
    })
    this.exchangeDuration = new Histogram({
      name: 'keybroker_exchange_duration_seconds',
      help: 'Time from receiving an exchange to its audit row being committed.',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.upstreamRequests = new Counter({
      name: 'keybroker_upstream_requests_total',
      help: 'Requests to secret providers, by provider and result.',
      labelNames: ['provider', 'result'],
      registers,
    })
    this.secretCache = new Counter({
      name: 'keybroker_secret_cache_total',
      help: 'Secret cache lookups, by result (hit, miss, stale).',
      labelNames: ['result'],
      registers,
    })
    new Gauge({
      name: 'keybroker_signing_key_age_seconds',
      help: 'How long the key that signs now has been signing.',
      registers,
      collect() {
        const age = sources.signingKeyAgeMs()
        if (age !== undefined) this.set(age / 1000)
      },
    })
    this.auditWriteDuration = new Histogram({
      name: 'keybroker_audit_write_duration_seconds',
      help: 'Time for an audit append to be committed (group commit included).',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2],
      registers,
    })
    new Gauge({
      name: 'keybroker_revoked_tokens_live',
      help: 'Revoked tokens that have not expired yet (kept in the revocation list).',
      registers,
      collect() {
        this.set(sources.revokedLive())
      },
    })
    this.watchersDropped = new Counter({
      name: 'keybroker_watchers_dropped_total',
      help: 'WatchExchanges streams dropped because the watcher stopped reading.',
      registers,
    })
    this.upstreamCircuitState = new Gauge({
      name: 'keybroker_upstream_circuit_state',
      help: 'Circuit breaker per secret provider: 0 closed, 1 half-open (probing), 2 open (failing fast).',
      labelNames: ['provider'],
      registers,
    })
    this.proxyLeaksRedacted = new Counter({
      name: 'keybroker_proxy_leaks_redacted_total',
      help: 'Copies of an injected key found in upstream responses and masked, by route.',
      labelNames: ['route'],
      registers,
    })
    this.connectionsRefused = new Counter({
      name: 'keybroker_connections_refused_total',
      help: 'Connections closed at accept because their peer address held limits.max_connections_per_peer.',
      labelNames: ['listener', 'reason'],
      registers,
    })
    this.rateLimited = new Counter({
      name: 'keybroker_rate_limited_total',
      help: 'Calls refused by a grant rate_limit, by kind (issue: IssueToken/DelegateToken, proxy).',
      labelNames: ['kind'],
      registers,
    })
    this.budgetExhausted = new Counter({
      name: 'keybroker_budget_exhausted_total',
      help: 'Proxy requests refused because the token (or an ancestor) had no use left (max_uses).',
      registers,
    })
    this.authFailuresSuppressed = new Counter({
      name: 'keybroker_auth_failures_suppressed_total',
      help: 'Unauthenticated failures counted into a per-address summary row instead of a row each.',
      registers,
    })
    collectDefaultMetrics({ register: this.registry })
  }

  /** The providers' `onCircuitState` hook. */
  setCircuitState(provider: string, state: 'closed' | 'half-open' | 'open'): void {
    this.upstreamCircuitState.set({ provider }, CIRCUIT_STATE_VALUE[state])
  }

  /** The exchange `observe` hook. */
  observe(event: ExchangeEvent): void {
    // labelled children cached: prom-client hashes the label object on every inc/observe otherwise
    const key = `${event.kind} ${event.decision}`
    let counter = this.#exchangeCounters.get(key)
    if (!counter) {
      counter = this.exchanges.labels(event.kind, event.decision)
      this.#exchangeCounters.set(key, counter)
    }
    counter.inc()
    let duration = this.#exchangeDurations.get(event.kind)
    if (!duration) {
      duration = this.exchangeDuration.labels(event.kind)
      this.#exchangeDurations.set(event.kind, duration)
    }
    duration.observe(event.latencyUs / 1e6)
    if (event.code === 'ERR_RATE_LIMITED')
      this.rateLimited.inc({ kind: event.kind === 'proxy' ? 'proxy' : 'issue' })
    else if (event.code === 'ERR_BUDGET_EXHAUSTED') this.budgetExhausted.inc()
  }

  /** Time one audit append. */
  timeAuditWrite<T>(write: Promise<T>): Promise<T> {
    const started = performance.now()
    const done = () => this.auditWriteDuration.observe((performance.now() - started) / 1000)
    write.then(done, done)
    return write
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
