import type { BrokerConfig, GrantConfig, GrantTokenConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { compileGlob } from './glob.js'
import { wireScope } from './scope_form.js'
import { SpiffeIdIndex } from './spiffe_index.js'

export interface TokenRequest {
  audience: string
  scopes: string[]
  /** 0 = the grant's default_ttl. */
  ttlSeconds: number
}

/** What policy allows for one token request: the caller gets exactly this, nothing more. */
export interface TokenDecision {
  grant: string
  audience: string
  scopes: string[]
  ttlSeconds: number
  /** True when the requested ttl was above max_ttl and was cut down. */
  capped: boolean
  delegation: GrantConfig['delegation']
  /** Set when a person must approve this request first (`tokens[].approval`). */
  approval?: GrantTokenConfig['approval']

  /** The grant's `tokens[].max_uses` for this audience (undefined: no cap). */
  maxUses?: number
  /** `tokens[].require_task`: the request must name a task.run_id. */
  requireTask: boolean
}

/** What DelegateToken knows about a verified parent token. */
export interface DelegationParent {
  subject: string
  /** Who vouched for the parent's subject (`kb_idp`: trust domain or workload-token issuer), when recorded. */
  identityIssuer?: string
  audience: string
  scopes: string[]
  /** unix seconds */
  expiresAt: number
  /** Nested `act` levels already in the parent (0 for a token issued directly). */
  depth: number
}

export interface DelegationRequest {
  actor: string
  scopes: string[]
  /** 0 = the grant's default_ttl (still capped by the parent's remaining life). */
  ttlSeconds: number
  /** '' = the parent's audience. */
  audience: string
  /** unix seconds */
  now: number
}

export interface DelegationDecision {
  grant: string
  audience: string
  scopes: string[]
  ttlSeconds: number
  /** True when the requested ttl was cut to the parent's remaining life or max_ttl. */
  capped: boolean
  /** Nested `act` levels of the child. */
  depth: number
  /** The grant's `tokens[].max_uses` for the parent's audience (undefined: no cap). */
  maxUses?: number
  requireTask: boolean
}

interface CompiledGrant {
  config: GrantConfig
  matchesOidc?: (identity: Identity) => boolean
  matchesSubject?: (subject: string) => boolean
}

export const MAX_SCOPES = 100
const MAX_SCOPE_LENGTH = 256
const MAX_AUDIENCE_LENGTH = 256
/** A plain scope token (the wire form `METHOD:/path-glob` is one), or the spaced alias `METHOD /path-glob`. */
const SCOPE_SYNTAX = /^([\x21-\x7e]+|[A-Z*]+ \/[\x21-\x7e]*)$/

/**
 * Default-deny policy compiled once per config: `evaluate*` are pure functions of
 * (identity, request) with no I/O, so they are cheap on the hot path and easy to test.
 */
export class Policy {
  private readonly grants: CompiledGrant[]
  private readonly spiffeIndex = new SpiffeIdIndex()
  /** Grants that do not use spiffe_id and so must be checked one by one (usually few). */
  private readonly otherGrants: number[] = []

  constructor(config: Pick<BrokerConfig, 'grants'>) {
    this.grants = config.grants.map((original, i) => {
      // Scopes are compared in their wire form, so the spaced alias in config matches either spelling.
      const grant: GrantConfig = {
        ...original,
        tokens: original.tokens.map((t) => ({ ...t, scopes: t.scopes.map(wireScope) })),
      }
      const compiled: CompiledGrant = { config: grant }
      const m = grant.match
      if (m.spiffe_id) this.spiffeIndex.add(m.spiffe_id, i)
      else this.otherGrants.push(i)
      if (m.subject) compiled.matchesSubject = compileGlob(m.subject)
      if (m.issuer || m.attributes) {
        const attrMatchers = Object.entries(m.attributes ?? {}).map(
          ([name, pattern]) => [name, compileGlob(pattern)] as const,
        )
        compiled.matchesOidc = (identity) =>
          identity.method === 'oidc' &&
          (m.issuer === undefined || identity.trustName === m.issuer) &&
          attrMatchers.every(([name, test]) => {
            const value = identity.attributes[name]
            return value !== undefined && test(value)
          })
      }
      return compiled
    })
  }

  /** The grant named `name`, when the config still has it. */
  grant(name: string): GrantConfig | undefined {
    return this.grants.find((g) => g.config.name === name)?.config
  }

  /** Grants that match this identity, in config order (the first is preferred). */
  matchingGrants(identity: Identity): GrantConfig[] {
    const indices: number[] = []
    if (identity.method === 'mtls') indices.push(...this.spiffeIndex.lookup(identity.subject))
    for (const i of this.otherGrants) {
      const g = this.grants[i]!
      if (g.matchesOidc && !g.matchesOidc(identity)) continue
      if (g.matchesSubject && !g.matchesSubject(identity.subject)) continue
      if (!g.matchesOidc && !g.matchesSubject) continue
      indices.push(i)
    }
    // A grant with spiffe_id + subject must satisfy both.
    return [...new Set(indices)]
      .sort((a, b) => a - b)
      .map((i) => this.grants[i]!)
      .filter((g) => !g.config.match.spiffe_id || !g.matchesSubject || g.matchesSubject(identity.subject))
      .map((g) => g.config)
  }

  /** Decide a token request: requested scopes ⊆ granted, ttl defaulted and capped. Throws a refusal. */
  evaluateTokenRequest(identity: Identity, request: TokenRequest): TokenDecision {
    validateTokenRequest(request)
    const grants = this.matchingGrants(identity)
    if (grants.length === 0) {
      throw new BrokerError('ERR_NO_GRANT', `no grant matches ${identity.subject}`)
    }
    const candidates: Array<{ grant: GrantConfig; token: GrantTokenConfig }> = []
    for (const grant of grants) {
      for (const token of grant.tokens)
        if (token.audience === request.audience) candidates.push({ grant, token })
    }
    if (candidates.length === 0) {
      throw new BrokerError(
        'ERR_AUDIENCE_NOT_GRANTED',
        `audience "${request.audience}" is not granted to ${identity.subject}`,
      )
    }
    const requested = [...new Set(request.scopes.map(wireScope))]
    const chosen = candidates.find(({ token }) => requested.every((s) => token.scopes.includes(s)))
    if (!chosen) {
      const union = new Set(candidates.flatMap(({ token }) => token.scopes))
      const refused = requested.filter((s) => !union.has(s))
      const message =
        refused.length > 0
          ? `scope not granted for audience "${request.audience}": ${refused.join(', ')}`
          : `no single grant allows all of the requested scopes together for audience "${request.audience}"`
      throw new BrokerError('ERR_SCOPE_NOT_GRANTED', message)
    }
    const { grant, token } = chosen
    const wanted = request.ttlSeconds === 0 ? token.default_ttl : request.ttlSeconds
    const ttlSeconds = Math.min(wanted, token.max_ttl)
    return {
      grant: grant.name,
      audience: request.audience,
      // No scopes asked for: the caller gets what the grant lists for this audience.
      scopes: requested.length > 0 ? requested : [...token.scopes],
      ttlSeconds,
      capped: wanted > token.max_ttl,
      delegation: grant.delegation,
      ...(token.approval ? { approval: token.approval } : {}),

      ...(token.max_uses !== undefined ? { maxUses: token.max_uses } : {}),
      requireTask: token.require_task,
    }
  }

  /**
   * Decide a delegation: the caller (who must be the parent token's subject) asks for a child token
   * for `request.actor`. The child never outranks its parent: scopes ⊆ parent's, `exp` ≤ parent's,
   * same audience unless the grant lists another in `delegation.audiences`, and the actor chain no
   * deeper than the grant's `delegation.max_depth`. Pure: the parent's signature, expiry and
   * revocation are checked before this is called. Throws a refusal.
   */
  evaluateDelegation(
    identity: Identity,
    parent: DelegationParent,
    request: DelegationRequest,
  ): DelegationDecision {
    validateActor(request.actor)
    if (request.audience.length > MAX_AUDIENCE_LENGTH) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `audience is longer than ${MAX_AUDIENCE_LENGTH} characters`,
      )
    }
    if (request.scopes.length > MAX_SCOPES) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `too many scopes: ${request.scopes.length} requested, at most ${MAX_SCOPES} allowed`,
      )
    }
    // The same `sub` can come from two trusted issuers: the caller must be the parent's subject as
    // vouched for by the same issuer, not merely carry the same name.
    if (
      identity.subject !== parent.subject ||
      (parent.identityIssuer !== undefined && identity.issuer !== parent.identityIssuer)
    ) {
      throw new BrokerError(
        'ERR_DELEGATION_DENIED',
        `the parent token was issued to ${parent.subject}${parent.identityIssuer ? ` of ${parent.identityIssuer}` : ''}; only that subject may delegate it (caller is ${identity.subject} of ${identity.issuer})`,
      )
    }
    const grants = this.matchingGrants(identity)
    if (grants.length === 0) throw new BrokerError('ERR_NO_GRANT', `no grant matches ${identity.subject}`)
    const candidates = grants.filter((g) => g.tokens.some((t) => t.audience === parent.audience))
    if (candidates.length === 0) {
      throw new BrokerError(
        'ERR_AUDIENCE_NOT_GRANTED',
        `audience "${parent.audience}" of the parent token is no longer granted to ${identity.subject}`,
      )
    }
    const grant = candidates.find((g) => g.delegation.max_depth > 0)
    if (!grant) {
      throw new BrokerError(
        'ERR_DELEGATION_DENIED',
        `delegation is off for grant "${candidates[0]!.name}" (delegation.max_depth is 0)`,
      )
    }
    const depth = parent.depth + 1
    if (depth > grant.delegation.max_depth) {
      throw new BrokerError(
        'ERR_DELEGATION_DENIED',
        `delegation depth ${depth} exceeds delegation.max_depth ${grant.delegation.max_depth} of grant "${grant.name}"`,
      )
    }
    const audience = request.audience === '' ? parent.audience : request.audience
    if (audience !== parent.audience && !grant.delegation.audiences.includes(audience)) {
      throw new BrokerError(
        'ERR_AUDIENCE_NOT_GRANTED',
        `audience "${audience}" is not in delegation.audiences of grant "${grant.name}"; a delegated token keeps its parent's audience "${parent.audience}"`,
      )
    }
    const requested = [...new Set(request.scopes.map(wireScope))]
    // a parent minted before the wire form may carry the spaced alias
    const held = parent.scopes.map(wireScope)
    const missing = requested.filter((s) => !held.includes(s))
    if (missing.length > 0) {
      throw new BrokerError(
        'ERR_SCOPE_NOT_GRANTED',
        `scope not held by the parent token: ${missing.join(', ')}`,
      )
    }
    const remaining = parent.expiresAt - request.now
    if (remaining <= 0) throw new BrokerError('ERR_TOKEN_EXPIRED', 'parent token has expired')
    const token = grant.tokens.find((t) => t.audience === parent.audience)!
    const wanted = request.ttlSeconds === 0 ? token.default_ttl : request.ttlSeconds
    // The child dies with its parent, and never outlives what the grant allows for a fresh token.
    const ceiling = Math.min(remaining, token.max_ttl)
    return {
      grant: grant.name,
      audience,
      scopes: requested.length > 0 ? requested : held,
      ttlSeconds: Math.min(wanted, ceiling),
      capped: wanted > ceiling,
      depth,
      ...(token.max_uses !== undefined ? { maxUses: token.max_uses } : {}),
      requireTask: token.require_task,
    }
  }

  /**
   * May this identity fetch secret `name`? An unknown name and a name granted to someone else get
   * the same refusal, so callers cannot probe which secrets exist.
   */
  evaluateSecretRequest(identity: Identity, name: string): { grant: string } {
    if (name.length === 0) throw new BrokerError('ERR_INVALID_ARGUMENT', 'name is required')
    if (name.length > 256) throw new BrokerError('ERR_INVALID_ARGUMENT', 'name is longer than 256 characters')
    const grant = this.matchingGrants(identity).find((g) => g.secrets.includes(name))
    if (!grant) throw secretNotGranted(identity, name)
    return { grant: grant.name }
  }
}

/** The one refusal for "no such secret" and "not yours": identical, so callers cannot probe. */
export function secretNotGranted(identity: Identity, name: string): BrokerError {
  return new BrokerError('ERR_SECRET_NOT_GRANTED', `secret "${name}" is not granted to ${identity.subject}`)
}

const MAX_ACTOR_LENGTH = 256

function validateActor(actor: string): void {
  if (actor.length === 0) {
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'actor is required (who the delegated token is for)')
  }
  if (actor.length > MAX_ACTOR_LENGTH || !/^[\x21-\x7e]+$/.test(actor)) {
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `actor must be 1-${MAX_ACTOR_LENGTH} printable characters without spaces`,
    )
  }
}

function validateTokenRequest(request: TokenRequest): void {
  if (request.audience.length === 0) {
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'audience is required (the service the token is for)')
  }
  if (request.audience.length > MAX_AUDIENCE_LENGTH) {
    throw new BrokerError('ERR_INVALID_ARGUMENT', `audience is longer than ${MAX_AUDIENCE_LENGTH} characters`)
  }
  if (request.scopes.length > MAX_SCOPES) {
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `too many scopes: ${request.scopes.length} requested, at most ${MAX_SCOPES} allowed`,
    )
  }
  for (const scope of request.scopes) {
    if (scope.length === 0 || scope.length > MAX_SCOPE_LENGTH || !SCOPE_SYNTAX.test(scope)) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `invalid scope "${scope.slice(0, 64)}": use a token without spaces, or "METHOD:/path" for proxy routes`,
      )
    }
  }
}
