import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import type { z } from 'zod'
import { BrokerError } from '../errors.js'
import { checkApprovers } from './approvers.js'
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

/** `line 4, column 1: <what the YAML parser says>`; the position is 1-based, as editors show it. */
function describeYamlError(error: YAMLError, lines: LineCounter): string {
  const { line, col } = lines.linePos(error.pos[0])
  return `line ${line}, column ${col}: ${error.message.split('\n')[0]}`
}

/**
 * Parse and validate config text; every fault is reported, not just the first. References between
 * sections are checked even when the schema fails, so one run shows an operator everything to fix.
 */
export function parseConfig(text: string, sourceFile: string): BrokerConfig {
  // prettyErrors off keeps the message to one line (no source excerpt); the LineCounter gives the position
  const lines = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceFile,
      doc.errors.map((e) => describeYamlError(e, lines)),
    )
  }
  const raw: unknown = doc.toJS() ?? {}
  const result = configSchema.safeParse(raw)
  const schemaProblems = result.success ? [] : result.error.issues.map(describeIssue)
  const schemaPaths = result.success ? [] : result.error.issues.map((issue) => formatPath(issue.path))
  // A reference fault at a path the schema already rejected would say the same thing twice.
  const referenceProblems = checkReferences(raw).filter((problem) => {
    const at = problem.slice(0, problem.indexOf(': '))
    return !schemaPaths.some((p) => at === p || at.startsWith(`${p}.`) || at.startsWith(`${p}[`))
  })
  const problems = [...schemaProblems, ...referenceProblems]
  if (problems.length > 0 || !result.success) throw new ConfigError(sourceFile, problems)
  const warnings: string[] = []
  const data = result.data
  let storagePath = data.storage.path
  if (data.audit.path !== undefined) {
    if (storagePath !== undefined && storagePath !== data.audit.path)
      throw new ConfigError(sourceFile, ['audit.path: conflicts with storage.path; keep only storage.path'])
    warnings.push('audit.path is deprecated: write storage.path instead (same meaning)')
    storagePath = data.audit.path
  }
  storagePath ??= './data/keybroker.db'
  const config: BrokerConfig = {
    ...data,
    audit: { ...data.audit, path: storagePath },
    storage: { ...data.storage, path: storagePath },
    sourceFile,
    warnings,
  }
  resolveFilePaths(config)
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
  if (config.storage.path !== ':memory:') config.storage.path = abs(config.storage.path)
  config.audit.path = config.storage.path
  if (config.storage.password_file) config.storage.password_file = abs(config.storage.password_file)
  if (config.storage.checkpoint_file) config.storage.checkpoint_file = abs(config.storage.checkpoint_file)
  if (config.storage.tls) config.storage.tls.ca_file = abs(config.storage.tls.ca_file)
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
  for (const sink of config.alerts?.sinks ?? []) sink.secret_file = abs(sink.secret_file)
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/**
 * References between sections: each name used must be defined, each grant name unique.
 * Works on the raw YAML (not the schema output) so it can run even when the schema failed.
 */
function checkReferences(raw: unknown): string[] {
  const problems: string[] = []
  const config = record(raw)
  const secrets = record(config.secrets)
  const providers = record(config.providers)
  const routes = record(config.routes)
  const trustNames = new Set<string>()
  const trustedIssuers = new Set<string>()
  list(record(config.trust).oidc).forEach((entry, i) => {
    const name = text(record(entry).name)
    if (name !== undefined) {
      if (trustNames.has(name)) problems.push(`trust.oidc[${i}].name: duplicate trust name "${name}"`)
      trustNames.add(name)
    }
    // The unverified `iss` picks the entry, so two entries for one issuer would be ambiguous.
    const issuer = text(record(entry).issuer)
    if (issuer !== undefined) {
      if (trustedIssuers.has(issuer)) problems.push(`trust.oidc[${i}].issuer: "${issuer}" is trusted twice`)
      trustedIssuers.add(issuer)
    }
  })
  for (const [name, entry] of Object.entries(secrets)) {
    const secret = record(entry)
    const providerName = text(secret.provider)
    if (providerName === undefined) continue
    const provider = providers[providerName]
    if (provider === undefined) {
      problems.push(`secrets.${name}.provider: provider "${providerName}" is not defined under providers`)
      continue
    }
    const type = record(provider).type
    if (type === 'vault' && secret.path === undefined)
      problems.push(`secrets.${name}.path: is required for a vault provider`)
    if (type === 'aws-secrets-manager' && secret.secret_id === undefined)
      problems.push(`secrets.${name}.secret_id: is required for an aws-secrets-manager provider`)
    if (type === 'file') {
      // the file is named once, on the provider; a per-secret location would be silently ignored
      for (const key of ['path', 'secret_id', 'version_stage', 'json_key'] as const) {
        if (secret[key] !== undefined)
          problems.push(
            `secrets.${name}.${key}: does not apply to a file provider (the file is providers.${providerName}.path; pick a key with field)`,
          )
      }
    }
  }
  for (const [name, entry] of Object.entries(routes)) {
    const secret = text(record(entry).secret)
    if (secret !== undefined && secrets[secret] === undefined)
      problems.push(`routes.${name}.secret: secret "${secret}" is not defined under secrets`)
  }
  problems.push(...checkApprovers(raw))
  list(config.admins).forEach((entry, i) => {
    const issuer = text(record(entry).issuer)
    if (issuer !== undefined && !trustNames.has(issuer))
      problems.push(`admins[${i}].issuer: "${issuer}" is not a trust.oidc[].name`)
  })
  const grantNames = new Set<string>()
  list(config.grants).forEach((entry, i) => {
    const at = `grants[${i}]`
    const grant = record(entry)
    const name = text(grant.name)
    if (name !== undefined) {
      if (grantNames.has(name)) problems.push(`${at}.name: duplicate grant name "${name}"`)
      grantNames.add(name)
    }
    const m = record(grant.match)
    if (grant.match !== undefined && !m.spiffe_id && !m.issuer && !m.subject && !m.attributes)
      problems.push(
        `${at}.match: names no spiffe_id, issuer, subject or attributes, so it would match nobody`,
      )
    if (m.spiffe_id && (m.issuer || m.attributes))
      problems.push(
        `${at}.match: spiffe_id cannot be combined with issuer or attributes (mTLS identities have neither)`,
      )
    if (!m.spiffe_id && !m.issuer && (m.subject || m.attributes))
      problems.push(
        `${at}.match: subject and attributes need match.issuer (a trust.oidc name): the same sub can come from any trusted issuer`,
      )
    const issuer = text(m.issuer)
    if (issuer !== undefined && !trustNames.has(issuer))
      problems.push(`${at}.match.issuer: "${issuer}" is not a trust.oidc[].name`)
    list(grant.secrets).forEach((secret, j) => {
      if (typeof secret === 'string' && secrets[secret] === undefined)
        problems.push(`${at}.secrets[${j}]: secret "${secret}" is not defined under secrets`)
    })
    list(grant.tokens).forEach((entry, j) => {
      const token = record(entry)
      const audience = text(token.audience)
      if (audience?.startsWith('proxy:') && routes[audience.slice('proxy:'.length)] === undefined)
        problems.push(
          `${at}.tokens[${j}].audience: route "${audience.slice('proxy:'.length)}" is not defined under routes`,
        )
    })
  })
  return problems
}
