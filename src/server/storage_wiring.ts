import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import type { Logger } from 'pino'
import {
  CheckpointFile,
  CheckpointWriter,
  compareWithCheckpoint,
  defaultCheckpointFile,
  loadOrCreateCheckpointKey,
  signingKeyRows,
} from '../audit/checkpoint/index.js'
import { ChainAppender } from '../audit/index.js'
import { monotonicUlid } from '../audit/lib/ulid.js'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import { assertKekMatches } from '../issuer/kek_check.js'
import { SealedKeyStore } from '../issuer/key_store.js'
import { BINARY_VERSION, incompatibility } from '../storage/migrations.js'
import { openStorage } from '../storage/open.js'
import type { StorageOptions } from '../storage/options.js'
import { type Storage, StorageError } from '../storage/ports.js'
import { checkDatabaseIntegrity, type IntegrityState } from './database_integrity.js'
import { checkpointRefusal, emptyDatabaseRefusal, readLatestCheckpoint } from './log_continuity.js'

/** How long a chain lease lasts without renewal; renewed every third of it. */
export const LEASE_TTL_MS = 30_000

export interface BrokerStorage {
  storage: Storage
  appender: ChainAppender
  nodeId: string
  logId: string
  /** The whole-file check of a large SQLite database, finished in the background (readiness). */
  integrity: IntegrityState
  /** Signed checkpoints of the log (absent when no KEK was given: tools that only read). */
  checkpoints?: CheckpointWriter
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

/** Where this broker appends its checkpoints: storage.checkpoint_file, or beside a SQLite database. */
export function checkpointFilePath(config: BrokerConfig): string | undefined {
  if (config.storage.checkpoint_file) return config.storage.checkpoint_file
  return config.storage.driver === 'sqlite' ? defaultCheckpointFile(config.storage.path) : undefined
}

/** What `startBroker` adds for the log's continuity (checkpoints, the refusal to reset silently). */
export interface DurabilityOptions {
  kek: Buffer
  /** keys.kek_file existed before this start */
  kekExisted: boolean
  /** `serve --new-log`: start a new log on purpose where the evidence says one existed */
  newLog?: boolean
}

/**
 * Open the database, migrate it (unless auto_migrate is off, then refuse a database that needs
 * it), check it belongs to this broker's issuer, take this process's chain lease, and start the
 * audit appender. Any failure closes what was opened.
 */
export async function openBrokerStorage(
  config: BrokerConfig,
  options: { clock: Clock; logger: Logger; nodeId?: string; durability?: DurabilityOptions },
): Promise<BrokerStorage> {
  const durability = options.durability
  const databaseFileExisted = config.storage.driver === 'sqlite' && existsSync(config.storage.path)
  const storage = await openStorage(storageOptions(config)).catch((err) => {
    throw startFailure(err, 'cannot open storage')
  })
  const owner = randomUUID()
  const nodeId = options.nodeId ?? chooseNodeId(config)
  let renew: NodeJS.Timeout | undefined
  let appender: ChainAppender | undefined
  try {
    const integrity = checkDatabaseIntegrity(storage, options.logger)
    const schema = await storage.schema()
    const refusal = incompatibility(schema)
    if (refusal) throw new BrokerError('ERR_CONFIG', refusal)
    const checkpointPath = durability ? checkpointFilePath(config) : undefined
    const checkpointFile = checkpointPath ? new CheckpointFile(checkpointPath) : undefined
    const latest = await readLatestCheckpoint(checkpointFile)
    // why this start begins a new log although one existed (`--new-log` only)
    let reset: { reason: string; previousLogId?: string } | undefined
    if (durability && schema.version === 0) {
      const refusal = emptyDatabaseRefusal(storage.location, {
        latest,
        kekExisted: durability.kekExisted,
        databaseFileExisted,
      })
      if (refusal && !durability.newLog) throw new BrokerError('ERR_CONFIG', refusal)
      if (refusal)
        reset = {
          reason: 'started with --new-log on an empty database',
          previousLogId: latest?.payload.log_id,
        }
    }
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
    if (durability && latest && !reset) {
      const mismatch = await compareWithCheckpoint(storage.reader, meta.log_id, latest.payload)
      if (mismatch) {
        const refusal = checkpointRefusal(storage.location, latest, mismatch)
        if (!durability.newLog) throw new BrokerError('ERR_CONFIG', refusal)
        reset = {
          reason: `started with --new-log: ${mismatch.problem}`,
          previousLogId: latest.payload.log_id,
        }
      }
    }
    const checkpointKey = durability
      ? await loadOrCreateCheckpointKey(storage.keys, durability.kek, options.clock.now()).catch(
          async (err) => {
            // a wrong KEK is best said as such (naming the signing keys operators know by kid);
            // one damaged row among good ones is named by its own kid
            await assertKekMatches(signingKeyRows(storage.keys), durability.kek, {
              kekFile: config.keys.kek_file,
              location: storage.location,
            })
            await new SealedKeyStore(signingKeyRows(storage.keys), durability.kek).load()
            throw err
          },
        )
      : undefined
    if (durability && latest && !reset && latest.stored.key.kid !== checkpointKey!.kid) {
      const refusal = checkpointRefusal(storage.location, latest, {
        kind: 'log',
        problem: `it is signed by checkpoint key ${String(latest.stored.key.kid)}, but this log's checkpoint key is ${checkpointKey!.kid} (the file belongs to another log or was replaced)`,
      })
      if (!durability.newLog) throw new BrokerError('ERR_CONFIG', refusal)
      reset = {
        reason: 'started with --new-log: the checkpoint file is signed by another key',
        previousLogId: latest.payload.log_id,
      }
    }
    if (durability?.newLog && !reset)
      options.logger.warn(
        '--new-log given, but the database is the log its checkpoints vouch for: nothing to reset',
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
    appender = new ChainAppender(storage.chains, {
      nodeId,
      clock: options.clock,
      writeTimeoutMs: config.audit.write_timeout * 1000,
    })
    if (reset) {
      // the first row this process writes: who started over, and which log was abandoned
      await appender.append({
        kind: 'log_reset',
        decision: 'allow',
        subject: `local:${processUser()}`,
        auth_method: 'local',
        reason: reset.reason,
        detail: { previous_log_id: reset.previousLogId ?? 'unknown', log_id: meta.log_id },
      })
      options.logger.warn({ previous_log_id: reset.previousLogId, log_id: meta.log_id }, reset.reason)
    }
    let checkpoints: CheckpointWriter | undefined
    if (durability) {
      if (!checkpointFile)
        options.logger.warn(
          'storage.checkpoint_file is not set: audit checkpoints are served at /audit/checkpoint but kept nowhere; a lost tail of the log would go unnoticed',
        )
      checkpoints = new CheckpointWriter({
        logId: meta.log_id,
        reader: storage.reader,
        appender,
        key: checkpointKey!,
        file: checkpointFile,
        clock: options.clock,
        logger: options.logger,
        everyRows: config.storage.checkpoint_every.rows,
        intervalMs: Math.max(1, config.storage.checkpoint_every.interval) * 1000,
      })
      await checkpoints.start()
    }
    const opened = appender
    return {
      storage,
      appender: opened,
      nodeId,
      logId: meta.log_id,
      integrity,
      checkpoints,
      async close() {
        clearInterval(renew)
        await opened.close()
        // after the appender drained: the last checkpoint covers every row this process wrote
        await checkpoints?.close()
        await storage.leases.release(nodeId, owner).catch(() => {})
        await storage.close()
      },
    }
  } catch (err) {
    clearInterval(renew)
    await appender?.close().catch(() => {})
    await storage.close().catch(() => {})
    throw startFailure(err, 'storage')
  }
}

function processUser(): string {
  try {
    return userInfo().username
  } catch {
    return String(process.getuid?.() ?? 'unknown')
  }
}

function startFailure(err: unknown, what: string): BrokerError {
  if (err instanceof BrokerError) return err
  if (err instanceof StorageError)
    return new BrokerError('ERR_CONFIG', `${what}: ${err.message}`, { cause: err })
  return new BrokerError('ERR_CONFIG', `${what}: ${(err as Error).message}`, { cause: err })
}
