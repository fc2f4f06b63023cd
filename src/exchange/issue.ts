import { BrokerError } from '../errors.js'
import { resolveMaxUses } from '../guardrails/budget.js'
import { type RawTask, requireTask, taskClaim, validateTask } from '../guardrails/task.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { type MintedToken, mintAccessToken } from '../issuer/mint.js'
import { wireScope } from '../policy/scope_form.js'
import { type ApprovedBy, holdForApproval } from './approvals.js'
import { type ExchangeSteps, type IssuedToken, RecordedError } from './steps.js'

export type { IssuedToken } from './steps.js'

export interface IssueTokenInput {
  audience: string
  scopes: string[]
  ttlSeconds: number
  bindToCertificate: boolean
  /**
   * The client id the caller claims (OAuth `client_id`); when set it must equal the authenticated
   * subject, else the request is refused as a certificate that does not name that client.
   */
  clientId?: string
  /** Minting an approved request (Broker.WaitForApproval): the gate is passed, the token says so. */
  approved?: ApprovedBy
  /** With `approved` and binding: the certificate the request was made with (the token binds to it only). */
  requireThumbprint?: string

  /** The agent run the token is for (validated here: ≤ 128 printable characters each). */
  task?: RawTask | null
  /** Proxy requests the token may make; 0 / absent = the grant's max_uses, or unlimited. */
  maxUses?: number
}

/** IssueToken: identity × request → a short-lived, scoped, signed JWT. */
export async function issueToken(
  steps: ExchangeSteps,
  creds: CallerCredentials,
  input: IssueTokenInput,
): Promise<IssuedToken> {
  const { deps } = steps
  const started = process.hrtime.bigint()
  const identity = await steps.authenticate(creds, started, 'issue')
  const base = steps.identityFields(creds, identity, {
    kind: 'issue',
    audience: input.audience,
    scopes: input.scopes.slice(0, 100).map(wireScope).join(' '),
    ttl: input.ttlSeconds,
  })
  let minted: MintedToken
  let scopes: string[]
  let maxUses = 0
  try {
    if (input.clientId !== undefined && input.clientId !== identity.subject) {
      throw new BrokerError(
        'ERR_CERTIFICATE_INVALID',
        `client_id "${input.clientId.slice(0, 256)}" does not match the client certificate, which names ${identity.subject}`,
      )
    }
    const task = validateTask(input.task)
    if (task) {
      base.run_id = task.runId
      base.tool_call_id = task.toolCallId
      if (task.purpose) base.detail = { ...base.detail, purpose: task.purpose }
    }
    const policy = deps.policy()
    deps.guardrails?.admitIssue(identity, policy.matchingGrants(identity))
    const decision = policy.evaluateTokenRequest(identity, input)
    base.grant_name = decision.grant
    if (decision.requireTask) requireTask(task, decision.grant, decision.audience)
    const budget = resolveMaxUses(input.maxUses ?? 0, decision.audience, decision.maxUses)
    maxUses = budget.maxUses
    if (input.bindToCertificate && !identity.certThumbprint) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'bind_to_certificate needs a client certificate on the connection (mTLS)',
      )
    }
    if (decision.approval && !input.approved) {
      if (!deps.approvals)
        throw new BrokerError(
          'ERR_FAILED_PRECONDITION',
          'this grant needs approval, which this broker cannot run',
        )
      const request = {
        kind: 'issue' as const,
        audience: decision.audience,
        scopes: decision.scopes,
        ttlSeconds: input.ttlSeconds,
        bindToCertificate: input.bindToCertificate,
      }
      await holdForApproval(
        steps,
        deps.approvals,
        base,
        identity,
        request,
        decision.approval,
        decision.grant,
        started,
      )
    }
    if (input.requireThumbprint !== undefined && identity.certThumbprint !== input.requireThumbprint)
      throw new BrokerError(
        'ERR_CERTIFICATE_MISMATCH',
        'this approval binds the token to the certificate it was requested with; wait over that certificate',
      )
    if (input.approved) {
      base.approval_id = input.approved.id
      base.detail = {
        ...base.detail,
        approver: input.approved.approver,
        approval_reason: input.approved.reason,
      }
    }
    scopes = decision.scopes
    steps.step(base, 'produce')
    minted = mintAccessToken(deps.keys.signingKey(), {
      issuer: deps.issuer(),
      subject: identity.subject,
      audience: decision.audience,
      scopes: decision.scopes,
      issuedAt: Math.floor(deps.clock.now() / 1000),
      ttlSeconds: decision.ttlSeconds,
      certThumbprint: input.bindToCertificate ? identity.certThumbprint : undefined,
      identityIssuer: identity.issuer,
      approvalId: input.approved?.id,

      task: taskClaim(task),
      grant: decision.grant,
      ownBudget: maxUses > 0,
    })
    base.scopes = decision.scopes.join(' ')
    base.ttl = decision.ttlSeconds
    base.grant_name = decision.grant
    base.detail = { ...base.detail, grant: decision.grant, capped: decision.capped, kid: minted.kid }
    if (maxUses > 0) base.detail.max_uses = maxUses
    if (budget.capped) base.detail.max_uses_capped = true
  } catch (err) {
    if (err instanceof RecordedError) throw err
    throw await steps.refuse(base, err, started)
  }
  return steps.answerWithToken(base, minted, scopes, started, { maxUses, ownUses: maxUses })
}
