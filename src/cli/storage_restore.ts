import { randomBytes } from 'node:crypto'
import { existsSync, renameSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import { CHECKPOINT_KID_PREFIX } from '../audit/checkpoint/token.js'
import { monotonicUlid } from '../audit/lib/ulid.js'
import type { BrokerConfig } from '../config/index.js'
import { checkpointFilePath } from '../server/storage_wiring.js'
import { BINARY_VERSION } from '../storage/migrations.js'
import { formatHeads, type HistoryView, historyBeyond, readCheckpointFile } from '../storage/rollback.js'
import {
  cloneSqliteFile,
  inspectSqliteFile,
  replaceSqliteFile,
  type SqliteFileState,
} from '../storage/sqlite/backup.js'
import { openSqliteStorage } from '../storage/sqlite/index.js'
import { CliExit } from './common.js'
import { openCliChain } from './storage_access.js'

export interface RestoreInput {
  config: BrokerConfig
  /** The backup file (made by `keybroker storage backup`). */
  from: string
  acceptRollback: boolean
  now?: () => number
}

export interface RestoreReport {
  livePath: string
  newLogId: string
  oldLogId: string | undefined
  keysRetired: string[]
  resetRowId: string
  /** Why this restore was a rollback (empty when nothing newer was known). */
  rolledBack: string[]
  /** The checkpoint file of the replaced log, moved aside (the restored log starts its own). */
  checkpointsMovedTo?: string
}

/**
 * Restore a SQLite backup over the broker's database, as a rollback:
 * - refused while a broker holds a chain lease on the live file, and when the live file or the
 *   checkpoint file shows history beyond the backup, unless `acceptRollback`;
 * - the restored log gets a new log id, and its first new row (kind `log_reset`) records the old
 *   log id and the heads that were discarded, so a verifier accepts exactly that fork;
 * - every restored signing key is retired (the broker makes a new one at its next start), so no
 *   token minted, and none revoked, after the backup stays valid.
 * The backup is prepared in a new file next to the live one and swapped in with one rename.
 */
export async function restoreSqliteBackup(input: RestoreInput): Promise<RestoreReport> {
  const { config } = input
  const now = input.now ?? Date.now
  if (config.storage.driver !== 'sqlite')
    throw new CliExit(
      'storage restore restores a SQLite backup; for PostgreSQL use pg_restore (see deploy/README.md "Backup and restore"), then retire the restored signing keys with keybroker keys retire',
    )
  const livePath = config.storage.path!
  const backup = inspect(input.from, true)
  if (backup.meta && backup.meta.issuer !== config.issuer)
    throw new CliExit(
      `restore refused: ${input.from} is a backup of issuer ${backup.meta.issuer}, the config says issuer ${config.issuer}`,
    )

  const backupView: HistoryView = { label: input.from, logId: backup.meta?.log_id, heads: backup.heads }
  const newer: HistoryView[] = []
  const reasons: string[] = []
  let live: SqliteFileState | undefined
  if (existsSync(livePath)) {
    try {
      live = inspectSqliteFile(livePath, { nowMs: now() })
    } catch (err) {
      reasons.push(
        `the live database ${livePath} cannot be read (${(err as Error).message}), so how far it went is unknown`,
      )
    }
  }
  if (live && live.liveLeases.length > 0) {
    const lease = live.liveLeases[0]!
    throw new CliExit(
      `restore refused: a keybroker process is using ${livePath} (chain "${lease.nodeId}" is leased for ${Math.max(0, lease.untilMs - now())} ms more); stop every broker on this database first`,
    )
  }
  if (live) newer.push({ label: livePath, logId: live.meta?.log_id, heads: live.heads })
  const checkpointFile = checkpointFilePath(config)
  if (checkpointFile) {
    try {
      const checkpoint = readCheckpointFile(checkpointFile)
      if (checkpoint) newer.push(checkpoint)
    } catch (err) {
      reasons.push((err as Error).message)
    }
  }
  const forked = newer.map((view) => historyBeyond(backupView, view))
  reasons.push(...forked.flatMap((f) => f.reasons))
  if (reasons.length > 0 && !input.acceptRollback)
    throw new CliExit(
      `restore refused: this would roll the log back. The backup ${input.from} (log ${backupView.logId ?? '?'}, ${backup.rows} rows, heads ${summary(backup.heads)}) is older than what is known:\n` +
        reasons.map((r) => `  - ${r}\n`).join('') +
        `Every exchange, token and revocation recorded after the backup would be lost. Pass --accept-rollback to restore anyway: the rollback is recorded in the log and every restored signing key is retired.`,
    )

  const prepared = `${livePath}.restore-${randomBytes(4).toString('hex')}`
  try {
    await cloneSqliteFile(input.from, prepared)
    const storage = await openSqliteStorage({ driver: 'sqlite', path: prepared, busyTimeoutMs: 5000 })
    let report: RestoreReport
    try {
      await storage.migrate(BINARY_VERSION)
      const at = now()
      const keysRetired: string[] = []
      // signing keys only: the log's checkpoint key signs checkpoints, not tokens, and stays
      for (const key of await storage.keys.list())
        if (
          !key.kid.startsWith(CHECKPOINT_KID_PREFIX) &&
          key.retired_at === null &&
          (await storage.keys.markRetired(key.kid, at))
        )
          keysRetired.push(key.kid)
      const oldLogId = newer.find((v) => v.logId)?.logId ?? backupView.logId
      const newLogId = monotonicUlid()(at)
      await storage.bulk.setMeta({
        log_id: newLogId,
        issuer: backup.meta?.issuer ?? config.issuer,
        created_at: at,
      })
      const chain = await openCliChain(storage)
      try {
        const row = await chain.appender.append({
          kind: 'log_reset',
          decision: 'allow',
          subject: `local:${userInfo().username}`,
          auth_method: 'local',
          reason: reasons.length > 0 ? 'rollback: restored an older backup' : 'restored a backup',
          detail: {
            method: 'keybroker storage restore',
            old_log_id: oldLogId ?? '',
            restored_log_id: backupView.logId ?? '',
            new_log_id: newLogId,
            old_heads: formatHeads(forked.flatMap((f) => f.forked)),
            restored_rows: backup.rows,
            keys_retired: keysRetired.length,
            accepted_rollback: input.acceptRollback,
          },
        })
        report = { livePath, newLogId, oldLogId, keysRetired, resetRowId: row.id, rolledBack: reasons }
      } finally {
        await chain.close()
      }
    } finally {
      await storage.close()
    }
    replaceSqliteFile(prepared, livePath)
    // The replaced log's checkpoints vouch for history the restored log does not have (the
    // log_reset row records it): kept beside, out of the way of the new log's checkpoints.
    if (checkpointFile && existsSync(checkpointFile)) {
      const aside = `${checkpointFile}.before-restore-${report.newLogId}`
      renameSync(checkpointFile, aside)
      report.checkpointsMovedTo = aside
    }
    return report
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${prepared}${suffix}`, { force: true })
  }
}

function inspect(path: string, check: boolean): SqliteFileState {
  if (!existsSync(path)) throw new CliExit(`restore: --from ${path}: no such file`)
  try {
    return inspectSqliteFile(path, { check })
  } catch (err) {
    throw new CliExit(`restore refused: ${(err as Error).message}`)
  }
}

function summary(heads: SqliteFileState['heads']): string {
  const shown = heads.slice(0, 4).map((h) => `"${h.nodeId}"@${h.seq}`)
  return heads.length > 4 ? `${shown.join(', ')} and ${heads.length - 4} more` : shown.join(', ') || 'none'
}
