import { Malformed } from './errors.js'

/** Asymmetric algorithms the broker signs with. Never `none`, never HS*: see {@link precheck}. */
export const BROKER_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const

const ALLOWED: ReadonlySet<string> = new Set(BROKER_ALGORITHMS)
/** Far above a real broker token (≈1 KiB), far below what would cost real CPU to parse. */
export const MAX_TOKEN_BYTES = 16 * 1024

export interface Peeked {
  kid: string
}

/** Header segments already found acceptable: a broker signs with one header per key, so this stays tiny. */
const acceptedHeaders = new Map<string, string>()
const MAX_CACHED_HEADERS = 64

/**
 * Everything that can be refused from the token's text alone, before any key lookup (so a forged
 * token cannot make the verifier fetch JWKS): size and shape, `alg` (none and HS* are the classic
 * forgeries: a symmetric "key" would be the public key), `typ: at+jwt` (an ID token or a workload
 * token signed by the same key is not an access token), a `kid`, and the expected `iss`.
 * This is an early refusal, not the check itself: jose verifies `alg`, `typ` and `iss` again after the
 * signature, so the fast paths below can only make a refusal earlier, never let a token through.
 */
export function precheck(token: string, issuer: string, issuerClaim: string): Peeked {
  if (typeof token !== 'string' || token.length === 0) throw new Malformed('token is empty')
  if (token.length > MAX_TOKEN_BYTES)
    throw new Malformed(`token is larger than ${MAX_TOKEN_BYTES / 1024} KiB`)
  const parts = token.split('.')
  if (parts.length === 5)
    throw new Malformed('token is encrypted (JWE); broker access tokens are signed JWTs')
  if (parts.length !== 3) throw new Malformed('token is not a compact JWT (header.payload.signature)')
  const kid = acceptedHeaders.get(parts[0]!) ?? checkHeader(parts[0]!)
  // The broker writes `"iss":"<issuer>"` verbatim; only a token where that text is missing is parsed.
  const payloadText = decodeText(parts[1]!, 'payload')
  if (!payloadText.includes(issuerClaim)) {
    const payload = parseObject(payloadText, 'payload')
    if (payload.iss !== issuer) {
      const shown = typeof payload.iss === 'string' ? `"${payload.iss.slice(0, 200)}"` : 'no issuer'
      throw new Malformed(`token was issued by ${shown}; this service accepts tokens of ${issuer} only`)
    }
  }
  return { kid }
}

/** `"iss":"<issuer>"` as JSON.stringify writes it. */
export function issuerClaimText(issuer: string): string {
  return `"iss":${JSON.stringify(issuer)}`
}

function checkHeader(segment: string): string {
  const header = parseObject(decodeText(segment, 'header'), 'header')
  const alg = header.alg
  if (typeof alg !== 'string' || !ALLOWED.has(alg)) {
    const shown = typeof alg === 'string' ? alg.slice(0, 16) : String(alg)
    throw new Malformed(
      `token alg "${shown}" is refused: broker tokens are signed with ${BROKER_ALGORITHMS.join(', ')}`,
    )
  }
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt')
    throw new Malformed('token typ must be "at+jwt" (an RFC 9068 access token), not an ID or workload token')
  if (typeof header.kid !== 'string' || header.kid === '') throw new Malformed('token header has no kid')
  if (acceptedHeaders.size >= MAX_CACHED_HEADERS) acceptedHeaders.clear()
  acceptedHeaders.set(segment, header.kid)
  return header.kid
}

function decodeText(part: string, what: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new Malformed(`token ${what} is not base64url JSON`)
  return Buffer.from(part, 'base64url').toString('utf8')
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new Malformed(`token ${what} is not base64url JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Malformed(`token ${what} is not a JSON object`)
  return value as Record<string, unknown>
}
