import type { Logger } from 'pino'
import { BrokerError } from '../errors.js'
import type { Storage } from '../storage/ports.js'
import { sqliteHandle } from '../storage/sqlite/index.js'
import { describeDamage, locateDamage, quickCheck } from '../storage/sqlite/integrity.js'

/**
 * SQLite: `PRAGMA quick_check` before serving, so a damaged file refuses to start instead of
 * appending onto corrupt pages (found only later, by `audit verify`, as a raw "malformed" error).
 * Its cost is linear in the file size (README "Audit integrity" gives the figure for 2M rows).
 * PostgreSQL checks its own pages (data checksums); nothing to do here.
 */
export function checkDatabaseIntegrity(storage: Storage, logger: Logger): void {
  const db = sqliteHandle(storage)
  if (!db) return
  const started = performance.now()
  const problems = quickCheck(db)
  const ms = Math.round(performance.now() - started)
  if (problems.length > 0) {
    const at = describeDamage(locateDamage(db, problems))
    throw new BrokerError(
      'ERR_CONFIG',
      `the audit database ${storage.location} is damaged at ${at} (PRAGMA quick_check: ${problems[0]}${problems.length > 1 ? `; ${problems.length - 1} more` : ''}). ` +
        'Stop writing to it: restore it from backup (`keybroker audit verify --db FILE` on the restored copy must pass), or recover what is readable with `sqlite3 FILE .recover`',
    )
  }
  logger.debug({ ms, location: storage.location }, 'database quick_check passed')
}
