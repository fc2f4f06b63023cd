import type { Command } from 'commander'
import { type BrokerConfig, checkConfig, formatDuration, type GrantConfig } from '../../config/index.js'
import { BrokerError } from '../../errors.js'
import type { Identity } from '../../identity/identity.js'
import { parseSpiffeId } from '../../identity/spiffe.js'
import { Policy } from '../../policy/policy.js'
import { CliExit, collect } from '../common.js'

interface CheckOptions {
  files: boolean
  explain?: boolean
  spiffeId?: string
  subject?: string
  issuer?: string
  attribute: string[]
  audience?: string
  scope: string[]
  secret?: string
}

/** `keybroker config check`: validate as `serve` would, and explain what policy allows an identity. */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('keybroker.yaml')

  config
    .command('check <file>')
    .description(
      'validate a config as `serve` would (same schema); print every problem with its key path; exit 1 on any. ' +
        'Also warns (exit code unchanged) when the state folder or audit database is readable by group/other',
    )
    .option(
      '--no-files',
      'skip checking that TLS, CA, KEK and credential files exist, and the state-permission warnings (check elsewhere)',
    )
    .option('--explain', 'show which grants match an identity and what they allow')
    .option('--spiffe-id <id>', 'explain for an mTLS identity')
    .option('--subject <sub>', 'explain for a workload-token identity: its subject')
    .option('--issuer <name>', 'the trust.oidc[] name (or issuer URL) that verified the token')
    .option('--attribute <key=value>', 'an attribute of the token identity (repeatable)', collect, [])
    .option('--audience <aud>', 'with --explain: decide a token request for this audience')
    .option('--scope <scope>', 'with --explain: a requested scope (repeatable)', collect, [])
    .option('--secret <name>', 'with --explain: decide a FetchSecret for this name')
    .action((file: string, opts: CheckOptions) => {
      const { config, problems, warnings } = checkConfig(file, { files: opts.files })
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`)
      if (!config) {
        const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
        throw new CliExit(`${file}: ${count}\n${problems.map((p) => `  ${p}`).join('\n')}`)
      }
      if (!opts.explain) {
        const grants = config.grants.length === 1 ? '1 grant' : `${config.grants.length} grants`
        process.stdout.write(`${file}: OK (${grants})\n`)
        return
      }
      const { lines, allowed } = explain(config, identityFrom(config, opts), opts)
      process.stdout.write(`${lines.join('\n')}\n`)
      if (!allowed) throw new CliExit('', 1)
    })
}

function identityFrom(config: BrokerConfig, opts: CheckOptions): Identity {
  if (opts.spiffeId !== undefined) {
    if (opts.subject !== undefined || opts.issuer !== undefined || opts.attribute.length > 0)
      throw new CliExit('give either --spiffe-id, or --subject/--issuer/--attribute, not both', 2)
    const id = parseSpiffeId(opts.spiffeId)
    if (!id || id.path === '')
      throw new CliExit(`--spiffe-id: "${opts.spiffeId}" is not a SPIFFE ID (spiffe://domain/path)`, 2)
    return { subject: id.id, method: 'mtls', issuer: `spiffe://${id.trustDomain}`, attributes: {} }
  }
  if (opts.subject === undefined && opts.issuer === undefined)
    throw new CliExit('--explain needs an identity: --spiffe-id ID, or --subject SUB --issuer NAME', 2)
  const trust = config.trust.oidc.find((t) => t.name === opts.issuer || t.issuer === opts.issuer)
  if (opts.issuer !== undefined && !trust) {
    const names = config.trust.oidc.map((t) => t.name).join(', ') || 'none'
    throw new CliExit(
      `--issuer: "${opts.issuer}" is not a trust.oidc[] name or issuer (defined: ${names})`,
      2,
    )
  }
  const attributes: Record<string, string> = {}
  for (const pair of opts.attribute) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new CliExit(`--attribute: expected key=value, got "${pair}"`, 2)
    attributes[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return {
    subject: opts.subject ?? '',
    method: 'oidc',
    issuer: trust?.issuer ?? '',
    trustName: trust?.name,
    attributes,
  }
}

function describeGrant(grant: GrantConfig, index: number): string[] {
  const lines = [`grant "${grant.name}" (grants[${index}]) allows:`]
  for (const t of grant.tokens) {
    const scopes = t.scopes.length > 0 ? t.scopes.join(' ') : '(no scopes)'
    lines.push(
      `  token  audience=${t.audience} scopes=[${scopes}] default_ttl=${formatDuration(t.default_ttl)} max_ttl=${formatDuration(t.max_ttl)}`,
    )
  }
  for (const s of grant.secrets) lines.push(`  secret ${s}`)
  if (grant.delegation.max_depth > 0) {
    const audiences =
      grant.delegation.audiences.length > 0 ? grant.delegation.audiences.join(' ') : 'parent only'
    lines.push(`  delegation max_depth=${grant.delegation.max_depth} audiences=${audiences}`)
  }
  if (lines.length === 1) lines.push('  nothing (no tokens, secrets or delegation)')
  return lines
}

/** What policy decides for this identity; `allowed` is false when nothing matches or a request is refused. */
function explain(
  config: BrokerConfig,
  identity: Identity,
  opts: CheckOptions,
): { lines: string[]; allowed: boolean } {
  const policy = new Policy(config)
  const who =
    identity.method === 'mtls'
      ? `mtls ${identity.subject}`
      : `oidc subject=${identity.subject || '(any)'} issuer=${identity.trustName ?? '(none)'} attributes=${JSON.stringify(identity.attributes)}`
  const lines = [`identity: ${who}`]
  const matching = policy.matchingGrants(identity)
  if (matching.length === 0) {
    lines.push('no grant matches: every request from this identity is refused (default deny)')
    return { lines, allowed: false }
  }
  for (const grant of matching)
    lines.push(
      ...describeGrant(
        grant,
        config.grants.findIndex((g) => g.name === grant.name),
      ),
    )
  let allowed = true
  const decide = (what: string, run: () => string) => {
    try {
      lines.push(`${what}: ALLOWED ${run()}`)
    } catch (err) {
      if (!(err instanceof BrokerError)) throw err
      allowed = false
      lines.push(`${what}: REFUSED (${err.code}) ${err.message}`)
    }
  }
  if (opts.audience !== undefined) {
    const audience = opts.audience
    decide(`token for audience=${audience} scopes=[${opts.scope.join(' ')}]`, () => {
      const d = policy.evaluateTokenRequest(identity, { audience, scopes: opts.scope, ttlSeconds: 0 })
      return `by grant "${d.grant}": scopes=[${d.scopes.join(' ')}] ttl=${formatDuration(d.ttlSeconds)}`
    })
  }
  if (opts.secret !== undefined) {
    const name = opts.secret
    decide(`secret ${name}`, () => `by grant "${policy.evaluateSecretRequest(identity, name).grant}"`)
  }
  return { lines, allowed }
}
