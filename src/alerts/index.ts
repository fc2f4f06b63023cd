import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { ExchangeRecord } from '../audit/index.js'
import type { VerifyChainResult } from '../audit/verify.js'
import type { Clock } from '../clock.js'
import type { AlertsConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { Storage } from '../storage/ports.js'
import { AlertDeliverer, type Sink } from './deliverer.js'
import { AlertEvaluator } from './evaluator.js'

export { alertBody, alertDataOf, SIGNATURE_HEADER, signBody, verifySignature } from './events.js'
export type { AlertRule, RaisedAlert } from './rules.js'

export interface AlertsOptions {
  config: AlertsConfig
  storage: Storage
  record: (record: ExchangeRecord) => Promise<unknown>
  verifyLog: () => Promise<VerifyChainResult>
  clock: Clock
  logger: Logger
  owner: string
  source: string
  registry: Registry
  /** How often the outbox is drained. */
  deliverEveryMs?: number
}

export interface RunningAlerts {
  /** Evaluate now (e.g. a requester hit the approval cap); never awaited on an exchange's path. */
  wake(): void
  evaluator: AlertEvaluator
  deliverer: AlertDeliverer
  stop(): Promise<void>
}

/** Each sink's HMAC key from its secret_file: unreadable or empty fails the start, naming the option. */
export function readSinks(config: AlertsConfig): Map<string, Sink> {
  const sinks = new Map<string, Sink>()
  config.sinks.forEach((sink, i) => {
    let key: Buffer
    try {
      key = Buffer.from(readFileSync(sink.secret_file, 'utf8').trim())
    } catch (err) {
      throw new BrokerError(
        'ERR_CONFIG',
        `alerts.sinks[${i}].secret_file: cannot read ${sink.secret_file}: ${(err as Error).message}`,
      )
    }
    if (key.length < 16)
      throw new BrokerError(
        'ERR_CONFIG',
        `alerts.sinks[${i}].secret_file: ${sink.secret_file} holds ${key.length} bytes; use at least 16 random bytes (e.g. openssl rand -hex 32)`,
      )
    sinks.set(sink.name, { config: sink, key })
  })
  return sinks
}

/**
 * Alerts for a broker: the rules evaluator (leader only) and the outbox deliverer (every replica),
 * each on its own unref'd timer; `keybroker_alerts_total{rule}` counts what was raised here.
 */
export function startAlerts(options: AlertsOptions): RunningAlerts {
  const { config, logger } = options
  const sinks = readSinks(config)
  const raised = new Counter({
    name: 'keybroker_alerts_total',
    help: 'Alerts raised by the rules (on the replica that evaluates them), by rule.',
    labelNames: ['rule'],
    registers: [options.registry],
  })
  const evaluator = new AlertEvaluator({
    config,
    storage: options.storage,
    record: options.record,
    verifyLog: options.verifyLog,
    clock: options.clock,
    logger,
    owner: options.owner,
    source: options.source,
    sinks: config.sinks.map((s) => ({ name: s.name, format: s.format })),
    onAlert: (alert) => raised.inc({ rule: alert.rule }),
  })
  const deliverer = new AlertDeliverer({
    outbox: options.storage.alerts,
    sinks,
    clock: options.clock,
    logger,
  })
  const evaluate = () =>
    evaluator.evaluate().then(
      () => (sinks.size > 0 ? deliverer.drain() : undefined),
      (err) => logger.error({ err }, 'alert evaluation failed'),
    )
  const drain = () => deliverer.drain().catch((err) => logger.error({ err }, 'alert delivery pass failed'))
  const timers = [setInterval(evaluate, config.evaluate_every * 1000)]
  if (sinks.size > 0) timers.push(setInterval(drain, options.deliverEveryMs ?? 1000))
  for (const t of timers) t.unref()
  return {
    wake: () => void evaluate(),
    evaluator,
    deliverer,
    async stop() {
      for (const t of timers) clearInterval(t)
      await deliverer.stop()
      await evaluator.resign().catch((err) => logger.warn({ err }, 'could not resign the alert leader lease'))
    },
  }
}
