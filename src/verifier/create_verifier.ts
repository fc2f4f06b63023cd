import { createHash } from 'node:crypto'
import { errors, jwtVerify } from 'jose'
import {
  actorChain,
  type BrokerTokenClaims,
  checkClaimShapes,
  splitScopes,
  type VerifiedToken,
} from './claims.js'
import {
  CertificateMismatch,
  InsufficientScope,
  Malformed,
  Revoked,
  TokenExpired,
  VerificationError,
  VerifierUnavailable,
  WrongAudience,
} from './errors.js'
import { httpsGetter } from './https_fetch.js'
import { BrokerKeySet } from './key_set.js'
import { BROKER_ALGORITHMS, issuerClaimText, precheck } from './precheck.js'
import { RevocationFeed, type RevocationFeedOptions } from './revocation_feed.js'
import { RevocationSet } from './revocation_set.js'

/**
 * Options of {@link createVerifier}.
 *
 * @example
 * ```ts
 * const options: VerifierOptions = {
 *   issuer: 'https://keybroker.internal',
 *   audience: 'payments-api',
 *   ca: readFileSync('/etc/keybroker/ca.pem'),
 *   revocations: {
 *     address: 'keybroker.internal:7443',
 *     tls: { caFile: '/etc/keybroker/ca.pem', certFile: '/run/svid.pem', keyFile: '/run/svid-key.pem' },
 *   },
 *   maxStalenessMs: 60_000,
 * }
 * ```
 */
export interface VerifierOptions {
  /** The broker's `iss` (its config `issuer`); discovery is `<issuer>/.well-known/openid-configuration`. */
  issuer: string
  /** This service's audience(s): a token must name one of them in `aud`. */
  audience: string | string[]
  /** CA (PEM) of the broker's HTTPS certificate; when given, the only CA trusted for discovery and JWKS. */
  ca?: string | Buffer
  /** Fetch the broker's keys here instead of discovering `jwks_uri`. */
  jwksUri?: string
  /** Follow the broker's revocation feed (strongly advised: without it a revoked token works until `exp`). */
  revocations?: RevocationFeedOptions
  /** How long the feed may be down before tokens are refused (default 60 000 ms). */
  maxStalenessMs?: number
  /** What to do with tokens while the feed is stale: `reject` (default, fail closed) or `accept`. */
  onStale?: 'reject' | 'accept'
  /** Allowed clock skew on `exp`/`nbf`, seconds (default 5). */
  clockToleranceSeconds?: number
  /** Told about background problems: the feed lost or refused, a stale feed accepted. */
  onError?: (error: Error) => void
  /** Milliseconds since the epoch; for tests. */
  clock?: { now(): number }
}

/**
 * Per-call options of {@link Verifier.verify}.
 *
 * @example
 * ```ts
 * const options: VerifyOptions = { scopes: ['payments:write'], peerCertificate: tlsSocket.getPeerCertificate() }
 * ```
 */
export interface VerifyOptions {
  /** Scopes the call requires; all must be in the token. */
  scopes?: readonly string[]
  /**
   * The client certificate of the connection the token came over (DER, or anything with `raw`, such as
   * Node's `getPeerCertificate()` or grpc-js's `sslPeerCertificate`). `null` means the connection had none,
   * so a certificate-bound token is refused; leave it out only when you check `certificateThumbprint` yourself.
   */
  peerCertificate?: Uint8Array | { raw: Uint8Array } | null
}

/**
 * A broker-token verifier for one service. Create one per process and share it.
 *
 * @example
 * ```ts
 * const principal = await verifier.verify(bearerToken, { scopes: ['payments:read'] })
 * console.log(`${principal.subject} may read`)
 * ```
 */
export interface Verifier {
  /** Accept the token (resolves with its claims) or refuse it (rejects with a {@link VerificationError}). */
  verify(token: string, options?: VerifyOptions): Promise<VerifiedToken>
  /** Resolves once the broker's keys are fetched and the feed's first replay is complete. */
  ready(): Promise<void>
  /** Live revocations known (tokens, subjects, retired keys). */
  readonly revocationCount: number
  /** Stop following the feed. */
  close(): void
}

const DEFAULT_MAX_STALENESS_MS = 60_000
const JWKS_COOLDOWN_MS = 30_000
const JWKS_MAX_AGE_MS = 10 * 60_000
const FETCH_TIMEOUT_MS = 5_000
/** Three missed broker heartbeats (sent every 10 s). */
const FEED_IDLE_TIMEOUT_MS = 30_000

/**
 * A verifier for broker access tokens, for resource servers: signature against the broker's published
 * keys (discovered, cached, refetched on an unknown `kid` at most every 30 s), `typ: at+jwt`, issuer,
 * audience, expiry, certificate binding (RFC 8705), scopes, and revocation from the broker's feed.
 * It fails closed: until the feed's first replay, and once the feed has been down longer than
 * `maxStalenessMs`, every token is refused with {@link VerifierUnavailable}.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs'
 * import { createVerifier, InsufficientScope } from 'keybroker/verifier'
 *
 * const verifier = createVerifier({
 *   issuer: 'https://keybroker.internal',
 *   audience: 'payments-api',
 *   ca: readFileSync('/etc/keybroker/ca.pem'),
 *   revocations: {
 *     address: 'keybroker.internal:7443',
 *     tls: { caFile: '/etc/keybroker/ca.pem', certFile: '/run/svid.pem', keyFile: '/run/svid-key.pem' },
 *   },
 * })
 * await verifier.ready()
 * const principal = await verifier.verify(token, { scopes: ['payments:write'] })
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const now = () => options.clock?.now() ?? Date.now()
  const audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience]
  if (!options.issuer) throw new TypeError('createVerifier: issuer is required')
  if (audience.length === 0 || audience.some((a) => !a))
    throw new TypeError('createVerifier: audience is required')
  const keys = new BrokerKeySet({
    issuer: options.issuer,
    jwksUri: options.jwksUri,
    get: httpsGetter(options.ca),
    timeoutMs: FETCH_TIMEOUT_MS,
    cooldownMs: JWKS_COOLDOWN_MS,
    maxAgeMs: JWKS_MAX_AGE_MS,
    retryAfterMs: 1_000,
    now,
  })
  const revoked = new RevocationSet(() => Math.floor(now() / 1000))
  const feed = options.revocations
    ? new RevocationFeed(options.revocations, revoked, {
        now,
        maxStalenessMs: options.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS,
        idleTimeoutMs: FEED_IDLE_TIMEOUT_MS,
        onError: options.onError,
      })
    : undefined
  const issuerClaim = issuerClaimText(options.issuer)
  const verifyOptions = {
    issuer: options.issuer,
    audience,
    typ: 'at+jwt',
    algorithms: [...BROKER_ALGORITHMS],
    clockTolerance: options.clockToleranceSeconds ?? 5,
    requiredClaims: ['exp', 'iat', 'jti', 'sub', 'aud'],
  }

  async function verify(token: string, call: VerifyOptions = {}): Promise<VerifiedToken> {
    const { kid } = precheck(token, options.issuer, issuerClaim)
    const unavailable = feed?.problem()
    // Before the first replay nothing is known, so even onStale: 'accept' refuses.
    if (unavailable && (options.onStale !== 'accept' || !feed?.replayed)) throw unavailable
    let claims: BrokerTokenClaims
    try {
      const { payload } = await jwtVerify(token, keys.getKey, {
        ...verifyOptions,
        currentDate: new Date(now()),
      })
      claims = checkClaimShapes(payload as Record<string, unknown>)
    } catch (err) {
      throw describe(err)
    }
    if (revoked.isKidRetired(kid))
      throw new Revoked(
        `token ${claims.jti} was signed by key ${kid}, which the broker has retired`,
        claims.jti,
      )
    const why = revoked.whyRevoked(claims)
    if (why) throw new Revoked(why, claims.jti)
    const thumbprint = claims.cnf?.['x5t#S256']
    if (thumbprint !== undefined && call.peerCertificate !== undefined)
      checkBinding(thumbprint, call.peerCertificate)
    const scopes = splitScopes(claims.scope)
    if (call.scopes && call.scopes.length > 0) {
      const missing = call.scopes.filter((s) => !scopes.includes(s))
      if (missing.length > 0)
        throw new InsufficientScope(
          `token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
          missing,
        )
    }
    return {
      subject: claims.sub,
      scopes,
      audience: typeof claims.aud === 'string' ? [claims.aud] : claims.aud,
      tokenId: claims.jti,
      expiresAt: claims.exp,
      actors: actorChain(claims.act),
      ...(claims.kb_task ? { task: claims.kb_task } : {}),
      ...(thumbprint !== undefined ? { certificateThumbprint: thumbprint } : {}),
      kid,
      claims,
    }
  }

  return {
    verify,
    async ready() {
      await Promise.all([keys.warm(), feed?.ready()])
    },
    get revocationCount() {
      return revoked.size
    },
    close() {
      feed?.close()
    },
  }
}

/** The peer certificate must be the one the token is bound to (RFC 8705 §3). */
function checkBinding(thumbprint: string, peer: Uint8Array | { raw: Uint8Array } | null): void {
  const der = peer === null ? undefined : peer instanceof Uint8Array ? peer : peer.raw
  if (der === undefined || der.length === 0)
    throw new CertificateMismatch('token is bound to a client certificate, but the connection presented none')
  if (createHash('sha256').update(der).digest('base64url') !== thumbprint)
    throw new CertificateMismatch('token is bound to another client certificate than the one presented')
}

/** A jose failure → the verifier's typed refusal; messages never carry the token. */
function describe(err: unknown): VerificationError {
  if (err instanceof VerificationError) return err
  if (err instanceof errors.JWTExpired) return new TokenExpired('token has expired')
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      const aud = err.payload.aud
      return new WrongAudience(
        `token is for ${JSON.stringify(aud)}, not for this service`,
        typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.map(String) : [],
      )
    }
    if (err.claim === 'nbf') return new Malformed('token is not valid yet (nbf is in the future)')
    return new Malformed(`token claim "${err.claim}" is not acceptable: ${err.reason}`)
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new Malformed("token signature does not verify against the broker's keys")
  if (err instanceof errors.JWKSNoMatchingKey)
    return new Malformed('token was signed by a key the broker does not publish')
  if (err instanceof errors.JOSEError) return new Malformed(`token is not a valid broker token (${err.code})`)
  return new VerifierUnavailable(
    'ERR_KEYS_UNAVAILABLE',
    `could not check the token: ${(err as Error).message}`,
    {
      cause: err,
    },
  )
}
