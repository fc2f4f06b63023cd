import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { type MintedToken, mintAccessToken } from '../issuer/mint.js'
import type { ExchangeSteps, IssuedToken } from './steps.js'

export type { IssuedToken } from './steps.js'

export interface IssueTokenInput {
  audience: string
  scopes: string[]
  ttlSeconds: number
  bindToCertificate: boolean
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
    scopes: input.scopes.slice(0, 100).join(' '),
    ttl: input.ttlSeconds,
  })
  let minted: MintedToken
  let scopes: string[]
  try {
    const decision = deps.policy().evaluateTokenRequest(identity, input)
    if (input.bindToCertificate && !identity.certThumbprint) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'bind_to_certificate needs a client certificate on the connection (mTLS)',
      )
    }
    scopes = decision.scopes
    minted = mintAccessToken(deps.keys.signingKey(), {
      issuer: deps.issuer(),
      subject: identity.subject,
      audience: decision.audience,
      scopes: decision.scopes,
      issuedAt: Math.floor(deps.clock.now() / 1000),
      ttlSeconds: decision.ttlSeconds,
      certThumbprint: input.bindToCertificate ? identity.certThumbprint : undefined,
      identityIssuer: identity.issuer,
    })
    base.scopes = decision.scopes.join(' ')
    base.ttl = decision.ttlSeconds
    base.detail = { grant: decision.grant, capped: decision.capped, kid: minted.kid }
  } catch (err) {
    throw await steps.refuse(base, err, started)
  }
  return steps.answerWithToken(base, minted, scopes, started)
}
