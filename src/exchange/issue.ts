import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { type MintedToken, mintAccessToken } from '../issuer/mint.js'
import type { ExchangeSteps } from './steps.js'

export interface IssueTokenInput {
  audience: string
  scopes: string[]
  ttlSeconds: number
  bindToCertificate: boolean
}

export interface IssuedToken {
  token: string
  tokenType: 'Bearer'
  expiresAt: number
  scopes: string[]
  audience: string
  tokenId: string
  exchangeId: string
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
    })
    base.scopes = decision.scopes.join(' ')
    base.ttl = decision.ttlSeconds
    base.detail = { grant: decision.grant, capped: decision.capped, kid: minted.kid }
  } catch (err) {
    throw await steps.refuse(base, err, started)
  }
  const { id } = await steps.record(
    { ...base, decision: 'allow', token_id: minted.claims.jti, expires_at: minted.claims.exp },
    started,
  )
  return {
    token: minted.token,
    tokenType: 'Bearer',
    expiresAt: minted.claims.exp,
    scopes,
    audience: minted.claims.aud,
    tokenId: minted.claims.jti,
    exchangeId: id,
  }
}
