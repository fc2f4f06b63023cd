import {
  type CheckpointFile,
  type CheckpointMismatch,
  type CheckpointPayload,
  openCheckpoint,
  type StoredCheckpoint,
} from '../audit/checkpoint/index.js'
import { BrokerError } from '../errors.js'

/** The newest checkpoint of the file, opened (signature checked). */
export interface LatestCheckpoint {
  stored: StoredCheckpoint
  payload: CheckpointPayload
  file: string
}

/** What outside the database says about a log having existed before this start. */
export interface LogEvidence {
  latest?: LatestCheckpoint
  /** keys.kek_file was there before this start (it is created with the first log) */
  kekExisted: boolean
  /** sqlite: the database file was there before this start (an empty or schema-less file is not a fresh install) */
  databaseFileExisted: boolean
}

const HOW_TO_START_OVER =
  'to start a new log on purpose, run `keybroker serve --new-log` (recorded as the first row of the new log, naming the old log id)'

/** Read and check the newest checkpoint; a checkpoint that does not verify refuses the start. */
export async function readLatestCheckpoint(
  file: CheckpointFile | undefined,
): Promise<LatestCheckpoint | undefined> {
  if (!file) return undefined
  let stored: StoredCheckpoint | undefined
  try {
    stored = await file.latest()
  } catch (err) {
    throw new BrokerError('ERR_CONFIG', (err as Error).message)
  }
  if (!stored) return undefined
  try {
    return { stored, payload: await openCheckpoint(stored), file: file.path }
  } catch (err) {
    throw new BrokerError(
      'ERR_CONFIG',
      `checkpoint file ${file.path} line ${stored.line}: the newest checkpoint is not valid (${(err as Error).message}); the file was altered — restore it from its witness or backup`,
    )
  }
}

/**
 * A database with no schema where the evidence says a log existed: refuse rather than start a new
 * log silently (an emptied file once lost every earlier row and revocation without a word).
 * Returns the refusal text, or undefined when this is a fresh install.
 */
export function emptyDatabaseRefusal(location: string, evidence: LogEvidence): string | undefined {
  const { latest } = evidence
  if (latest) {
    const heads = latest.payload.heads.map((h) => `${h.node_id}@${h.seq}`).join(', ') || 'no rows yet'
    return (
      `the audit database ${location} is empty (no schema), but checkpoint file ${latest.file} says log ${latest.payload.log_id} ` +
      `existed (newest checkpoint ${new Date(latest.payload.ts).toISOString()}, heads ${heads}). ` +
      `The log, its signing keys and its revocations are missing: restore the database from backup; ${HOW_TO_START_OVER}`
    )
  }
  if (evidence.kekExisted && evidence.databaseFileExisted)
    return (
      `the audit database ${location} is empty (no schema), but keys.kek_file already exists, so a log was created with it before. ` +
      `The log, its sealed signing keys and its revocations are missing: restore the database from backup; ${HOW_TO_START_OVER}`
    )
  return undefined
}

/** The database is not what the newest checkpoint vouches for: which, and how to proceed. */
export function checkpointRefusal(
  location: string,
  latest: LatestCheckpoint,
  mismatch: CheckpointMismatch,
): string {
  const named = `checkpoint ${latest.file} line ${latest.stored.line} (log ${latest.payload.log_id}, ${new Date(latest.payload.ts).toISOString()})`
  const how =
    mismatch.kind === 'log'
      ? `point storage.checkpoint_file at this database's own checkpoints, or restore the database the checkpoints belong to; ${HOW_TO_START_OVER}`
      : `restore the database (with its -wal file) from a backup that includes the checkpointed rows; ${HOW_TO_START_OVER}`
  return `the audit database ${location} does not match ${named}: ${mismatch.problem}. ${how}`
}
