import type { CallerCredentials } from '../identity/authenticate.js'
import { secretNotGranted } from '../policy/policy.js'
import type { ResolvedSecret } from '../providers/resolver.js'
import { type ApprovedBy, holdForApproval } from './approvals.js'
import { type ExchangeSteps, RecordedError } from './steps.js'

export interface FetchedSecret {
  value: Buffer
  version?: string
  /** Unix seconds at which the upstream lease ends (leased Vault secrets). */
  expiresAt?: number
  exchangeId: string
}

/** Longest name copied into an audit row; policy refuses longer ones anyway. */
const MAX_AUDITED_NAME = 256

/**
 * FetchSecret: identity × secret name → the upstream value, fetched by the broker on the
 * caller's behalf. The audit row names the secret, provider, version and cache outcome — never the value.
 */
export async function fetchSecret(
  steps: ExchangeSteps,
  creds: CallerCredentials,
  name: string,
  signal?: AbortSignal,
  approved?: ApprovedBy,
): Promise<FetchedSecret> {
  const { deps } = steps
  const started = process.hrtime.bigint()
  const identity = await steps.authenticate(creds, started, 'fetch')
  const base = steps.identityFields(creds, identity, {
    kind: 'fetch',
    secret_name: name.slice(0, MAX_AUDITED_NAME),
  })
  let got: ResolvedSecret
  try {
    const { grant } = deps.policy().evaluateSecretRequest(identity, name)
    // config load rejects grants naming undefined secrets; this covers a broker built without providers
    const where = deps.secrets?.describe(name)
    if (!deps.secrets || !where) throw secretNotGranted(identity, name)
    base.grant_name = grant
    base.detail = { grant, provider: where.provider, provider_type: where.providerType }
    const approval = deps.approvals?.secretApproval(name)
    if (approval && !approved)
      await holdForApproval(
        steps,
        deps.approvals!,
        base,
        identity,
        { kind: 'fetch', name },
        approval,
        grant,
        started,
      )
    if (approved) {
      base.approval_id = approved.id
      base.detail = { ...base.detail, approver: approved.approver, approval_reason: approved.reason }
    }
    steps.step(base, 'produce')
    got = await deps.secrets.get(name, signal)
  } catch (err) {
    if (err instanceof RecordedError) throw err
    throw await steps.refuse(base, err, started)
  }
  const stale = got.cache === 'stale'
  const { id } = await steps.record(
    {
      ...base,
      decision: 'allow',
      ...(got.expiresAt !== undefined ? { expires_at: got.expiresAt } : {}),
      ...(stale ? { reason: `served a cached value: provider '${got.provider}' is unavailable` } : {}),
      detail: {
        ...base.detail,
        cache: got.cache,
        ...(got.version !== undefined ? { version: got.version } : {}),
        ...(stale ? { stale: true } : {}),
      },
    },
    started,
  )
  return {
    value: got.value,
    ...(got.version !== undefined ? { version: got.version } : {}),
    ...(got.expiresAt !== undefined ? { expiresAt: got.expiresAt } : {}),
    exchangeId: id,
  }
}
