import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { BrokerConfig } from './schema.js'

/**
 * Files the config names, checked as `serve` would open them: readable, and CA bundles holding a
 * certificate. Paths must already be absolute (loadConfig resolves them). One line per fault.
 */
export function checkConfigFiles(config: BrokerConfig): string[] {
  const problems: string[] = []
  const readable = (key: string, path: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch (err) {
      problems.push(`${key}: cannot read ${path}: ${describeFsError(err)}`)
      return undefined
    }
  }
  const caBundle = (key: string, path: string) => {
    const pem = readable(key, path)
    if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----'))
      problems.push(`${key}: ${path} holds no PEM certificate`)
  }
  if (config.tls) {
    readable('tls.cert_file', config.tls.cert_file)
    readable('tls.key_file', config.tls.key_file)
    for (const [i, file] of config.tls.client_ca_files.entries()) caBundle(`tls.client_ca_files[${i}]`, file)
  }
  // The KEK and the database are created on first start: the file or, failing that, its folder must do.
  const created: Array<readonly [string, string]> = [['keys.kek_file', config.keys.kek_file]]
  if (config.storage.driver === 'sqlite') created.push(['storage.path', config.storage.path])
  else {
    // PostgreSQL: the password and CA files are read at start, exactly as serve reads them
    if (config.storage.password_file) readable('storage.password_file', config.storage.password_file)
    if (config.storage.tls) caBundle('storage.tls.ca_file', config.storage.tls.ca_file)
  }
  for (const [key, path] of created) {
    if (path === ':memory:') continue
    if (exists(path)) readable(key, path)
    else {
      const problem = creatableIn(dirname(path))
      if (problem) problems.push(`${key}: ${path} does not exist and cannot be created: ${problem}`)
    }
  }
  config.trust.oidc.forEach((issuer, i) => {
    if (issuer.ca_file) caBundle(`trust.oidc[${i}].ca_file`, issuer.ca_file)
  })
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.type === 'file') {
      readable(`providers.${name}.path`, provider.path)
      continue
    }
    if (provider.ca_file) caBundle(`providers.${name}.ca_file`, provider.ca_file)
    if (provider.type !== 'vault') continue
    const auth = provider.auth
    if (auth.method === 'token' || auth.method === 'kubernetes')
      readable(`providers.${name}.auth.token_file`, auth.token_file)
    if (auth.method === 'approle') {
      readable(`providers.${name}.auth.role_id_file`, auth.role_id_file)
      readable(`providers.${name}.auth.secret_id_file`, auth.secret_id_file)
    }
  }
  config.alerts?.sinks.forEach((sink, i) => {
    readable(`alerts.sinks[${i}].secret_file`, sink.secret_file)
  })
  for (const [name, route] of Object.entries(config.routes)) {
    if (route.ca_file) caBundle(`routes.${name}.ca_file`, route.ca_file)
  }
  return problems
}

function exists(path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/** Why a file could not be created under `dir` (walking up to the first folder that exists), if it could not. */
function creatableIn(dir: string): string | undefined {
  let current = dir
  while (!exists(current)) {
    const parent = dirname(current)
    if (parent === current) return `no folder of ${dir} exists`
    current = parent
  }
  try {
    if (!statSync(current).isDirectory()) return `${current} is not a folder`
    accessSync(current, constants.W_OK | constants.X_OK)
    return undefined
  } catch (err) {
    return `${current} is not writable (${describeFsError(err)})`
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'is a folder, not a file'
  return (err as Error).message
}
