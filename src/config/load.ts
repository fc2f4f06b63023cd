import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { BrokerError } from '../errors.js'
import { type BrokerConfig, configSchema } from './schema.js'

/** A config that cannot be served; `problems` holds one line per fault, each naming its key path. */
export class ConfigError extends BrokerError {
  readonly problems: string[]
  constructor(file: string, problems: string[]) {
    super('ERR_CONFIG', `${file}: invalid config\n  ${problems.join('\n  ')}`)
    this.problems = problems
  }
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? String(part) : `.${String(part)}`
  }
  return out || '(top level)'
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path)
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ')
    return `${where}: unknown key ${keys} (check the spelling; see deploy/keybroker.example.yaml)`
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${where}: is required`
  return `${where}: ${issue.message}`
}

/** Parse and validate config text; every fault is reported, not just the first. */
export function parseConfig(text: string, sourceFile: string): BrokerConfig {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceFile,
      doc.errors.map((e) => `line ${(e.linePos?.[0]?.line ?? 0).toString()}: ${e.message.split('\n')[0]}`),
    )
  }
  const raw = doc.toJS() ?? {}
  const result = configSchema.safeParse(raw)
  if (!result.success) throw new ConfigError(sourceFile, result.error.issues.map(describeIssue))
  const config: BrokerConfig = { ...result.data, sourceFile }
  resolveFilePaths(config)
  const problems = checkReferences(config)
  if (problems.length > 0) throw new ConfigError(sourceFile, problems)
  return config
}

/** Load `keybroker.yaml` from disk; errors name the file, the key path and what is wrong. */
export function loadConfig(file: string): BrokerConfig {
  const absolute = resolve(file)
  let text: string
  try {
    text = readFileSync(absolute, 'utf8')
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message
    throw new ConfigError(absolute, [`cannot read config: ${reason}`])
  }
  return parseConfig(text, absolute)
}

/** Relative paths in the config are relative to the config file's folder, not the working directory. */
function resolveFilePaths(config: BrokerConfig): void {
  const base = dirname(config.sourceFile)
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  if (config.tls) {
    config.tls.cert_file = abs(config.tls.cert_file)
    config.tls.key_file = abs(config.tls.key_file)
    config.tls.client_ca_files = config.tls.client_ca_files.map(abs)
  }
  if (config.audit.path !== ':memory:') config.audit.path = abs(config.audit.path)
  config.keys.kek_file = abs(config.keys.kek_file)
  for (const issuer of config.trust.oidc) if (issuer.ca_file) issuer.ca_file = abs(issuer.ca_file)
  for (const provider of Object.values(config.providers)) {
    if (provider.type === 'file') {
      provider.path = abs(provider.path)
      continue
    }
    if (provider.ca_file) provider.ca_file = abs(provider.ca_file)
    if (provider.type === 'vault') {
      const auth = provider.auth
      if (auth.method === 'token') auth.token_file = abs(auth.token_file)
      if (auth.method === 'approle') {
        auth.role_id_file = abs(auth.role_id_file)
        auth.secret_id_file = abs(auth.secret_id_file)
      }
      if (auth.method === 'kubernetes') auth.token_file = abs(auth.token_file)
    }
  }
  for (const route of Object.values(config.routes)) if (route.ca_file) route.ca_file = abs(route.ca_file)
}

/** References between sections: each name used must be defined, each grant name unique. */
function checkReferences(config: BrokerConfig): string[] {
  const problems: string[] = []
  const trustNames = new Set<string>()
  config.trust.oidc.forEach((issuer, i) => {
    if (trustNames.has(issuer.name))
      problems.push(`trust.oidc[${i}].name: duplicate trust name "${issuer.name}"`)
    trustNames.add(issuer.name)
  })
  for (const [name, secret] of Object.entries(config.secrets)) {
    const provider = config.providers[secret.provider]
    if (!provider) {
      problems.push(`secrets.${name}.provider: provider "${secret.provider}" is not defined under providers`)
      continue
    }
    if (provider.type === 'vault' && !secret.path)
      problems.push(`secrets.${name}.path: is required for a vault provider`)
    if (provider.type === 'aws-secrets-manager' && !secret.secret_id)
      problems.push(`secrets.${name}.secret_id: is required for an aws-secrets-manager provider`)
    if (provider.type === 'file') {
      // the file is named once, on the provider; a per-secret location would be silently ignored
      for (const key of ['path', 'secret_id', 'version_stage', 'json_key'] as const) {
        if (secret[key] !== undefined)
          problems.push(
            `secrets.${name}.${key}: does not apply to a file provider (the file is providers.${secret.provider}.path; pick a key with field)`,
          )
      }
    }
  }
  for (const [name, route] of Object.entries(config.routes)) {
    if (!config.secrets[route.secret])
      problems.push(`routes.${name}.secret: secret "${route.secret}" is not defined under secrets`)
  }
  const grantNames = new Set<string>()
  config.grants.forEach((grant, i) => {
    const at = `grants[${i}]`
    if (grantNames.has(grant.name)) problems.push(`${at}.name: duplicate grant name "${grant.name}"`)
    grantNames.add(grant.name)
    const m = grant.match
    if (!m.spiffe_id && !m.issuer && !m.subject && !m.attributes)
      problems.push(
        `${at}.match: names no spiffe_id, issuer, subject or attributes, so it would match nobody`,
      )
    if (m.spiffe_id && (m.issuer || m.attributes))
      problems.push(
        `${at}.match: spiffe_id cannot be combined with issuer or attributes (mTLS identities have neither)`,
      )
    if (m.issuer && !trustNames.has(m.issuer))
      problems.push(`${at}.match.issuer: "${m.issuer}" is not a trust.oidc[].name`)
    grant.secrets.forEach((secret, j) => {
      if (!config.secrets[secret])
        problems.push(`${at}.secrets[${j}]: secret "${secret}" is not defined under secrets`)
    })
    grant.tokens.forEach((token, j) => {
      if (token.default_ttl > token.max_ttl)
        problems.push(`${at}.tokens[${j}].default_ttl: is longer than max_ttl`)
      if (token.audience.startsWith('proxy:') && !config.routes[token.audience.slice('proxy:'.length)])
        problems.push(
          `${at}.tokens[${j}].audience: route "${token.audience.slice(6)}" is not defined under routes`,
        )
    })
  })
  return problems
}
