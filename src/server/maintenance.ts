import type { Logger } from 'pino'
import type { RevocationList } from '../issuer/revocations.js'
import type { SigningKeys } from '../issuer/signing_keys.js'

/** How often each background job runs. */
export const MAINTENANCE_INTERVALS = {
  /** Revocations written by the CLI or another replica apply within this long. */
  revocationPollMs: 1000,
  /** Keys added by another process (keys rotate, another replica) are picked up within this long. */
  keyReloadMs: 10_000,
  /** Rotation and retirement of signing keys. */
  keyMaintenanceMs: 60_000,
  tlsPollMs: 30_000,
  retentionMs: 10 * 60_000,
  /** Usage counters of expired tokens (agent guardrails' budgets) are deleted this often. */
  usagePruneMs: 10 * 60_000,
} as const

export interface MaintenanceJobs {
  keys: SigningKeys
  revocations: RevocationList
  runRetention: () => Promise<number>
  /** Re-read TLS files; undefined when TLS is off. */
  reloadTls?: () => void
  /** Runs with the revocation poll, every second (subject blocks, summary rows). */
  everySecond?: () => void
  /** Delete usage counters of expired tokens; resolves to how many. */
  pruneUsage?: () => Promise<number>
  /** Expire approvals past their timeout (audited). */
  expireApprovals?: { run: () => Promise<unknown>; everyMs: number }
  logger: Logger
}

/**
 * The broker's timers, each failure logged and retried on the next tick. A retired signing key
 * (a revocation event with `kid`) makes the key set reload at once.
 */
export function startMaintenance(jobs: MaintenanceJobs): { stop(): void } {
  const { keys, revocations, logger } = jobs
  const logged = (what: string) => (err: unknown) => logger.error({ err }, what)
  const feed = revocations.subscribe(revocations.cursor, (event) => {
    if (event.kid) keys.reload().catch(logged('signing key reload failed'))
  })
  const timers = [
    setInterval(() => {
      revocations.refresh().catch(logged('revocation list refresh failed'))
      jobs.everySecond?.()
    }, MAINTENANCE_INTERVALS.revocationPollMs),
    setInterval(
      () => keys.reload().catch(logged('signing key reload failed')),
      MAINTENANCE_INTERVALS.keyReloadMs,
    ),
    setInterval(
      () => keys.maintain().catch(logged('signing key rotation failed')),
      MAINTENANCE_INTERVALS.keyMaintenanceMs,
    ),
    // failures are logged inside runRetention; the next tick retries
    setInterval(() => jobs.runRetention().catch(() => {}), MAINTENANCE_INTERVALS.retentionMs),
  ]
  const expire = jobs.expireApprovals
  if (expire)
    timers.push(setInterval(() => expire.run().catch(logged('approval expiry failed')), expire.everyMs))
  const pruneUsage = jobs.pruneUsage
  if (pruneUsage)
    timers.push(
      setInterval(
        () =>
          pruneUsage().then(
            (pruned) => pruned > 0 && logger.info({ pruned }, 'usage counters of expired tokens pruned'),
            logged('usage counter pruning failed'),
          ),
        MAINTENANCE_INTERVALS.usagePruneMs,
      ),
    )
  const reloadTls = jobs.reloadTls
  if (reloadTls) timers.push(setInterval(() => reloadTls(), MAINTENANCE_INTERVALS.tlsPollMs))
  for (const t of timers) t.unref()
  return {
    stop() {
      for (const t of timers) clearInterval(t)
      feed.close()
    },
  }
}
