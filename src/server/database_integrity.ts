import { statSync } from 'node:fs'
import type { Logger } from 'pino'
import { BrokerError } from '../errors.js'
import type { Storage } from '../storage/ports.js'
import { sqliteHandle } from '../storage/sqlite/index.js'
import { checkRecentPages, describeDamage, locateDamage, quickCheck } from '../storage/sqlite/integrity.js'
import { quickCheckInBackground } from '../storage/sqlite/integrity_thread.js'

/**
 * Files up to this size are quick_checked whole before serving. quick_check reads every page: on a
 * 2M-row log (1.4 GiB) it took 34–36 s on a loaded 2-core machine (README "Audit integrity"), about
 * 25 ms per MiB, so 64 MiB costs at most ~1.5 s of start time.
 */
export const SYNC_CHECK_MAX_BYTES = 64 * 2 ** 20

/** The state of the whole-file check, for readiness. */
export interface IntegrityState {
  /** undefined while sound (or still being checked), else what is damaged */
  problem(): string | undefined
}

/**
 * SQLite: check the file before serving, so a damaged file refuses to start instead of appending
 * onto corrupt pages (found only later, by `audit verify`, as a raw "malformed" error). A small
 * file gets `PRAGMA quick_check` whole; a larger one gets the cheap part now (small tables, schema,
 * the pages written last) and the whole-file check on a background thread, whose failure makes
 * the broker not ready and is logged as an error. PostgreSQL checks its own pages (data checksums).
 */
export function checkDatabaseIntegrity(
  storage: Storage,
  logger: Logger,
  options: { syncMaxBytes?: number } = {},
): IntegrityState {
  const db = sqliteHandle(storage)
  if (!db) return { problem: () => undefined }
  const size = storage.location === ':memory:' ? 0 : statSync(storage.location).size
  const whole = size <= (options.syncMaxBytes ?? SYNC_CHECK_MAX_BYTES)
  const started = performance.now()
  const problems = whole ? quickCheck(db) : checkRecentPages(db)
  if (problems.length > 0)
    throw damaged(storage.location, describeDamage(locateDamage(db, problems)), problems)
  const ms = Math.round(performance.now() - started)
  logger.debug({ ms, bytes: size, location: storage.location, whole }, 'database integrity check passed')
  if (whole) return { problem: () => undefined }

  let found: string | undefined
  quickCheckInBackground(storage.location).then(
    (result) => {
      if (result.problems.length === 0) {
        logger.info({ ms: result.ms, location: storage.location }, 'database quick_check passed (background)')
        return
      }
      found = damaged(storage.location, result.where, result.problems).message
      logger.error({ location: storage.location, problems: result.problems.slice(0, 3) }, found)
    },
    (err) => logger.warn({ err, location: storage.location }, 'the background quick_check could not run'),
  )
  return { problem: () => found }
}

function damaged(location: string, where: string, problems: readonly string[]): BrokerError {
  return new BrokerError(
    'ERR_CONFIG',
    `the audit database ${location} is damaged at ${where} (PRAGMA quick_check: ${problems[0]}${problems.length > 1 ? `; ${problems.length - 1} more` : ''}). ` +
      'Stop writing to it: restore it from backup (`keybroker audit verify --db FILE` on the restored copy must pass), or recover what is readable with `sqlite3 FILE .recover`',
  )
}
