/**
 * Workload JWT → Identity: Kubernetes projected service-account tokens, GitHub Actions OIDC tokens
 * and any other OIDC issuer, verified against the issuer's JWKS.
 */
import { createHash } from 'node:crypto'
import { jwtVerify } from 'jose'
import { type Clock, systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { Identity } from './identity.js'
import type { WorkloadTokenAlgorithm } from './oidc/algorithms.js'
import type { ClaimMapping } from './oidc/claim_path.js'
import { mapClaims } from './oidc/claims.js'
import { inspectCompactJws, safe } from './oidc/compact.js'
import { IssuerHttpClient } from './oidc/fetch_json.js'
import { fromJoseError } from './oidc/jose_errors.js'
import { JwksCache } from './oidc/jwks_cache.js'

/** How subject and attributes are derived from a verified token. */
export type OidcPreset = 'kubernetes' | 'github-actions' | 'generic'

/**
 * One `trust.oidc[]` entry, as the verifier uses it. Built from the validated config by
 * `trustedIssuerFromConfig` (src/identity/oidc/options.ts): the config schema is the one validator,
 * so nothing here is checked a second time.
 */
export interface TrustedIssuer {
  /** Name used in policy (`match.issuer`) and in messages. */
  name: string
  /** Exact `iss` value. */
  issuer: string
  /** Audience the token's `aud` must contain. */
  audience: string
  /** JWKS location (https); when absent, OIDC discovery at `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string
  /** Allowed asymmetric algorithms (the type admits no `none` or HS*). */
  algorithms: WorkloadTokenAlgorithm[]
  /** When set, `iat` must be present and no older than this. */
  maxTokenAgeSeconds?: number
  /** Clock skew allowed on `exp`/`nbf`/`iat` (the schema bounds it to 0–60). */
  leewaySeconds: number
  /** Configured claim → attribute mappings, applied after the preset's. */
  attributes: ClaimMapping[]
  preset: OidcPreset
  /** Extra CA (PEM) trusted, alongside the public roots, for the issuer's HTTPS endpoints. */
  caPem?: string
  /** Deadline for one discovery or JWKS request; default 5000. */
  fetchTimeoutMs?: number
}

export interface WorkloadTokenVerifierOptions {
  clock?: Clock
  /** Minimum time between JWKS refetches caused by an unknown `kid`, per issuer; default 30000. */
  refetchIntervalMs?: number
  /** Age after which a cached JWKS is refreshed on next use; default 600000 (10 min). */
  cacheMaxAgeMs?: number
}

/** Deadline for one discovery or JWKS request when `fetchTimeoutMs` is not given. */
const DEFAULT_FETCH_TIMEOUT_MS = 5000

interface Trust {
  config: TrustedIssuer
  http: IssuerHttpClient
  keys: JwksCache
}

/**
 * Verifies bearer workload JWTs against the configured trusted issuers.
 *
 * @example
 * ```ts
 * const verifier = new WorkloadTokenVerifier(config.trust.oidc.map((entry) => trustedIssuerFromConfig(entry)))
 * // or by hand:
 * const k8s = new WorkloadTokenVerifier([
 *   { name: 'k8s-prod', preset: 'kubernetes', issuer: 'https://kubernetes.default.svc', audience: 'keybroker',
 *     algorithms: ['RS256'], leewaySeconds: 30, attributes: [] },
 * ])
 * const identity = await verifier.verifyWorkloadToken(bearer)
 * // identity.subject === 'system:serviceaccount:agents:research', identity.attributes.namespace === 'agents'
 * ```
 */
export class WorkloadTokenVerifier {
  readonly #clock: Clock
  readonly #byIssuer = new Map<string, Trust>()

  /** `issuers` come from the validated config (`trustedIssuerFromConfig`); one entry per `iss`. */
  constructor(issuers: TrustedIssuer[], opts: WorkloadTokenVerifierOptions = {}) {
    this.#clock = opts.clock ?? systemClock
    const refetchIntervalMs = opts.refetchIntervalMs ?? 30_000
    const maxAgeMs = opts.cacheMaxAgeMs ?? 600_000
    for (const config of issuers) {
      const http = new IssuerHttpClient(config.name, {
        caPem: config.caPem,
        timeoutMs: config.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
      })
      const keys = new JwksCache({
        name: config.name,
        issuer: config.issuer,
        jwksUri: config.jwksUri,
        http,
        clock: this.#clock,
        refetchIntervalMs,
        maxAgeMs,
      })
      this.#byIssuer.set(config.issuer, { config, http, keys })
    }
  }

  /**
   * Verify a bearer workload JWT and return the Identity; throws BrokerError
   * (`ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED`, `ERR_ISSUER_UNKNOWN`, `ERR_ISSUER_UNAVAILABLE`).
   */
  async verifyWorkloadToken(token: string): Promise<Identity> {
    const { alg, iss, header } = inspectCompactJws(token)
    const trust = this.#byIssuer.get(iss)
    if (trust === undefined)
      throw new BrokerError('ERR_ISSUER_UNKNOWN', `token issuer ${safe(iss)} is not trusted`)
    const { config } = trust
    if (!(config.algorithms as string[]).includes(alg)) {
      throw new BrokerError(
        'ERR_TOKEN_INVALID',
        `token alg ${safe(alg)} is not allowed for issuer ${config.name} (allowed: ${config.algorithms.join(', ')})`,
      )
    }

    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload']
    try {
      ;({ payload } = await jwtVerify(token, (h) => trust.keys.keyFor(h.alg, h.kid), {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: config.leewaySeconds,
        maxTokenAge: config.maxTokenAgeSeconds,
        currentDate: new Date(this.#clock.now()),
        requiredClaims: ['exp'],
      }))
    } catch (err) {
      throw fromJoseError(err, config, header.kid)
    }

    const { subject, attributes } = mapClaims(config.preset, config.attributes, payload)
    return { subject, method: 'oidc', issuer: iss, trustName: config.name, attributes }
  }

  /** Release the HTTP connection pools held for the issuers. */
  async close(): Promise<void> {
    await Promise.all([...this.#byIssuer.values()].map((t) => t.http.close()))
  }
}

/**
 * A short, non-reversible handle for a presented token, safe to put in the audit log.
 *
 * @example
 * ```ts
 * tokenFingerprint('eyJhbGciOi...') // '3f9a0c12d4e5b6a7'
 * ```
 */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16)
}
