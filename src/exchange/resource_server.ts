import { BrokerError, toBrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import { tokenFingerprint } from '../identity/oidc.js'
import type { AccessTokenClaims } from '../issuer/mint.js'
import { verifyAccessToken } from '../issuer/verify.js'
import { introspectableAudiences, revocationWatchGrant } from '../policy/resource_server_grants.js'
import type { ExchangeSteps } from './steps.js'

/*
 * The two exchanges resource servers make with the broker: following the revocation feed, and
 * introspecting a token (RFC 7662) for services that cannot verify JWTs themselves. Both run the
 * usual steps: authenticate → authorize (a grant) → produce → record.
 */

/** A cursor is opaque but small; anything longer is not one this broker handed out. */
const MAX_CURSOR_LENGTH = 256

export interface OpenedRevocationWatch {
  identity: Identity
  grant: string
  exchangeId: string
}

/** Authorize and record a WatchRevocations stream; refused (PERMISSION_DENIED, audited) without the grant. */
export async function openRevocationWatch(
  steps: ExchangeSteps,
  creds: CallerCredentials,
  cursor: string,
): Promise<OpenedRevocationWatch> {
  const started = process.hrtime.bigint()
  const identity = await steps.authenticate(creds, started, 'WatchRevocations')
  const base = steps.identityFields(creds, identity, {
    kind: 'revocation_watch',
    detail: { cursor: cursor.slice(0, MAX_CURSOR_LENGTH) },
  })
  if (cursor.length > MAX_CURSOR_LENGTH) {
    const error = new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `cursor is longer than ${MAX_CURSOR_LENGTH} characters`,
    )
    throw await steps.refuse(base, error, started)
  }
  const grant = revocationWatchGrant(steps.deps.policy(), identity)
  if (!grant) {
    const error = new BrokerError(
      'ERR_NO_GRANT',
      `${identity.subject} may not watch revocations: no grant with "revocations: { watch: true }" matches it`,
    )
    throw await steps.refuse(base, error, started)
  }
  const { id } = await steps.record({ ...base, detail: { ...base.detail, grant: grant.name } }, started)
  return { identity, grant: grant.name, exchangeId: id }
}

/** Does this identity still hold the grant (checked again after a config reload)? */
export function mayStillWatchRevocations(steps: ExchangeSteps, identity: Identity): boolean {
  return revocationWatchGrant(steps.deps.policy(), identity) !== undefined
}

export interface Introspection {
  active: boolean
  /** Only for an active token. */
  claims?: AccessTokenClaims
  exchangeId: string
}

/**
 * RFC 7662 introspection by a certificate-authenticated caller whose grant lists `introspect.audiences`.
 * A token that fails verification, is revoked, or whose `aud` the caller may not introspect is
 * `active: false` with no other field, so the endpoint cannot be used to read other services' tokens.
 * Every call is one audit row (the token by fingerprint only).
 */
export async function introspectToken(
  steps: ExchangeSteps,
  creds: CallerCredentials,
  input: { token: string } | { problem: BrokerError },
): Promise<Introspection> {
  const { deps } = steps
  const started = process.hrtime.bigint()
  const identity = await steps.authenticate(creds, started, 'introspect')
  const base = steps.identityFields(creds, identity, { kind: 'introspect', detail: {} })
  const { audiences, grants } = introspectableAudiences(deps.policy(), identity)
  if (grants.length === 0) {
    const error = new BrokerError(
      'ERR_NO_GRANT',
      `${identity.subject} may not introspect tokens: no grant with "introspect: { audiences: [...] }" matches it`,
    )
    throw await steps.refuse(base, error, started)
  }
  if ('problem' in input) throw await steps.refuse(base, input.problem, started)
  const { token } = input
  if (token.length === 0) {
    const error = new BrokerError('ERR_INVALID_ARGUMENT', 'the "token" form parameter is required')
    throw await steps.refuse(base, error, started)
  }
  base.detail = { token_fingerprint: tokenFingerprint(token), grants: grants.join(' ') }
  let claims: AccessTokenClaims | undefined
  let inactive: string | undefined
  try {
    claims = await verifyAccessToken(token, {
      keys: deps.keys,
      issuer: deps.issuer(),
      clock: deps.clock,
      isRevoked: (c) => deps.revocations.isTokenRevoked(c),
    })
    base.token_id = claims.jti
    base.audience = claims.aud
    if (!audiences.has(claims.aud))
      inactive = `audience "${claims.aud}" is not in introspect.audiences of grant ${grants.join(', ')}`
  } catch (err) {
    inactive = toBrokerError(err).message
  }
  base.reason = inactive
  base.detail.active = inactive === undefined
  const { id } = await steps.record(base, started)
  return inactive === undefined ? { active: true, claims, exchangeId: id } : { active: false, exchangeId: id }
}
