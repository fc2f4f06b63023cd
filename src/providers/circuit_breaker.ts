import { type Clock, systemClock } from '../clock.js'
import { BrokerError, type BrokerErrorCode } from '../errors.js'

/** closed: calls go upstream; open: calls fail at once; half-open: one probe call decides. */
export type CircuitState = 'closed' | 'half-open' | 'open'

export interface CircuitPolicy {
  /** Consecutive upstream failures (unavailable or timed out) that open the circuit; default 5. */
  failures?: number
  /** How long the circuit stays open before its first probe; default 5 s. */
  openMs?: number
  /** Each failed probe doubles the open period, up to this; default 60 s. */
  maxOpenMs?: number
}

export interface CircuitBreakerOptions extends CircuitPolicy {
  /** Names the upstream in messages, e.g. `vault provider 'vault'`. */
  name: string
  clock?: Clock
  /** Uniform in [0, 1); the jitter source, injectable so tests are exact. */
  random?: () => number
  /** Called on every state change, and once at construction with `closed`. */
  onStateChange?(state: CircuitState, change: CircuitChange): void
}

export interface CircuitChange {
  /** The state left; undefined for the first report at construction. */
  previous?: CircuitState
  /** Consecutive failures so far (0 once closed). */
  failures: number
  /** While open: when the next probe may run (ms on the injected clock). */
  probeAt?: number
  /** The failure that opened the circuit (or kept it open), for logs. */
  lastError?: BrokerError
}

/** Failures that say the upstream is unwell. A refusal or a missing secret is an answer: it is up. */
const TRIPS: ReadonlySet<BrokerErrorCode> = new Set(['ERR_UPSTREAM_UNAVAILABLE', 'ERR_UPSTREAM_TIMEOUT'])

/** Open periods are shortened by up to this fraction at random, so many brokers do not probe in step. */
const JITTER = 0.2

const DEFAULTS: Required<CircuitPolicy> = { failures: 5, openMs: 5_000, maxOpenMs: 60_000 }

/**
 * A call refused without going upstream because the circuit is open. Same code as any unavailable
 * upstream, so the secret cache serves a stale value for it at once; its type tells the cache that
 * no request was made.
 */
export class CircuitOpenError extends BrokerError {
  /** When the next probe may run (ms on the breaker's clock); undefined while a probe is in flight. */
  readonly probeAt: number | undefined
  constructor(message: string, probeAt: number | undefined) {
    super('ERR_UPSTREAM_UNAVAILABLE', message)
    this.probeAt = probeAt
  }
}

/**
 * A circuit breaker for one upstream: after `failures` consecutive failures it opens and refuses calls
 * at once, so a failing upstream is not hammered and callers do not each wait out its timeout. Once
 * the open period ends, exactly one call goes through as a probe: success closes the circuit, failure
 * opens it again for twice as long (capped at `maxOpenMs`, with jitter).
 *
 * @example
 * const breaker = new CircuitBreaker({ name: "vault provider 'vault'", failures: 5, openMs: 5_000 })
 * const value = await breaker.run(() => vault.get(ref), `fetching secret ${ref.name}`)
 */
export class CircuitBreaker {
  readonly #o: CircuitBreakerOptions
  readonly #policy: Required<CircuitPolicy>
  readonly #clock: Clock
  readonly #random: () => number
  #state: CircuitState = 'closed'
  /** Consecutive failures, across openings, until a success. */
  #failures = 0
  /** Openings since the last success: the backoff exponent. */
  #openings = 0
  #probeAt = 0
  #probing = false
  #lastError: BrokerError | undefined

  constructor(opts: CircuitBreakerOptions) {
    this.#o = opts
    this.#policy = {
      failures: opts.failures ?? DEFAULTS.failures,
      openMs: opts.openMs ?? DEFAULTS.openMs,
      maxOpenMs: opts.maxOpenMs ?? DEFAULTS.maxOpenMs,
    }
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? Math.random
    this.#o.onStateChange?.('closed', { failures: 0 })
  }

  /** The current state; `open` stays `open` past the probe time until a call arrives to probe. */
  get state(): CircuitState {
    return this.#state
  }

  /**
   * Run one upstream call through the breaker. Rejects with CircuitOpenError without calling `work`
   * while the circuit is open; otherwise settles as `work` does. `doing` ends the refusal message
   * ("fetching secret stripe-key"). A call the caller cancelled (`signal` aborted) says nothing about
   * the upstream and is not counted.
   */
  async run<T>(work: () => Promise<T>, doing: string, signal?: AbortSignal): Promise<T> {
    const probe = this.#admit(doing)
    let result: T
    try {
      result = await work()
    } catch (err) {
      if (err instanceof BrokerError && TRIPS.has(err.code) && !signal?.aborted) this.#failed(err, probe)
      else if (signal?.aborted) this.#abandoned(probe)
      else this.#succeeded() // the upstream answered, even if the answer was no
      throw err
    }
    this.#succeeded()
    return result
  }

  /** True when a call now would be refused without going upstream. */
  isOpen(): boolean {
    if (this.#state === 'closed') return false
    if (this.#state === 'open') return this.#clock.now() < this.#probeAt || this.#probing
    return this.#probing
  }

  #admit(doing: string): boolean {
    if (this.#state === 'closed') return false
    const now = this.#clock.now()
    if (!this.#probing && (this.#state === 'half-open' || now >= this.#probeAt)) {
      this.#probing = true
      this.#setState('half-open')
      return true
    }
    throw this.#refusal(doing, now)
  }

  #succeeded(): void {
    this.#failures = 0
    this.#openings = 0
    this.#probing = false
    this.#lastError = undefined
    this.#setState('closed')
  }

  #failed(err: BrokerError, probe: boolean): void {
    this.#failures++
    this.#lastError = err
    if (probe) this.#probing = false
    if (probe && this.#state === 'half-open') this.#open()
    else if (this.#state === 'closed' && this.#failures >= this.#policy.failures) this.#open()
    // otherwise a call let through before the circuit opened failed after it: it is open already
  }

  /** A probe whose caller gave up: let the next call probe instead. */
  #abandoned(probe: boolean): void {
    if (probe) this.#probing = false
  }

  #open(): void {
    this.#openings++
    const { openMs, maxOpenMs } = this.#policy
    const base = Math.min(openMs * 2 ** Math.min(this.#openings - 1, 30), maxOpenMs)
    this.#probeAt = this.#clock.now() + Math.round(base * (1 - JITTER * this.#random()))
    this.#setState('open', true)
  }

  #setState(state: CircuitState, force = false): void {
    if (state === this.#state && !force) return
    const previous = this.#state
    this.#state = state
    this.#o.onStateChange?.(state, {
      previous,
      failures: this.#failures,
      ...(state === 'open' ? { probeAt: this.#probeAt } : {}),
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    })
  }

  /** Says the circuit is open, since when it has failed and when it will try again; never a value. */
  #refusal(doing: string, now: number): CircuitOpenError {
    // the code, not the last message: that one may name another secret this caller may not know of
    const last = this.#lastError?.code === 'ERR_UPSTREAM_TIMEOUT' ? 'timed out' : 'unavailable'
    const failing = `${this.#o.name} failed ${this.#failures} times in a row (last: ${last})`
    if (this.#probing) {
      return new CircuitOpenError(
        `${failing}: circuit breaker open, so it was not asked (${doing}); a probe is in flight`,
        undefined,
      )
    }
    const wait = ((this.#probeAt - now) / 1000).toFixed(1)
    return new CircuitOpenError(
      `${failing}: circuit breaker open, so it was not asked (${doing}); next probe in ${wait} s, at ${new Date(this.#probeAt).toISOString()}`,
      this.#probeAt,
    )
  }
}
