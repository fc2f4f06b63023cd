import { Malformed } from './errors.js'

/**
 * RFC 8693 actor chain: who acts for `sub`, the newest actor outermost.
 *
 * @example
 * ```ts
 * const act: ActorClaim = { sub: 'sub-agent-7', act: { sub: 'planner' } }
 * ```
 */
export interface ActorClaim {
  sub: string
  act?: ActorClaim
}

/**
 * The agent run a token was issued for (`kb_task`).
 *
 * @example
 * ```ts
 * const task: TaskClaim = { run_id: 'run-42', tool_call_id: 'call-7' }
 * ```
 */
export interface TaskClaim {
  run_id: string
  tool_call_id?: string
}

/**
 * The claims of a broker access token (RFC 9068 profile), as signed.
 *
 * @example
 * ```ts
 * const bound = (claims: BrokerTokenClaims) => claims.cnf?.['x5t#S256'] !== undefined
 * ```
 */
export interface BrokerTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  nbf?: number
  jti: string
  /** Space-separated. */
  scope?: string
  client_id?: string
  /** RFC 8705: the token is bound to the client certificate with this SHA-256 thumbprint. */
  cnf?: { 'x5t#S256'?: string }
  act?: ActorClaim
  /** Delegated tokens: the `jti` of every ancestor, root first. */
  kb_ancestors?: string[]
  /** Who vouched for `sub`: SPIFFE trust domain or workload-token issuer. */
  kb_idp?: string
  kb_task?: TaskClaim
  kb_grant?: string
}

/**
 * What {@link Verifier.verify} returns for an accepted token: the signed claims, and the same facts in
 * convenient form.
 *
 * @example
 * ```ts
 * const principal: VerifiedToken = await verifier.verify(token, { scopes: ['payments:read'] })
 * console.log(principal.subject, principal.scopes, principal.actors.join(' ← '))
 * ```
 */
export interface VerifiedToken {
  /** `sub`: the workload the token was issued to. */
  subject: string
  /** `scope`, split into scopes. */
  scopes: string[]
  /** `aud` as a list. */
  audience: string[]
  /** `jti`. */
  tokenId: string
  /** `exp`, unix seconds. */
  expiresAt: number
  /** The delegation chain, newest actor first (empty for a token used by its own subject). */
  actors: string[]
  /** `kb_task`, when the token was issued for an agent run. */
  task?: TaskClaim
  /** `cnf.x5t#S256`, when the token is certificate-bound (checked against the peer when one was given). */
  certificateThumbprint?: string
  /** The signing key's id. */
  kid: string
  claims: BrokerTokenClaims
}

/**
 * Split a `scope` claim: space-separated (RFC 9068). A proxy scope written the old way, `METHOD /path`,
 * is kept as one scope (the broker's own rule), so both spellings round-trip.
 */
export function splitScopes(scope: string | undefined): string[] {
  if (!scope) return []
  const parts = scope.split(' ').filter((p) => p.length > 0)
  const scopes: string[] = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const next = parts[i + 1]
    if (/^[A-Z*]+$/.test(part) && next?.startsWith('/')) {
      scopes.push(`${part} ${next}`)
      i++
    } else scopes.push(part)
  }
  return scopes
}

/** The claims a verified payload must have, with the types the rest of the verifier relies on. */
export function checkClaimShapes(payload: Record<string, unknown>): BrokerTokenClaims {
  const bad = (claim: string, want: string) => new Malformed(`token claim "${claim}" must be ${want}`)
  if (typeof payload.sub !== 'string' || payload.sub === '') throw bad('sub', 'a non-empty string')
  if (typeof payload.jti !== 'string' || payload.jti === '') throw bad('jti', 'a non-empty string')
  if (payload.scope !== undefined && typeof payload.scope !== 'string') throw bad('scope', 'a string')
  const ancestors = payload.kb_ancestors
  if (ancestors !== undefined && !(Array.isArray(ancestors) && ancestors.every((a) => typeof a === 'string')))
    throw bad('kb_ancestors', 'a list of token ids')
  const cnf = payload.cnf
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null)) throw bad('cnf', 'an object')
  const thumbprint = (cnf as Record<string, unknown> | undefined)?.['x5t#S256']
  if (thumbprint !== undefined && typeof thumbprint !== 'string') throw bad('cnf.x5t#S256', 'a string')
  if (payload.kb_idp !== undefined && typeof payload.kb_idp !== 'string') throw bad('kb_idp', 'a string')
  return payload as unknown as BrokerTokenClaims
}

/** The actor chain, newest first, bounded so a hostile nesting cannot loop for long. */
export function actorChain(act: ActorClaim | undefined): string[] {
  const chain: string[] = []
  for (let a = act; a && chain.length < 32; a = a.act) {
    if (typeof a !== 'object' || typeof a.sub !== 'string')
      throw new Malformed('token claim "act" is malformed')
    chain.push(a.sub)
  }
  return chain
}
