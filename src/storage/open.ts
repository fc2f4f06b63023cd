import type { StorageOptions } from './options.js'
import type { Storage } from './ports.js'
import { openSqliteStorage } from './sqlite/index.js'

/**
 * The one place a driver is chosen. PostgreSQL is loaded only when configured, so the embedded
 * default never loads `pg`.
 */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  if (options.driver === 'sqlite') return openSqliteStorage(options)
  const { openPostgresStorage } = await import('./postgres/index.js')
  return openPostgresStorage(options)
}
