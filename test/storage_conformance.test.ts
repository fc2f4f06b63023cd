import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPostgresStorage } from '../src/storage/postgres/index.js'
import { openSqliteStorage } from '../src/storage/sqlite/index.js'
import { createTestDatabase } from './fixtures/postgres.js'
import { approvalsConformance } from './storage_conformance/approvals_alerts.js'

import { bulkConformance } from './storage_conformance/bulk.js'
import { chainConformance } from './storage_conformance/chains.js'
import { guardrailsConformance } from './storage_conformance/guardrails.js'
import type { HarnessFactory } from './storage_conformance/harness.js'
import { readerConformance } from './storage_conformance/reader.js'
import { stateConformance } from './storage_conformance/state.js'
import { usageConformance } from './storage_conformance/usage.js'

/**
 * One conformance suite for the Storage seam, run unchanged against every driver (as SPIRE runs
 * one keymanagertest against every key manager). A driver is done when this passes.
 */
function conformance(factory: HarnessFactory): void {
  chainConformance(factory)
  readerConformance(factory)
  stateConformance(factory)
  approvalsConformance(factory)

  guardrailsConformance(factory)

  bulkConformance(factory)

  usageConformance(factory)
}

const postgres: HarnessFactory = async (ctx) => {
  const db = await createTestDatabase(ctx)
  return {
    open: () =>
      openPostgresStorage({ driver: 'postgres', url: db.url, poolSize: 4, statementTimeoutMs: 5000 }),
    dispose: () => db.drop(),
  }
}

/*
 * The SQLite driver is imported statically: a dynamic import() of it loaded a second copy of
 * src/storage/ports.ts, so its StorageErrors failed `instanceof StorageError` in the suite.
 */
const sqlite: HarnessFactory = async () => {
  const open = openSqliteStorage
  const dir = mkdtempSync(join(tmpdir(), 'kb-conformance-'))
  const path = join(dir, 'keybroker.db')
  return {
    open: () => open({ driver: 'sqlite', path, busyTimeoutMs: 5000 }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  }
}

describe('storage conformance: postgres', () => conformance(postgres))
describe('storage conformance: sqlite', () => conformance(sqlite))
