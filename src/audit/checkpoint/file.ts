import { chmod, open, readFile } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import type { SignedCheckpoint } from './token.js'

/** One checkpoint as read back from the file, with where it was (for messages). */
export interface StoredCheckpoint extends SignedCheckpoint {
  /** 1-based line number in the file */
  line: number
}

/**
 * The SQLite default: `<name>.checkpoints` beside `<name>.db`. Deliberately not `<name>.db-…`, so a
 * copy of `keybroker.db*` (the database and its WAL) does not carry the checkpoints with it: an
 * older copy of the database restored that way still meets the newer checkpoints.
 */
export function defaultCheckpointFile(dbPath: string): string | undefined {
  if (dbPath === ':memory:') return undefined
  return join(dirname(dbPath), `${basename(dbPath, extname(dbPath))}.checkpoints`)
}

/**
 * The append-only checkpoint file: one JSON object `{ checkpoint, key }` per line, mode 0600.
 * Each append is written whole and fsynced before it counts. A torn last line (a crash mid-write)
 * is ignored by readers; any other unreadable line is an error, since it cannot be told apart
 * from tampering.
 */
export class CheckpointFile {
  constructor(readonly path: string) {}

  /** Append one checkpoint and fsync it. */
  async append(signed: SignedCheckpoint): Promise<void> {
    const handle = await open(this.path, 'a', 0o600)
    try {
      await handle.write(`${JSON.stringify({ checkpoint: signed.checkpoint, key: signed.key })}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(this.path, 0o600)
  }

  /** Every checkpoint in the file, oldest first; [] when the file does not exist. */
  async readAll(): Promise<StoredCheckpoint[]> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new Error(`cannot read checkpoint file ${this.path}: ${(err as Error).message}`)
    }
    const lines = text.split('\n')
    const out: StoredCheckpoint[] = []
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return
      const torn = i === lines.length - 1 // no newline after it: written partly when the process died
      try {
        const parsed = JSON.parse(raw) as SignedCheckpoint
        if (typeof parsed.checkpoint !== 'string' || typeof parsed.key !== 'object' || parsed.key === null)
          throw new Error('not { checkpoint, key }')
        out.push({ checkpoint: parsed.checkpoint, key: parsed.key, line: i + 1 })
      } catch (err) {
        if (torn) return
        throw new Error(
          `checkpoint file ${this.path} line ${i + 1} is not a checkpoint: ${(err as Error).message}`,
        )
      }
    })
    return out
  }

  /** The newest checkpoint, or undefined when there is none. */
  async latest(): Promise<StoredCheckpoint | undefined> {
    return (await this.readAll()).at(-1)
  }
}
