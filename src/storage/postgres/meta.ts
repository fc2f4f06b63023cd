import type { LogMeta, MetaRows } from '../ports.js'
import type { PgSession } from './session.js'

/** The log's birth facts, written once by whichever process gets there first. */
export class PgMetaRows implements MetaRows {
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
  }

  async get(): Promise<LogMeta | undefined> {
    const [row] = await this.#session.query<LogMeta>(
      'read the log metadata',
      'SELECT log_id, issuer, created_at FROM log_meta WHERE id = 1',
    )
    return row
  }

  async init(meta: LogMeta): Promise<LogMeta> {
    await this.#session.query(
      'record the log metadata',
      'INSERT INTO log_meta (id, log_id, issuer, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING',
      [meta.log_id, meta.issuer, meta.created_at],
      { write: true },
    )
    const stored = await this.get()
    return stored ?? meta
  }
}
