import { checkConfigFiles } from './files.js'
import { ConfigError, loadConfig } from './load.js'
import { statePermissionWarnings } from './permissions.js'
import type { BrokerConfig } from './schema.js'

export interface ConfigCheck {
  /** Present only when there are no problems. */
  config?: BrokerConfig
  /** One line per fault, each starting with its key path. */
  problems: string[]
  /** Not faults: state files other users could reach (checked with the files). */
  warnings: string[]
}

/**
 * Validate a config file as `serve` would (schema, references, files) without throwing, so both
 * `keybroker config check` and live reload can show every problem at once.
 */
export function checkConfig(file: string, options: { files?: boolean } = {}): ConfigCheck {
  let config: BrokerConfig
  try {
    config = loadConfig(file)
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems, warnings: [] }
    throw err
  }
  if (options.files === false) return { config, problems: [], warnings: [...config.warnings] }
  const problems = checkConfigFiles(config)
  const warnings = [
    ...config.warnings,
    ...(config.storage.driver === 'sqlite' ? statePermissionWarnings(config) : []),
  ]
  return problems.length > 0 ? { problems, warnings } : { config, problems, warnings }
}
