import { existsSync } from 'node:fs'
import { loadConfig } from '../config/index.js'
import { storageOptions } from '../server/storage_wiring.js'
import { BINARY_VERSION, incompatibility, MIGRATIONS } from '../storage/migrations.js'
import { openStorage } from '../storage/open.js'
import type { StorageOptions } from '../storage/options.js'
import type { Storage } from '../storage/ports.js'
import { CliExit } from './common.js'

/** A copy/backup operand's statements may run long (a large batch): far above serve's 2 s. */
const OPERATOR_STATEMENT_TIMEOUT_MS = 60_000

/**
 * `--from` / `--to` of `keybroker storage copy`: a postgres:// URL, a keybroker.yaml (its
 * `storage:`, for password_file and tls), or a SQLite file path.
 */
export function endpointOptions(text: string): StorageOptions {
  if (/^postgres(ql)?:\/\//.test(text))
    return {
      driver: 'postgres',
      url: text,
      // a password in the URL works; PGPASSWORD keeps it out of the process list
      password: process.env.PGPASSWORD || undefined,
      poolSize: 2,
      statementTimeoutMs: OPERATOR_STATEMENT_TIMEOUT_MS,
    }
  if (/\.ya?ml$/i.test(text)) {
    const options = storageOptions(loadConfig(text))
    return options.driver === 'postgres'
      ? {
          ...options,
          statementTimeoutMs: Math.max(options.statementTimeoutMs, OPERATOR_STATEMENT_TIMEOUT_MS),
        }
      : options
  }
  return { driver: 'sqlite', path: text, busyTimeoutMs: 5000 }
}

/**
 * Open one operand. A source must already exist (a SQLite path is never created by reading it) and
 * is never migrated (a copy does not write its source): an older schema is refused with the command
 * that upgrades it. A target is migrated to this binary's schema, as `serve` would.
 */
export async function openEndpoint(text: string, role: 'source' | 'target'): Promise<Storage> {
  const options = endpointOptions(text)
  if (role === 'source' && options.driver === 'sqlite' && !existsSync(options.path))
    throw new CliExit(`--from ${text}: no such file`)
  let storage: Storage
  try {
    storage = await openStorage(options)
  } catch (err) {
    throw new CliExit(
      `cannot open the ${role} database ${text.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1@')}: ${(err as Error).message}`,
    )
  }
  try {
    const schema = await storage.schema()
    const refusal = incompatibility(schema)
    if (refusal) throw new CliExit(`${role} ${storage.location}: ${refusal}`)
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version
    if (schema.version < latest) {
      if (role === 'source')
        throw new CliExit(
          schema.version === 0
            ? `${storage.location} is not a keybroker database (no schema)`
            : `the source ${storage.location} is at schema version ${schema.version}, this binary copies version ${latest}; run \`keybroker storage migrate\` on it first (a copy never writes its source)`,
        )
      await storage.migrate(BINARY_VERSION)
    }
    return storage
  } catch (err) {
    await storage.close().catch(() => {})
    if (err instanceof CliExit) throw err
    throw new CliExit(`cannot use the ${role} database ${storage.location}: ${(err as Error).message}`)
  }
}
