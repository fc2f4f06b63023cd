import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { ClusterRows, ReplicaRecord } from '../storage/ports.js'

/** A replica's clock further than this from the database's is warned about at start. */
export const MAX_CLOCK_SKEW_MS = 5_000
const HEARTBEAT_MS = 10_000
/** A replica that missed three heartbeats is no longer counted as live. */
const LIVE_WITHIN_MS = 3 * HEARTBEAT_MS

export interface MembershipOptions {
  cluster: ClusterRows
  nodeId: string
  version: string
  /** Read at every heartbeat: a config reload changes it. */
  policyHash: () => string
  clock: Clock
  logger: Logger
  heartbeatMs?: number
}

/**
 * This replica's row in `cluster_nodes`: heartbeats its policy hash, and compares it with every
 * other live replica's. A difference is logged as a warning once per (replica, hash) — during a
 * rollout that is expected and brief; when it lasts, it is drift. Liveness uses the database's
 * clock, so a replica with a wrong clock is neither seen dead nor kept alive by it.
 */
export class ClusterMembership {
  readonly #options: MembershipOptions
  #timer: NodeJS.Timeout | undefined
  #peers: ReplicaRecord[] = []
  #warned = new Set<string>()
  #clockOffsetMs: number | undefined

  constructor(options: MembershipOptions) {
    this.#options = options
  }

  /** Live replicas seen at the last heartbeat (this one included). */
  get replicas(): readonly ReplicaRecord[] {
    return this.#peers
  }

  /** Live replicas whose policy hash differs from this one's. */
  get disagreeing(): ReplicaRecord[] {
    const mine = this.#options.policyHash()
    return this.#peers.filter((p) => p.node_id !== this.#options.nodeId && p.policy_hash !== mine)
  }

  /** database clock − this replica's clock, in ms (measured at start); undefined before. */
  get clockOffsetMs(): number | undefined {
    return this.#clockOffsetMs
  }

  /** Check the clock, write the first heartbeat, compare, and keep heartbeating. Failures are logged, never thrown. */
  async start(): Promise<void> {
    await this.checkClock().catch((err) =>
      this.#options.logger.warn({ err }, 'could not compare this replica clock with the database clock'),
    )
    await this.beat()
    this.#timer = setInterval(() => void this.beat(), this.#options.heartbeatMs ?? HEARTBEAT_MS)
    this.#timer.unref()
  }

  /** Offset of the database's clock from ours, with the round trip's midpoint as our reading. */
  async checkClock(): Promise<number> {
    const before = this.#options.clock.now()
    const dbNow = await this.#options.cluster.databaseTime()
    const after = this.#options.clock.now()
    const offset = dbNow - (before + after) / 2
    this.#clockOffsetMs = offset
    if (Math.abs(offset) > MAX_CLOCK_SKEW_MS)
      this.#options.logger.warn(
        { clock_offset_ms: Math.round(offset), max_skew_ms: MAX_CLOCK_SKEW_MS },
        `this replica's clock is ${(Math.abs(offset) / 1000).toFixed(1)} s ${offset > 0 ? 'behind' : 'ahead of'} the database's: tokens it mints carry skewed iat/exp and other replicas may refuse them; fix NTP on this host`,
      )
    return offset
  }

  /** One heartbeat and comparison (the timer calls it; exposed for tests and shutdown). */
  async beat(): Promise<void> {
    const { cluster, nodeId, version, logger } = this.#options
    const policy_hash = this.#options.policyHash()
    try {
      await cluster.heartbeat({ node_id: nodeId, policy_hash, version })
      this.#peers = await cluster.live(LIVE_WITHIN_MS)
    } catch (err) {
      logger.warn({ err }, 'cluster heartbeat failed (the next one retries)')
      return
    }
    const others = this.disagreeing
    for (const peer of others) {
      const key = `${peer.node_id}\0${peer.policy_hash}\0${policy_hash}`
      if (this.#warned.has(key)) continue
      this.#warned.add(key)
      logger.warn(
        {
          peer_node_id: peer.node_id,
          peer_policy_hash: peer.policy_hash,
          policy_hash,
          peer_version: peer.version,
        },
        'replicas disagree on policy: another live replica loaded a different policy (a rollout in progress, or config drift)',
      )
    }
    if (others.length === 0 && this.#warned.size > 0) {
      this.#warned.clear()
      logger.info({ policy_hash }, 'replicas agree on policy again')
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#options.cluster.leave(this.#options.nodeId).catch(() => {})
  }
}
