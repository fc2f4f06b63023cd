import { randomBytes, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { ChainAppender } from '../audit/index.js'
import { loadConfig } from '../config/index.js'
import { storageOptions } from '../server/storage_wiring.js'
import { BINARY_VERSION, incompatibility } from '../storage/migrations.js'
import { openStorage } from '../storage/open.js'
import type { Storage } from '../storage/ports.js'
import { CliExit } from './common.js'

export interface StorageFlags {
  config?: string
  db?: string
}

/**
 * The broker's database for an operator command: `--db FILE` (SQLite) or the `storage:` of
 * `--config` (SQLite or PostgreSQL). A schema older than this binary is migrated first, as
 * `serve` would; one that needs a newer binary is refused with both versions named.
 */
export async function openCliStorage(opts: StorageFlags): Promise<Storage> {
  if (!opts.config && !opts.db) throw new CliExit('give --config <file> or --db <file>')
  const options = opts.db
    ? ({ driver: 'sqlite', path: opts.db, busyTimeoutMs: 5000 } as const)
    : storageOptions(loadConfig(opts.config!))
  let storage: Storage
  try {
    storage = await openStorage(options)
  } catch (err) {
    throw new CliExit(`cannot open the broker database: ${(err as Error).message}`)
  }
  try {
    const schema = await storage.schema()
    const refusal = incompatibility(schema)
    if (refusal) throw new CliExit(refusal)
    // idempotent, and it also fills a gap (a migration numbered below one already applied)
    await storage.migrate(BINARY_VERSION)
    return storage
  } catch (err) {
    await storage.close().catch(() => {})
    if (err instanceof CliExit) throw err
    throw new CliExit(`cannot use the broker database: ${(err as Error).message}`)
  }
}

/**
 * An audit chain for one CLI run (rows the operator's command writes, e.g. a file-mode revoke):
 * its own node id and lease, so it never interleaves with a broker's chain.
 */
export async function openCliChain(
  storage: Storage,
): Promise<{ appender: ChainAppender; close(): Promise<void> }> {
  const nodeId = `cli-${hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 40)}-${randomBytes(3).toString('hex')}`
  const owner = randomUUID()
  await storage.leases.acquire(nodeId, owner, 60_000)
  const appender = new ChainAppender(storage.chains, { nodeId, writeTimeoutMs: 5000 })
  return {
    appender,
    async close() {
      await appender.close()
      await storage.leases.release(nodeId, owner)
    },
  }
}
