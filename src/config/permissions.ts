import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { BrokerConfig } from './schema.js'

/**
 * Warnings, not errors: state the config points at that other users could reach. The audit
 * database holds the sealed signing keys and every exchange, and the KEK unseals them, so their
 * folder should be 0700 and the database 0600 (the broker creates them so). One line per finding,
 * starting with the key path, saying what to run. Paths that do not exist yet are not reported:
 * the broker creates them private.
 *
 * @example
 * ```ts
 * for (const warning of statePermissionWarnings(config)) logger.warn({ warning }, 'state files are not private')
 * // 'audit.path: folder /var/lib/keybroker is mode 0755 (group/other can reach it): run chmod 700 /var/lib/keybroker'
 * ```
 */
export function statePermissionWarnings(config: BrokerConfig): string[] {
  const warnings: string[] = []
  const seen = new Set<string>()
  const places: Array<[string, string]> = [
    ['audit.path', config.audit.path],
    ['keys.kek_file', config.keys.kek_file],
  ]
  for (const [key, path] of places) {
    if (path === ':memory:') continue
    const folder = dirname(path)
    if (seen.has(folder)) continue
    seen.add(folder)
    const mode = modeOf(folder)
    if (mode !== undefined && (mode & 0o077) !== 0)
      warnings.push(
        `${key}: folder ${folder} is mode ${octal(mode)} (group/other can reach it): run chmod 700 ${folder}`,
      )
  }
  if (config.audit.path !== ':memory:') {
    // -wal and -shm take the database file's mode when SQLite creates them
    for (const file of [config.audit.path, `${config.audit.path}-wal`, `${config.audit.path}-shm`]) {
      const mode = modeOf(file)
      if (mode !== undefined && (mode & 0o077) !== 0)
        warnings.push(
          `audit.path: ${file} is mode ${octal(mode)} (group/other can read it): run chmod 600 ${file}`,
        )
    }
  }
  return warnings
}

function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777
  } catch {
    return undefined
  }
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0')
