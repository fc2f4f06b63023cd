import type { AppendHealth } from '../audit/index.js'
import type { Clock } from '../clock.js'
import type { Storage } from '../storage/ports.js'

/** How long a failed audit commit keeps the broker not ready (when nothing has committed since). */
const RECENT_FAILURE_MS = 5000

export interface ReadinessOptions {
  clock: Clock
  storage: Storage
  appendHealth: AppendHealth
  keysReady: () => boolean
  /** How often the background probe runs (and how long one may take). Default 1000 ms. */
  probeMs?: number
  /** A commit in flight longer than this means the writer is stuck. Default 1000 ms. */
  stuckMs?: number
}

/**
 * Whether the broker can serve, answered from state, never by touching the database on the
 * request path (a probe that waits on a lock would stall every caller, as /readyz once did).
 * A background probe does a real write-lock round trip through the storage port each `probeMs`;
 * its result, the appender's last commit and a stuck in-flight commit decide readiness.
 */
export class Readiness {
  readonly #options: Required<ReadinessOptions>
  readonly #timer: NodeJS.Timeout
  #probeError: string | undefined
  #probeErrorAt = 0
  #probing = false

  constructor(options: ReadinessOptions) {
    this.#options = { probeMs: 1000, stuckMs: 1000, ...options }
    this.#timer = setInterval(() => this.#probe(), this.#options.probeMs)
    this.#timer.unref()
    this.#probe()
  }

  /** undefined when ready, else why not (for /readyz and gRPC health). */
  problem(): string | undefined {
    const { appendHealth: health, clock, stuckMs } = this.#options
    if (!this.#options.keysReady()) return 'signing keys not loaded'
    if (health.inFlightSince !== undefined && clock.now() - health.inFlightSince > stuckMs)
      return `audit writer stuck: a commit has been in flight for ${clock.now() - health.inFlightSince} ms`
    // a failed commit counts for RECENT_FAILURE_MS unless a commit succeeded since
    const error = health.lastError
    if (
      error &&
      (health.lastOkAt === undefined || error.at > health.lastOkAt) &&
      clock.now() - error.at < RECENT_FAILURE_MS
    )
      return `audit database not writable: ${error.code}`
    // a commit that succeeded after the failed probe proves the database writable again
    if (this.#probeError && !(health.lastOkAt !== undefined && health.lastOkAt > this.#probeErrorAt))
      return `audit database not writable: ${this.#probeError}`
    return undefined
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  #probe(): void {
    if (this.#probing) {
      this.#probeError ??= 'probe did not finish'
      return
    }
    this.#probing = true
    this.#options.storage
      .ping(this.#options.probeMs)
      .then(
        () => {
          this.#probeError = undefined
        },
        (err: Error & { code?: string; driverCode?: string }) => {
          this.#probeError = err.driverCode ?? err.code ?? err.message
          this.#probeErrorAt = this.#options.clock.now()
        },
      )
      .finally(() => {
        this.#probing = false
      })
  }
}
