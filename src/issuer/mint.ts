import { randomFillSync, sign } from 'node:crypto'
import type { SigningAlgorithm, SigningKey } from './key_store.js'

/** RFC 8693 actor chain: the newest actor outermost. */
export interface ActorClaim {
  sub: string
  act?: ActorClaim
}

/** Claims of a broker access token (RFC 9068 profile). */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  nbf: number
  jti: string
  scope: string
  client_id: string
  cnf?: { 'x5t#S256': string }
  act?: ActorClaim
  /** Delegated tokens: the jti of every ancestor, root first, so revoking one revokes its descendants. */
  kb_ancestors?: string[]
  /** Who vouched for `sub`: the SPIFFE trust domain (mTLS) or the workload token's `iss` (OIDC). */
  kb_idp?: string
  /** Minted after a person approved the request: the approval id (audit rows carry it as approval_id). */
  kb_approval?: string

  /** The agent run the token is for. */
  kb_task?: { run_id?: string; tool_call_id?: string }
  /** The grant that allowed it (a token whose grant was removed is refused at the proxy). */
  kb_grant?: string
  /**
   * Tokens whose usage counters a proxy request spends: budgeted ancestors, root first, then this
   * token when it has a budget of its own (`max_uses`). Absent: no budget anywhere up the chain.
   */
  kb_budget?: string[]
}

export interface MintInput {
  issuer: string
  subject: string
  audience: string
  scopes: string[]
  /** unix seconds */
  issuedAt: number
  ttlSeconds: number
  certThumbprint?: string
  act?: ActorClaim
  ancestors?: string[]
  identityIssuer?: string
  approvalId?: string

  task?: { run_id?: string; tool_call_id?: string }
  grant?: string
  /** Budgeted ancestors (from the parent's kb_budget). */
  budgetAncestors?: string[]
  /** This token has a usage counter of its own. */
  ownBudget?: boolean
}

export interface MintedToken {
  token: string
  claims: AccessTokenClaims
  kid: string
}

const DIGEST: Record<SigningAlgorithm, string | null> = {
  ES256: 'sha256',
  ES384: 'sha384',
  EdDSA: null,
  RS256: 'sha256',
  PS256: 'sha256',
}

const TOKEN_ID_BYTES = 16
const TIME_BYTES = 6
const RANDOM_BYTES = TOKEN_ID_BYTES - TIME_BYTES
/** Random bytes drawn 256 token ids at a time: one CSPRNG call per id cost more than the id is worth. */
const randomPool = Buffer.alloc(RANDOM_BYTES * 256)
let randomOffset = randomPool.length
const idBytes = Buffer.alloc(TOKEN_ID_BYTES)

/**
 * 16 bytes, base64url (22 characters): a 48-bit millisecond timestamp, then 80 random bits.
 * The time prefix keeps consecutive ids next to each other in the audit table's token_id index
 * (fully random ids dirtied a different B-tree page per row, ~40% of an audit row's cost); 80 random
 * bits per millisecond keep ids unguessable and collision-free.
 */
export function newTokenId(nowMs: number = Date.now()): string {
  if (randomOffset === randomPool.length) {
    randomFillSync(randomPool)
    randomOffset = 0
  }
  idBytes.writeUIntBE(nowMs, 0, TIME_BYTES)
  randomPool.copy(idBytes, TIME_BYTES, randomOffset, randomOffset + RANDOM_BYTES)
  randomOffset += RANDOM_BYTES
  return idBytes.toString('base64url')
}

const encodedHeaders = new Map<string, string>()

function encodedHeader(key: SigningKey): string {
  let header = encodedHeaders.get(key.kid)
  if (!header) {
    header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })).toString('base64url')
    encodedHeaders.set(key.kid, header)
  }
  return header
}

/**
 * Sign an access token. This is the one hot-path use of node:crypto instead of jose: a
 * KeyObject signature costs about a quarter of WebCrypto's (CONVENTIONS.md); jose verifies
 * these tokens in the tests, so the two must agree byte for byte on the JWS format.
 */
export function mintAccessToken(key: SigningKey, input: MintInput): MintedToken {
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    exp: input.issuedAt + input.ttlSeconds,
    iat: input.issuedAt,
    nbf: input.issuedAt,
    jti: newTokenId(input.issuedAt * 1000),
    scope: input.scopes.join(' '),
    client_id: input.subject,
  }
  if (input.certThumbprint) claims.cnf = { 'x5t#S256': input.certThumbprint }
  if (input.act) claims.act = input.act
  if (input.ancestors && input.ancestors.length > 0) claims.kb_ancestors = input.ancestors
  if (input.identityIssuer) claims.kb_idp = input.identityIssuer
  if (input.approvalId) claims.kb_approval = input.approvalId

  if (input.task) claims.kb_task = input.task
  if (input.grant) claims.kb_grant = input.grant
  const budget = [...(input.budgetAncestors ?? []), ...(input.ownBudget ? [claims.jti] : [])]
  if (budget.length > 0) claims.kb_budget = budget
  const signingInput = `${encodedHeader(key)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const signature = signWith(key, Buffer.from(signingInput))
  return { token: `${signingInput}.${signature.toString('base64url')}`, claims, kid: key.kid }
}

function signWith(key: SigningKey, data: Buffer): Buffer {
  const digest = DIGEST[key.alg]
  if (key.alg === 'PS256') {
    return sign(digest, data, { key: key.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
  }
  if (key.alg.startsWith('ES')) return sign(digest, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return sign(digest, data, key.privateKey)
}

/**
 * Split a `scope` claim back into scopes. Proxy scopes are `METHOD /path` pairs, which contain a
 * space; a METHOD token (upper-case or `*`) followed by a token starting with `/` is one scope.
 */
export function splitScopeClaim(scope: string): string[] {
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
