import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { ChainAppender } from '../audit/index.js'
import { monotonicUlid } from '../audit/lib/ulid.js'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import { BINARY_VERSION, incompatibility } from '../storage/migrations.js'
import { openStorage } from '../storage/open.js'
import type { StorageOptions } from '../storage/options.js'
import { type Storage, StorageError } from '../storage/ports.js'

/** How long a chain lease lasts without renewal; renewed every third of it. */
export const LEASE_TTL_MS = 30_000

export interface BrokerStorage {
  storage: Storage
  appender: ChainAppender
  nodeId: string
  logId: string
  /** Stop renewing, release the lease, close the appender and the database. */
  close(): Promise<void>
}

/** config `storage:` → the driver's options (the password is read from its file, never logged). */
export function storageOptions(config: BrokerConfig): StorageOptions {
  const s = config.storage
  if (s.driver === 'sqlite')
    return { driver: 'sqlite', path: s.path, busyTimeoutMs: config.audit.write_timeout * 1000 }
  let password: string | undefined
  if (s.password_file) {
    try {
      password = readFileSync(s.password_file, 'utf8').trim()
    } catch (err) {
      throw new BrokerError(
        'ERR_CONFIG',
        `storage.password_file: cannot read ${s.password_file}: ${(err as Error).message}`,
      )
    }
  }
  return {
    driver: 'postgres',
    url: s.url!,
    password,
    poolSize: s.pool_size,
    statementTimeoutMs: s.statement_timeout * 1000,
    tlsCaFile: s.tls?.ca_file,
  }
}

/** `node_id` from config, or `<hostname>-<random>` so a restarted process starts a new chain. */
export function chooseNodeId(config: BrokerConfig): string {
  return (
    config.node_id ??
    `${hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 48)}-${randomBytes(3).toString('hex')}`
  )
}

/**
 * Open the database, migrate it (unless auto_migrate is off, then refuse a database that needs
 * it), check it belongs to this broker's issuer, take this process's chain lease, and start the
 * audit appender. Any failure closes what was opened.
 */
export async function openBrokerStorage(
  config: BrokerConfig,
  options: { clock: Clock; logger: Logger; nodeId?: string },
): Promise<BrokerStorage> {
  const storage = await openStorage(storageOptions(config)).catch((err) => {
    throw startFailure(err, 'cannot open storage')
  })
  const owner = randomUUID()
  const nodeId = options.nodeId ?? chooseNodeId(config)
  let renew: NodeJS.Timeout | undefined
  try {
    const schema = await storage.schema()
    const refusal = incompatibility(schema)
    if (refusal) throw new BrokerError('ERR_CONFIG', refusal)
    if (config.storage.auto_migrate) {
      const applied = await storage.migrate(BINARY_VERSION)
      if (applied.length > 0) options.logger.info({ applied, location: storage.location }, 'storage migrated')
    } else {
      const { MIGRATIONS } = await import('../storage/migrations.js')
      const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version
      if (schema.version < latest)
        throw new BrokerError(
          'ERR_CONFIG',
          `the database schema is at version ${schema.version}, this binary needs ${latest}; run \`keybroker storage migrate --config FILE\` (storage.auto_migrate is false)`,
        )
    }
    const meta = await storage.meta.init({
      log_id: monotonicUlid()(options.clock.now()),
      issuer: config.issuer,
      created_at: options.clock.now(),
    })
    if (meta.issuer !== config.issuer)
      throw new BrokerError(
        'ERR_CONFIG',
        `this database was created for issuer ${meta.issuer}, but the config says issuer ${config.issuer}; every replica of one broker must use the same issuer`,
      )
    await storage.leases.acquire(nodeId, owner, LEASE_TTL_MS)
    renew = setInterval(() => {
      storage.leases
        .renew(nodeId, owner, LEASE_TTL_MS)
        .catch((err) =>
          options.logger.error({ err, node_id: nodeId }, 'could not renew the audit chain lease'),
        )
    }, LEASE_TTL_MS / 3)
    renew.unref()
    const appender = new ChainAppender(storage.chains, {
      nodeId,
      clock: options.clock,
      writeTimeoutMs: config.audit.write_timeout * 1000,
    })
    return {
      storage,
      appender,
      nodeId,
      logId: meta.log_id,
      async close() {
        clearInterval(renew)
        await appender.close()
        await storage.leases.release(nodeId, owner).catch(() => {})
        await storage.close()
      },
    }
  } catch (err) {
    clearInterval(renew)
    await storage.close().catch(() => {})
    throw startFailure(err, 'storage')
  }
}

function startFailure(err: unknown, what: string): BrokerError {
  if (err instanceof BrokerError) return err
  if (err instanceof StorageError)
    return new BrokerError('ERR_CONFIG', `${what}: ${err.message}`, { cause: err })
  return new BrokerError('ERR_CONFIG', `${what}: ${(err as Error).message}`, { cause: err })
}
