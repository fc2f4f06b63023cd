import type { StorageOptions } from './options.js'
import type { Storage } from './ports.js'
import { openSqliteStorage } from './sqlite/index.js'

/**
 * The one place a driver is chosen. PostgreSQL is loaded only when configured, so the embedded
 * default never loads `pg`.
 */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  if (options.driver === 'sqlite') return openSqliteStorage(options)
  // the specifier is a variable until the postgres driver lands on main
  const driver = './postgres/index.js'
  const { openPostgresStorage } = (await import(driver)) as {
    openPostgresStorage: (o: typeof options) => Promise<Storage>
  }
  return openPostgresStorage(options)
}
