/**
 * Is restoring a backup a rollback? A restore replaces the log with an older state; every row,
 * token and revocation recorded after the backup disappears. This module compares the backup's
 * chain heads with what says the log went further: the live database, and the signed checkpoint
 * file (`storage.checkpoint_file`, DESIGN "Checkpoints": `{ log_id, ts, heads: [{ node_id, seq, hash }] }`).
 */
import { readFileSync } from 'node:fs'
import { type ChainHead, StorageError } from './ports.js'

/** A view of a log's history: which log, and how far each chain went. */
export interface HistoryView {
  /** For messages: a path, or "checkpoint file PATH". */
  label: string
  logId: string | undefined
  heads: ChainHead[]
}

export interface RollbackFinding {
  /** Why `newer` holds history the backup lacks, one sentence each. */
  reasons: string[]
  /** Heads of `newer` that the backup does not reach (the history a restore discards). */
  forked: ChainHead[]
}

/**
 * What `newer` holds that `backup` does not: a different log, a chain the backup lacks, a chain
 * further along, or a chain that diverged at the same seq. Empty when restoring loses nothing
 * `newer` knows of.
 */
export function historyBeyond(backup: HistoryView, newer: HistoryView): RollbackFinding {
  const reasons: string[] = []
  const forked: ChainHead[] = []
  if (backup.logId && newer.logId && backup.logId !== newer.logId) {
    reasons.push(`${newer.label} is log ${newer.logId}, the backup is log ${backup.logId}`)
    forked.push(...newer.heads.filter((h) => h.seq > 0))
    return { reasons, forked }
  }
  const inBackup = new Map(backup.heads.map((h) => [h.nodeId, h]))
  for (const head of newer.heads) {
    const old = inBackup.get(head.nodeId)
    const name = head.nodeId === '' ? 'the 0.1 chain' : `chain "${head.nodeId}"`
    if (!old) {
      if (head.seq > 0) {
        reasons.push(`${name} (seq ${head.seq}) in ${newer.label} is not in the backup`)
        forked.push(head)
      }
    } else if (head.seq > old.seq) {
      reasons.push(`${name} is at seq ${head.seq} in ${newer.label}, at seq ${old.seq} in the backup`)
      forked.push(head)
    } else if (head.seq === old.seq && head.hash !== old.hash) {
      reasons.push(`${name} has a different row at seq ${head.seq} in ${newer.label} than in the backup`)
      forked.push(head)
    }
  }
  return { reasons, forked }
}

/** `node@seq:hash,…`: forked heads for a log_reset row's detail (full hashes: a verifier matches them). */
export function formatHeads(heads: ChainHead[]): string {
  return heads.map((h) => `${h.nodeId}@${h.seq}:${h.hash}`).join(',')
}

/**
 * The newest checkpoint in `path` (the last non-empty line: a compact JWS, a JSON object
 * `{ checkpoint: "<JWS>" }`, or the checkpoint JSON itself), or undefined when the file does not
 * exist. The signature is not checked: a checkpoint only ever makes a restore more careful.
 * Throws StorageError INVALID when the file exists but cannot be read as a checkpoint.
 */
export function readCheckpointFile(path: string): HistoryView | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StorageError('INVALID', `storage.checkpoint_file ${path}: ${(err as Error).message}`)
  }
  const last = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1)
  if (!last) return undefined
  const bad = (why: string) =>
    new StorageError(
      'INVALID',
      `storage.checkpoint_file ${path}: the last checkpoint cannot be read (${why}); a restore cannot tell how far the log went`,
    )
  let payload: unknown
  try {
    const outer: unknown = last.startsWith('{') ? JSON.parse(last) : last
    const jws = typeof outer === 'string' ? outer : (outer as { checkpoint?: unknown }).checkpoint
    payload =
      typeof jws === 'string'
        ? JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'))
        : outer
  } catch (err) {
    throw bad((err as Error).message)
  }
  const p = payload as { log_id?: unknown; heads?: unknown }
  if (typeof p?.log_id !== 'string' || !Array.isArray(p.heads)) throw bad('no log_id and heads')
  const heads: ChainHead[] = []
  for (const h of p.heads as Array<{ node_id?: unknown; seq?: unknown; hash?: unknown }>) {
    if (typeof h?.node_id !== 'string' || typeof h.seq !== 'number' || typeof h.hash !== 'string')
      throw bad('a head without node_id, seq and hash')
    heads.push({ nodeId: h.node_id, seq: h.seq, hash: h.hash })
  }
  return { label: `checkpoint file ${path}`, logId: p.log_id, heads }
}
