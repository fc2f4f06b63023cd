import type { Logger } from 'pino'
import type { ExchangeEvent } from '../exchange/index.js'
import type { BrokerMetrics } from './metrics.js'

/**
 * One structured line per exchange; exchange_id is the request id that ties a log line to its
 * audit row and to the id the caller got. Only non-secret fields are copied in. Allowed exchanges
 * log at debug: the audit row is their record, and a line per issued token costs a write(2) on the
 * hot path; refusals stay at info and failures at warn.
 */
export function exchangeObserver(metrics: BrokerMetrics, logger: Logger): (event: ExchangeEvent) => void {
  return (event) => {
    metrics.observe(event)
    const level = event.decision === 'error' ? 'warn' : event.decision === 'deny' ? 'info' : 'debug'
    if (!logger.isLevelEnabled(level)) return
    const line = {
      exchange_id: event.exchangeId,
      kind: event.kind,
      decision: event.decision,
      subject: event.subject,
      latency_us: event.latencyUs,
      code: event.code,
    }
    logger[level](line, event.decision === 'error' ? 'exchange failed' : 'exchange')
  }
}
