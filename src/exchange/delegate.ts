import { BrokerError, toBrokerError } from '../errors.js'
import { childBudget, resolveMaxUses } from '../guardrails/budget.js'
import { inheritTask, type RawTask, requireTask, taskClaim, validateTask } from '../guardrails/task.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import { tokenFingerprint } from '../identity/oidc.js'
import {
  type AccessTokenClaims,
  type ActorClaim,
  type MintedToken,
  mintAccessToken,
  splitScopeClaim,
} from '../issuer/mint.js'
import { verifyAccessToken } from '../issuer/verify.js'
import { wireScope } from '../policy/scope_form.js'
import type { IssuedToken } from './issue.js'
import type { ExchangeSteps } from './steps.js'

export interface DelegateTokenInput {
  parentToken: string
  scopes: string[]
  ttlSeconds: number
  actor: string
  /** '' = the parent's audience. */
  audience: string
  /**
   * The actor's own workload JWT (OAuth `actor_token`). When set it is verified against the trusted
   * issuers and its subject becomes `act.sub`; `actor` must then be empty.
   */
  actorToken?: string
  /** Inherited from the parent unless set; a run_id other than the parent's is refused. */
  task?: RawTask | null
  /** At most what the parent has left; 0 / absent = the grant's max_uses. */
  maxUses?: number
}

/**
 * DelegateToken: a caller hands a broker token it holds to a sub-agent, narrowed. The child keeps the
 * parent's `sub`, nests the actor chain in `act` (RFC 8693) and lists every ancestor's `jti` in
 * `kb_ancestors`, so revoking any ancestor kills it.
 *
 * The child is not certificate-bound even when the parent is: it is made to be handed to an actor that
 * does not hold the caller's private key, so inheriting `cnf` would make it unusable. Instead, presenting
 * a bound parent requires the certificate it is bound to (proof of possession), and the child is
 * narrower and shorter-lived than the parent.
 */
export async function delegateToken(
  steps: ExchangeSteps,
  creds: CallerCredentials,
  input: DelegateTokenInput,
): Promise<IssuedToken> {
  const { deps } = steps
  const started = process.hrtime.bigint()
  const identity = await steps.authenticate(creds, started, 'delegate')
  const base = steps.identityFields(creds, identity, {
    kind: 'delegate',
    audience: input.audience || undefined,
    scopes: input.scopes.slice(0, 100).map(wireScope).join(' '),
    ttl: input.ttlSeconds,
    detail: { actor: input.actor.slice(0, 256) },
  })
  // Lets an operator correlate a refused parent without the token itself ever being stored.
  if (input.parentToken.length > 0) base.detail!.parent_fingerprint = tokenFingerprint(input.parentToken)
  let minted: MintedToken
  let scopes: string[]
  let budget = { maxUses: 0, ownUses: 0 }
  try {
    const requestedTask = validateTask(input.task)
    const parent = await verifyParent(steps, identity, input.parentToken)
    base.detail = { ...base.detail, parent_jti: parent.jti }
    const task = inheritTask(parent.kb_task, requestedTask)
    if (task) {
      base.run_id = task.runId
      base.tool_call_id = task.toolCallId
      if (task.purpose) base.detail = { ...base.detail, purpose: task.purpose }
    }
    const policy = deps.policy()
    deps.guardrails?.admitIssue(identity, policy.matchingGrants(identity))
    let actor = input.actor
    if (input.actorToken !== undefined) {
      const verified = await verifyActor(steps, input.actorToken, input.actor)
      actor = verified.subject
      base.detail = {
        ...base.detail,
        actor: actor.slice(0, 256),
        actor_issuer: verified.issuer,
        actor_fingerprint: tokenFingerprint(input.actorToken),
      }
    }
    base.audience ||= parent.aud
    const nowSec = Math.floor(deps.clock.now() / 1000)
    const decision = policy.evaluateDelegation(
      identity,
      {
        subject: parent.sub,
        identityIssuer: parent.kb_idp,
        audience: parent.aud,
        scopes: splitScopeClaim(parent.scope ?? ''),
        expiresAt: parent.exp,
        depth: actorDepth(parent.act),
      },
      {
        actor,
        scopes: input.scopes,
        ttlSeconds: input.ttlSeconds,
        audience: input.audience,
        now: nowSec,
      },
    )
    base.grant_name = decision.grant
    if (decision.requireTask) requireTask(task, decision.grant, decision.audience)
    const requested = input.maxUses ?? 0
    const own = resolveMaxUses(requested, decision.audience, decision.maxUses)
    const parentLeft = await deps.guardrails?.budgetLeft(parent.kb_budget ?? [])
    const child = childBudget({ maxUses: own.maxUses, requested }, parentLeft)
    budget = { maxUses: child.reported, ownUses: child.ownUses }
    scopes = decision.scopes
    steps.step(base, 'produce')
    minted = mintAccessToken(deps.keys.signingKey(), {
      issuer: deps.issuer(),
      subject: parent.sub,
      audience: decision.audience,
      scopes: decision.scopes,
      issuedAt: nowSec,
      ttlSeconds: decision.ttlSeconds,
      act: parent.act ? { sub: actor, act: parent.act } : { sub: actor },
      ancestors: [...(parent.kb_ancestors ?? []), parent.jti],
      identityIssuer: parent.kb_idp,
      task: taskClaim(task),
      grant: decision.grant,
      budgetAncestors: parent.kb_budget,
      ownBudget: child.ownUses > 0,
    })
    base.audience = decision.audience
    base.scopes = decision.scopes.join(' ')
    base.ttl = decision.ttlSeconds
    base.grant_name = decision.grant
    base.detail = {
      ...base.detail,
      grant: decision.grant,
      depth: decision.depth,
      capped: decision.capped,
      kid: minted.kid,
    }
    if (budget.maxUses > 0) base.detail.max_uses = budget.maxUses
  } catch (err) {
    throw await steps.refuse(base, err, started)
  }
  return steps.answerWithToken(base, minted, scopes, started, budget)
}

/** Signature, `iss`, `exp`, revocation of the token and its ancestors, and possession of a bound one. */
async function verifyParent(
  steps: ExchangeSteps,
  identity: Identity,
  token: string,
): Promise<AccessTokenClaims> {
  const { deps } = steps
  let claims: AccessTokenClaims
  try {
    claims = await verifyAccessToken(token, {
      keys: deps.keys,
      issuer: deps.issuer(),
      clock: deps.clock,
      isRevoked: (c) => deps.revocations.isTokenRevoked(c),
    })
  } catch (err) {
    const error = toBrokerError(err)
    throw new BrokerError(error.code, `parent_token: ${error.message}`, { cause: err })
  }
  const bound = claims.cnf?.['x5t#S256']
  if (bound && bound !== identity.certThumbprint) {
    throw new BrokerError(
      'ERR_TOKEN_INVALID',
      'parent_token is bound to a client certificate (cnf.x5t#S256) that this connection did not present',
    )
  }
  return claims
}

/** The actor's workload JWT, verified like a caller's; its subject names the actor. */
async function verifyActor(steps: ExchangeSteps, token: string, label: string): Promise<Identity> {
  if (label.length > 0) {
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'send either actor_token or actor, not both')
  }
  const verifier = steps.deps.workloadTokens?.()
  if (!verifier) {
    throw new BrokerError(
      'ERR_ISSUER_UNKNOWN',
      'actor_token: this broker trusts no OIDC issuers (trust.oidc is empty)',
    )
  }
  try {
    return await verifier.verifyWorkloadToken(token)
  } catch (err) {
    const error = toBrokerError(err)
    throw new BrokerError(error.code, `actor_token: ${error.message}`, { cause: err })
  }
}

function actorDepth(act: ActorClaim | undefined): number {
  let depth = 0
  for (let a = act; a; a = a.act) depth++
  return depth
}
