import type { PostgresStorageOptions } from '../options.js'
import type { SchemaState, Storage } from '../ports.js'
import { PgAlertOutbox, PgApprovalRows } from './approvals_alerts.js'

import { PgBulkImport } from './bulk.js'
import { PgChainStore } from './chain_store.js'
import { PgClusterRows } from './cluster.js'
import { resolveTarget } from './connection.js'
import { PgSubjectBlockRows, PgUsageRows } from './guardrails.js'
import { PgKeyRows } from './keys.js'
import { PgChainLeases } from './leases.js'
import { PgMetaRows } from './meta.js'
import { readSchema, runMigrations } from './migrate.js'
import { PgNotifications } from './notifications.js'
import { PgAuditPruner } from './pruner.js'
import { PgAuditReader } from './reader.js'
import { PgRevocationRows } from './revocations.js'
import { PgSession } from './session.js'
import { PgUsageReports } from './usage.js'

/**
 * Open a PostgreSQL database as keybroker storage: resolves the URL under the TLS policy, makes
 * one round trip (so a wrong host, port, database, user or password fails here, named in the
 * message, never with the password), and returns every port over one pool.
 *
 * @example
 * const storage = await openPostgresStorage({
 *   driver: 'postgres', url: 'postgres://keybroker@127.0.0.1:5432/keybroker',
 *   poolSize: 10, statementTimeoutMs: 2000,
 * })
 * await storage.migrate(BINARY_VERSION)
 */
export async function openPostgresStorage(options: PostgresStorageOptions): Promise<Storage> {
  const target = resolveTarget(options)
  const session = new PgSession(target)
  try {
    await session.query(`open ${target.location}`, 'SELECT 1', [], {
      timeoutMs: target.connectTimeoutMs + target.statementTimeoutMs,
    })
  } catch (err) {
    await session.close()
    throw err
  }
  return new PostgresStorage(session)
}

class PostgresStorage implements Storage {
  readonly driver = 'postgres' as const
  readonly location: string
  readonly chains: PgChainStore
  readonly reader: PgAuditReader
  readonly pruner: PgAuditPruner
  readonly leases: PgChainLeases
  readonly keys: PgKeyRows
  readonly revocations: PgRevocationRows
  readonly meta: PgMetaRows
  readonly approvals: PgApprovalRows
  readonly alerts: PgAlertOutbox

  readonly usage: PgUsageRows
  readonly blocks: PgSubjectBlockRows

  readonly notifications: PgNotifications
  readonly cluster: PgClusterRows

  readonly bulk: PgBulkImport
  readonly reports: PgUsageReports
  readonly #session: PgSession

  constructor(session: PgSession) {
    this.#session = session
    this.location = session.target.location
    this.chains = new PgChainStore(session)
    this.reader = new PgAuditReader(session)
    this.pruner = new PgAuditPruner(session)
    this.leases = new PgChainLeases(session)
    this.keys = new PgKeyRows(session)
    this.revocations = new PgRevocationRows(session)
    this.meta = new PgMetaRows(session)
    this.approvals = new PgApprovalRows(session)
    this.alerts = new PgAlertOutbox(session)

    this.usage = new PgUsageRows(session)
    this.blocks = new PgSubjectBlockRows(session)

    this.notifications = new PgNotifications(session)
    this.cluster = new PgClusterRows(session)

    this.bulk = new PgBulkImport(session, this.chains)
    this.reports = new PgUsageReports(session)
  }

  schema(): Promise<SchemaState> {
    return readSchema(this.#session)
  }

  migrate(binaryVersion: string): Promise<number[]> {
    return runMigrations(this.#session, binaryVersion)
  }

  async ping(timeoutMs: number): Promise<void> {
    await this.#session.query('ping', 'SELECT 1', [], { timeoutMs })
  }

  async close(): Promise<void> {
    await this.notifications.close()
    return this.#session.close()
  }
}
