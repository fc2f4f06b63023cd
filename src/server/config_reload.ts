import { createHash } from 'node:crypto'
import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs'
import type { Logger } from 'pino'
import { type BrokerConfig, checkConfig } from '../config/index.js'

export interface ReloadResult {
  ok: boolean
  /** Why the new config was refused, one line per fault with its key path. */
  problems?: string[]
  /** Sections that changed but only take effect after a restart. */
  restartNeeded?: string[]
}

const CONFIG_POLL_MS = 2_000
/** Editors write a file in several steps; wait for them to settle before reading it. */
const CONFIG_SETTLE_MS = 250
/** Sections wired into listeners, storage or keys at start: a change is reported, not applied. */
const RESTART_ONLY = [
  'issuer',
  'listen',
  'tls',
  'audit',
  'keys',
  'trust',
  'cache',
  'providers',
  'secrets',
  'routes',
] as const

/**
 * Policy reload without restart (SIGHUP, a file change, or the API): the new file is validated as a
 * whole first; a config with any problem is refused and the running one keeps serving. Reloads run
 * one at a time and never throw.
 */
export class ConfigReloader {
  private queue: Promise<ReloadResult> = Promise.resolve({ ok: true })
  private lastSeenHash: string | undefined
  private settle: NodeJS.Timeout | undefined
  private readonly onFileChange = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return
    clearTimeout(this.settle)
    this.settle = setTimeout(() => {
      // A touch without a change, or the same broken file again, is not worth a reload or a log line.
      if (fileHash(this.file) !== this.lastSeenHash) void this.reload('file change')
    }, CONFIG_SETTLE_MS)
    this.settle.unref()
  }

  constructor(
    private readonly file: string,
    private readonly options: {
      logger: Logger
      current: () => BrokerConfig
      /** Swap the new config in; called only with a config that passed every check. */
      apply: (next: BrokerConfig, trigger: string) => void
    },
  ) {
    this.lastSeenHash = fileHash(file)
  }

  reload(trigger = 'api'): Promise<ReloadResult> {
    const run = () => {
      try {
        return this.reloadNow(trigger)
      } catch (err) {
        // Never let a reload take the broker down: the running config keeps serving.
        this.options.logger.error({ err, trigger }, 'config reload failed: the running config keeps serving')
        return { ok: false, problems: [`reload failed: ${(err as Error).message}`] }
      }
    }
    this.queue = this.queue.then(run, run)
    return this.queue
  }

  /** Poll the file (also sees ConfigMap symlink swaps, which inotify-based watchers miss). */
  watch(intervalMs = CONFIG_POLL_MS): void {
    watchFile(this.file, { interval: intervalMs, persistent: false }, this.onFileChange)
  }

  stop(): void {
    unwatchFile(this.file, this.onFileChange)
    clearTimeout(this.settle)
  }

  private reloadNow(trigger: string): ReloadResult {
    const { logger, current, apply } = this.options
    const file = this.file
    this.lastSeenHash = fileHash(file)
    const { config: next, problems } = checkConfig(file)
    if (!next) {
      logger.error({ file, trigger, problems }, 'config reload refused: the running config keeps serving')
      return { ok: false, problems }
    }
    const running = current()
    const restartNeeded = RESTART_ONLY.filter(
      (key) => JSON.stringify(next[key]) !== JSON.stringify(running[key]),
      // new TLS paths are picked up by the TLS reload; only adding or removing `tls` needs a restart
    ).filter((key) => key !== 'tls' || Boolean(next.tls) !== Boolean(running.tls))
    apply(next, trigger)
    if (restartNeeded.length > 0)
      logger.warn(
        { file, sections: restartNeeded },
        'config sections changed that apply only after a restart',
      )
    logger.info({ file, trigger, grants: next.grants.length }, 'config reloaded')
    return restartNeeded.length > 0 ? { ok: true, restartNeeded } : { ok: true }
  }
}

/** Content fingerprint, to tell a real edit from a touch; undefined when the file cannot be read. */
function fileHash(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    return undefined
  }
}
