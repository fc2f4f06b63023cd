import type { Logger } from 'pino'
import { type RunningAlerts, startAlerts } from '../alerts/index.js'
import { type ChainAppender, verifyChain } from '../audit/index.js'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import type { Storage } from '../storage/ports.js'
import type { BrokerMetrics } from './metrics.js'

/** Start alert evaluation and delivery when the config has `alerts:` (else undefined). */
export function alertsFromConfig(
  config: BrokerConfig,
  parts: {
    storage: Storage
    audit: ChainAppender
    clock: Clock
    logger: Logger
    nodeId: string
    metrics: BrokerMetrics
  },
): RunningAlerts | undefined {
  if (!config.alerts) return undefined
  const { storage, audit } = parts
  return startAlerts({
    config: config.alerts,
    storage,
    record: (record) => audit.append(record),
    verifyLog: () => verifyChain(storage.reader),
    clock: parts.clock,
    logger: parts.logger,
    owner: parts.nodeId,
    source: config.issuer,
    registry: parts.metrics.registry,
  })
}
