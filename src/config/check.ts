import { checkConfigFiles } from './files.js'
import { ConfigError, loadConfig } from './load.js'
import type { BrokerConfig } from './schema.js'

export interface ConfigCheck {
  /** Present only when there are no problems. */
  config?: BrokerConfig
  /** One line per fault, each starting with its key path. */
  problems: string[]
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
    if (err instanceof ConfigError) return { problems: err.problems }
    throw err
  }
  const problems = options.files === false ? [] : checkConfigFiles(config)
  return problems.length > 0 ? { problems } : { config, problems }
}
