import type { Logger } from 'pino'
import { Gauge } from 'prom-client'
import type { AppendSource } from '../audit/index.js'
import type { Clock } from '../clock.js'
import { ClusterMembership } from '../cluster/membership.js'
import type { BrokerConfig } from '../config/index.js'
import type { RevocationList } from '../issuer/revocations.js'
import type { SigningKeys } from '../issuer/signing_keys.js'
import { policyHash } from '../policy/policy_hash.js'
import { BINARY_VERSION } from '../storage/migrations.js'
import type { Storage } from '../storage/ports.js'
import type { BrokerMetrics } from './metrics.js'

export interface ClusterWiringDeps {
  config: BrokerConfig
  storage: Storage
  nodeId: string
  revocations: RevocationList
  keys: SigningKeys
  /** This process's appends (local wake-ups of watches). */
  localAppends: AppendSource
  metrics: BrokerMetrics
  clock: Clock
  logger: Logger
}

export interface ClusterWiring {
  /** Local appends plus other replicas' (by notification): what WatchExchanges wakes on. */
  appends: AppendSource
  /** Hash of the policy loaded now (changes on reload). */
  policyHash(): string
  /** A config reload: the new policy's hash is published at the next heartbeat (and sent now). */
  configChanged(config: BrokerConfig): void
  membership: ClusterMembership | undefined
  close(): Promise<void>
}

/**
 * Everything that makes one process a replica among others on a shared database: wake-ups by
 * notification (revocations, other replicas' audit rows, key changes) on top of the polls that
 * remain the fallback, the membership heartbeat with its policy-hash and clock checks, and the
 * node's identity in /metrics. On SQLite only the metrics apply (one process, no notifications).
 */
export async function wireCluster(deps: ClusterWiringDeps): Promise<ClusterWiring> {
  const { storage, logger, metrics, nodeId } = deps
  let hash = policyHash(deps.config)
  const notifications = storage.notifications

  const refreshRevocations = coalesced(
    () => deps.revocations.refresh(),
    (err) => logger.error({ err }, 'revocation list refresh failed'),
  )
  const reloadKeys = coalesced(
    () => deps.keys.reload(),
    (err) => logger.error({ err }, 'signing key reload failed'),
  )
  const unsubscribe: Array<() => void> = []
  if (notifications) {
    let wasUp: boolean | undefined
    notifications.onState?.((up, err) => {
      if (up === wasUp) return
      wasUp = up
      if (up) logger.info('listening for cluster notifications (revocations, appends, keys)')
      else
        logger.warn(
          { err: err?.message },
          'the notification connection is down: revocations and other replicas rows arrive by the 1 s poll until it reconnects',
        )
    })
    unsubscribe.push(notifications.on('revocation', refreshRevocations), notifications.on('keys', reloadKeys))
  }

  const membership = storage.cluster
    ? new ClusterMembership({
        cluster: storage.cluster,
        nodeId,
        version: BINARY_VERSION,
        policyHash: () => hash,
        clock: deps.clock,
        logger,
      })
    : undefined
  await membership?.start()

  const registers = [metrics.registry]
  const nodeInfo = new Gauge({
    name: 'keybroker_node_info',
    help: 'This replica: its audit chain (node_id), the hash of its loaded policy, its version. Always 1.',
    labelNames: ['node_id', 'policy_hash', 'version'],
    registers,
    collect() {
      this.reset()
      this.set({ node_id: nodeId, policy_hash: hash, version: BINARY_VERSION }, 1)
    },
  })
  void nodeInfo
  if (notifications)
    new Gauge({
      name: 'keybroker_cluster_notifications_listening',
      help: '1 while the LISTEN connection is up; 0 means revocations and peers rows arrive by the 1 s poll only.',
      registers,
      collect() {
        this.set(notifications.listening ? 1 : 0)
      },
    })
  if (membership) {
    new Gauge({
      name: 'keybroker_cluster_replicas',
      help: 'Live replicas on this database (heartbeat within 30 s), this one included.',
      registers,
      collect() {
        this.set(membership.replicas.length)
      },
    })
    new Gauge({
      name: 'keybroker_cluster_policy_disagreements',
      help: 'Live replicas whose loaded policy hash differs from this one (a rollout, or drift).',
      registers,
      collect() {
        this.set(membership.disagreeing.length)
      },
    })
    new Gauge({
      name: 'keybroker_clock_offset_seconds',
      help: "The database clock minus this replica's clock, measured at start.",
      registers,
      collect() {
        if (membership.clockOffsetMs !== undefined) this.set(membership.clockOffsetMs / 1000)
      },
    })
  }

  const appends: AppendSource = {
    onAppend(listener) {
      const offLocal = deps.localAppends.onAppend(listener)
      // an empty batch means "rows were committed elsewhere": the watch re-reads from its cursor
      const offRemote = notifications?.on('append', () => listener([]))
      return () => {
        offLocal()
        offRemote?.()
      }
    },
  }

  return {
    appends,
    policyHash: () => hash,
    configChanged(config) {
      const next = policyHash(config)
      if (next === hash) return
      hash = next
      logger.info({ policy_hash: hash }, 'policy reloaded')
      void membership?.beat()
    },
    membership,
    async close() {
      for (const off of unsubscribe) off()
      await membership?.stop()
    },
  }
}

/** Run `task` now, or once more right after the run in progress (a wake-up during a read is never lost). */
function coalesced(task: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false
  let again = false
  const run = (): void => {
    if (running) {
      again = true
      return
    }
    running = true
    task()
      .catch(onError)
      .finally(() => {
        running = false
        if (again) {
          again = false
          run()
        }
      })
  }
  return run
}
