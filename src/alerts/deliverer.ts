import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { AlertSinkConfig } from '../config/index.js'
import type { AlertOutbox, AlertOutboxRow } from '../storage/ports.js'
import { SIGNATURE_HEADER, signBody } from './events.js'

/** A configured sink with its HMAC key read from secret_file. */
export interface Sink {
  config: AlertSinkConfig
  key: Buffer
}

export interface DelivererOptions {
  outbox: AlertOutbox
  sinks: ReadonlyMap<string, Sink>
  clock: Clock
  logger: Logger
  /** Rows taken per pass. */
  batch?: number
  /** Jitter source in [0, 1) (tests make it deterministic). */
  random?: () => number
}

/**
 * Retry delay after `attempts` failures: initial × 2^(attempts−1), at most `max`, times a jitter
 * in [0.5, 1) so replicas and sinks recovering together do not retry in lockstep.
 */
export function backoffMs(attempts: number, initialMs: number, maxMs: number, random: () => number): number {
  const exponential = Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)))
  return Math.round(exponential * (0.5 + random() / 2))
}

/**
 * Drains the alert outbox: claims due rows (SKIP LOCKED on PostgreSQL, so replicas never send one
 * row at once), POSTs each signed body, and records the outcome. Runs on its own timer: nothing on
 * an exchange's path waits for a sink. A row stays in the outbox until a sink answers 2xx, so a
 * restart resends what was not confirmed (at least once).
 */
export class AlertDeliverer {
  readonly #inflight = new Set<AbortController>()
  #running: Promise<void> | undefined
  #stopped = false

  constructor(private readonly options: DelivererOptions) {}

  /** One pass over the due rows; concurrent calls share the pass in progress. */
  drain(): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  /** Abort POSTs in flight (their rows stay claimed until the lease ends, then are retried). */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const controller of this.#inflight) controller.abort()
    await this.#running?.catch(() => {})
  }

  /** How long a claimed row is reserved: the longest POST timeout plus slack. */
  get leaseMs(): number {
    const longest = Math.max(5, ...[...this.options.sinks.values()].map((s) => s.config.timeout))
    return (longest + 5) * 1000
  }

  async #pass(): Promise<void> {
    const { outbox, clock } = this.options
    const rows = await outbox.claim(clock.now(), this.options.batch ?? 20, this.leaseMs)
    await Promise.all(rows.map((row) => this.#deliver(row)))
  }

  async #deliver(row: AlertOutboxRow): Promise<void> {
    const { outbox, clock, logger } = this.options
    const sink = this.options.sinks.get(row.sink)
    if (!sink) {
      await outbox.markFailed(
        row.id,
        row.sink,
        `sink "${row.sink}" is no longer configured`,
        clock.now(),
        true,
      )
      return
    }
    const problem = await this.#post(sink, row.body)
    if (this.#stopped && problem !== undefined) return
    const now = clock.now()
    if (problem === undefined) {
      await outbox.markDelivered(row.id, row.sink, now)
      logger.info({ alert_id: row.id, sink: row.sink, rule: row.rule }, 'alert delivered')
      return
    }
    const attempts = row.attempts + 1
    const giveUp = now - row.created_at >= sink.config.give_up_after * 1000
    const delay = backoffMs(
      attempts,
      sink.config.initial_backoff * 1000,
      sink.config.max_backoff * 1000,
      this.options.random ?? Math.random,
    )
    await outbox.markFailed(row.id, row.sink, problem, now + delay, giveUp)
    logger.warn(
      { alert_id: row.id, sink: row.sink, attempts, problem, retry_in_ms: giveUp ? undefined : delay },
      giveUp ? 'alert delivery failed for good' : 'alert delivery failed; will retry',
    )
  }

  /** POST one body; undefined on a 2xx answer, otherwise what went wrong (for last_error). */
  async #post(sink: Sink, body: string): Promise<string | undefined> {
    const controller = new AbortController()
    this.#inflight.add(controller)
    const timer = setTimeout(() => controller.abort(new Error('timeout')), sink.config.timeout * 1000)
    try {
      const response = await fetch(sink.config.url, {
        method: 'POST',
        headers: {
          'content-type':
            sink.config.format === 'cloudevents'
              ? 'application/cloudevents+json; charset=utf-8'
              : 'application/json; charset=utf-8',
          [SIGNATURE_HEADER]: signBody(body, sink.key),
          'user-agent': 'keybroker-alerts',
        },
        body,
        signal: controller.signal,
        redirect: 'manual',
      })
      await response.body?.cancel().catch(() => {})
      return response.ok ? undefined : `HTTP ${response.status} from ${sink.config.name}`
    } catch (err) {
      if (controller.signal.aborted && !this.#stopped)
        return `no answer from ${sink.config.name} within ${sink.config.timeout}s`
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      return `${sink.config.name} unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`
    } finally {
      clearTimeout(timer)
      this.#inflight.delete(controller)
    }
  }
}
