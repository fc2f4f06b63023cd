import { statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
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
  /** How often the background probe runs. Default 300 ms. */
  probeMs?: number
  /**
   * A probe still waiting this long means the database is not answering (a lock, a stuck disk):
   * not ready at once, without waiting for the probe's own timeout. Default 600 ms.
   */
  slowProbeMs?: number
  /** How long one probe may take before it fails (a lock fails sooner, at the busy timeout). Default 5000 ms. */
  probeTimeoutMs?: number
  /** A commit in flight longer than this means the writer is stuck. Default 1000 ms. */
  stuckMs?: number
  /** Not ready below this many free bytes where the database lives. Default 0 (no check). */
  minFreeBytes?: number
  /**
   * Free bytes where the database lives, read in the background probe (undefined: unknown, e.g.
   * PostgreSQL). Default: statfs of a SQLite file's folder. Tests inject a reading.
   */
  freeBytes?: () => Promise<number | undefined>
  /** A damaged database found after start (the background quick_check of a large file). */
  damage?: () => string | undefined
}

/** The driver codes of "no space left": they keep the broker not ready until space is proven again. */
const FULL_CODES = new Set(['SQLITE_FULL', 'FULL', '53100', 'ENOSPC'])

/**
 * Whether the broker can serve, answered from state, never by touching the database on the
 * request path (a probe that waits on a lock would stall every caller, as /readyz once did).
 * A background probe does a real write-lock round trip through the storage port each `probeMs`
 * (a probe still waiting after `slowProbeMs` counts as a failure) and reads the free space; its result, the appender's last commit and a stuck in-flight commit
 * decide readiness. A full database stays not ready until a commit or an allocating probe
 * succeeds after it (a refusal that merely aged would otherwise read as ready while every write fails).
 */
export class Readiness {
  readonly #options: Required<Omit<ReadinessOptions, 'freeBytes' | 'damage'>> &
    Pick<ReadinessOptions, 'freeBytes' | 'damage'>
  readonly #timer: NodeJS.Timeout
  #probeError: string | undefined
  #probeErrorAt = 0
  #probing = false
  /** unix ms the probe in flight started */
  #probeStartedAt = 0
  /** unix ms of the last "no space" failure not yet followed by a proven write */
  #fullAt: number | undefined
  /** unix ms of the last allocating probe that succeeded: failures before it are settled */
  #spaceProvenAt = 0
  #freeBytes: number | undefined

  constructor(options: ReadinessOptions) {
    this.#options = {
      probeMs: 300,
      slowProbeMs: 600,
      probeTimeoutMs: 5000,
      stuckMs: 1000,
      minFreeBytes: 0,
      freeBytes: defaultFreeBytes(options.storage),
      ...options,
    }
    this.#timer = setInterval(() => this.#probe(), this.#options.probeMs)
    this.#timer.unref()
    this.#probe()
  }

  /** undefined when ready, else why not (for /readyz and gRPC health). */
  problem(): string | undefined {
    const { appendHealth: health, clock, stuckMs, minFreeBytes } = this.#options
    if (!this.#options.keysReady()) return 'signing keys not loaded'
    const damage = this.#options.damage?.()
    if (damage) return damage
    if (health.inFlightSince !== undefined && clock.now() - health.inFlightSince > stuckMs)
      return `audit writer stuck: a commit has been in flight for ${clock.now() - health.inFlightSince} ms`
    const error = health.lastError
    const failedSinceOk = error && (health.lastOkAt === undefined || error.at > health.lastOkAt)
    if (failedSinceOk && FULL_CODES.has(error.code) && error.at > this.#spaceProvenAt)
      this.#fullAt = Math.max(this.#fullAt ?? 0, error.at)
    if (this.#fullAt !== undefined && health.lastOkAt !== undefined && health.lastOkAt > this.#fullAt)
      this.#fullAt = undefined
    if (this.#fullAt !== undefined) return 'audit database full: no space for new rows'
    if (this.#freeBytes !== undefined && this.#freeBytes < minFreeBytes)
      return `audit database disk nearly full: ${mib(this.#freeBytes)} MiB free, below the ${mib(minFreeBytes)} MiB threshold (storage.min_free_mb)`
    const waiting = this.#probing ? clock.now() - this.#probeStartedAt : 0
    if (waiting > this.#options.slowProbeMs)
      return `audit database not answering: a write-lock probe has waited ${waiting} ms`
    // a failed commit counts for RECENT_FAILURE_MS unless a commit succeeded since
    if (failedSinceOk && clock.now() - error.at < RECENT_FAILURE_MS)
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
    if (this.#probing) return // still waiting: problem() reports it once it is slow
    this.#probing = true
    this.#probeStartedAt = this.#options.clock.now()
    // after "no space", the probe itself must allocate: a lock round trip would pass on a full disk
    const fullAt = this.#fullAt
    const free = this.#options.freeBytes?.().then(
      (bytes) => {
        this.#freeBytes = bytes
      },
      () => {
        this.#freeBytes = undefined
      },
    )
    const ping = this.#options.storage
      .ping(this.#options.probeTimeoutMs, { allocate: fullAt !== undefined })
      .then(
        () => {
          this.#probeError = undefined
          if (fullAt !== undefined && this.#fullAt === fullAt) {
            this.#fullAt = undefined
            this.#spaceProvenAt = this.#options.clock.now()
          }
        },
        (err: Error & { code?: string; driverCode?: string }) => {
          this.#probeError = err.driverCode ?? err.code ?? err.message
          this.#probeErrorAt = this.#options.clock.now()
          if (FULL_CODES.has(this.#probeError)) this.#fullAt = this.#probeErrorAt
        },
      )
    void Promise.all([free, ping]).finally(() => {
      this.#probing = false
    })
  }
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)
}

/** statfs of the folder of a SQLite file (asynchronous: a hung filesystem never blocks the loop). */
function defaultFreeBytes(storage: Storage): (() => Promise<number | undefined>) | undefined {
  if (storage.driver !== 'sqlite' || storage.location === ':memory:') return undefined
  const folder = dirname(storage.location)
  return async () => {
    const stats = await statfs(folder)
    return stats.bavail * stats.bsize
  }
}
