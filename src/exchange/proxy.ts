import type { ExchangeRecord } from '../audit/index.js'
import type { RouteConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { certificateThumbprint } from '../identity/mtls.js'
import { tokenFingerprint } from '../identity/oidc.js'
import { type AccessTokenClaims, splitScopeClaim } from '../issuer/mint.js'
import { verifyAccessToken } from '../issuer/verify.js'
import { evaluateProxyRequest } from '../policy/proxy_scopes.js'
import { traceOf } from '../telemetry/exchange_trace.js'
import { normalizeProxyPath } from './lib/proxy_path.js'
import type { ExchangeSteps, RecordedError } from './steps.js'

/** One incoming proxy request, as split by the HTTP layer; nothing here is trusted yet. */
export interface ProxyRequest {
  /** The raw path segment after `/proxy/`. */
  route: string
  method: string
  /** The raw path after `/proxy/<route>` (may be empty), without the query string. */
  rawPath: string
  /** The raw query string without `?` (passed through to the upstream). */
  rawQuery: string
}

/** What an allowed request may do: forward to exactly this target with exactly this key. */
export interface ProxyGrant {
  routeName: string
  route: RouteConfig
  method: string
  /** Normalized route-relative path (what the scopes allowed). */
  path: string
  /** Upstream origin (`https://api.example.com`). */
  origin: string
  /** Upstream base path + encoded normalized path; the query is added by the HTTP layer. */
  upstreamPath: string
  rawQuery: string
  /** The key to inject. Never logged, never audited, never returned to the caller. */
  secret: Buffer
  /** The audit row so far: identity, route, normalized path, secret name (never its value). */
  audit: ExchangeRecord
  started: bigint
  /** The write-ahead row committed before anything was sent upstream. */
  authorizedExchangeId: string
  /** Uses left after this one (Keybroker-Budget-Remaining), when the token or an ancestor has a budget. */
  budgetRemaining?: number
}

export interface ProxyOutcome {
  /** Upstream status (for recordForwarded). */
  status?: number
  /** Request body bytes sent upstream so far. */
  requestBytes: number
  /** Response body bytes, when the upstream declared content-length. */
  responseBytes?: number
  /** Copies of the injected key masked in the response so far (headers, at outcome time). */
  leakRedacted?: number
}

const MAX_AUDITED_PATH = 512
const ROUTE_AUDIENCE_PREFIX = 'proxy:'
/** TRACE/TRACK echo the request (injected key included) back; CONNECT would tunnel past the checks. */
const UNPROXIED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT'])

/**
 * The injection-proxy exchange: authenticate (the broker's own token) → authorize (route audience,
 * cnf binding, normalized path × scopes) → produce (the route's key) → record. The HTTP mechanics
 * (forwarding, streaming, header hygiene) live in src/proxy; they call `authorize`, then exactly
 * one of `recordForwarded` / `recordFailed`.
 */
export class ProxyExchange {
  constructor(private readonly steps: ExchangeSteps) {}

  /** Steps 1–3. Every refusal is recorded (kind `proxy`) before it is thrown as a RecordedError. */
  async authorize(
    creds: CallerCredentials,
    request: ProxyRequest,
    signal?: AbortSignal,
  ): Promise<ProxyGrant> {
    const { deps } = this.steps
    const started = process.hrtime.bigint()
    const audit: ExchangeRecord = {
      kind: 'proxy',
      decision: 'allow',
      peer: creds.peer,
      route: request.route.slice(0, 128),
      detail: { method: request.method.slice(0, 16), path: request.rawPath.slice(0, MAX_AUDITED_PATH) },
    }
    if (deps.tracer) this.steps.beginTrace(creds, 'proxy', audit)
    try {
      const claims = await this.authenticate(creds, audit)
      this.steps.step(audit, 'authorize')
      audit.subject = claims.sub
      audit.auth_method = 'broker_token'
      audit.issuer = claims.iss
      audit.audience = claims.aud
      audit.scopes = claims.scope
      audit.token_id = claims.jti
      audit.expires_at = claims.exp
      audit.run_id = claims.kb_task?.run_id
      audit.tool_call_id = claims.kb_task?.tool_call_id
      audit.grant_name = claims.kb_grant
      this.admitByGrant(claims)

      const routes = deps.routes?.() ?? {}
      if (!Object.hasOwn(routes, request.route)) {
        throw new BrokerError('ERR_NOT_FOUND', `no proxy route named "${request.route.slice(0, 64)}"`)
      }
      const route = routes[request.route]!
      if (!/^[A-Z]{1,16}$/.test(request.method) || UNPROXIED_METHODS.has(request.method)) {
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          `method ${request.method.slice(0, 16)} is not proxied (TRACE would echo the injected key back)`,
        )
      }
      const wanted = `${ROUTE_AUDIENCE_PREFIX}${request.route}`
      if (claims.aud !== wanted) {
        throw new BrokerError(
          'ERR_AUDIENCE_NOT_GRANTED',
          `token audience is "${String(claims.aud).slice(0, 64)}"; this route needs a token issued for audience "${wanted}"`,
        )
      }
      checkCertificateBinding(claims, creds)

      const normalized = normalizeProxyPath(request.rawPath)
      audit.detail = { ...audit.detail, path: normalized.path.slice(0, MAX_AUDITED_PATH) }
      if (route.allowed_methods && !route.allowed_methods.includes(request.method)) {
        throw new BrokerError(
          'ERR_SCOPE_NOT_GRANTED',
          `method ${request.method.slice(0, 16)} is not allowed on route "${request.route}" (allowed: ${route.allowed_methods.join(', ')})`,
        )
      }
      const allowed = evaluateProxyRequest(splitScopeClaim(claims.scope), request.method, normalized.path)

      if (!deps.proxySecrets) {
        throw new BrokerError('ERR_UNIMPLEMENTED', 'this broker has no secret source wired for the proxy')
      }
      audit.secret_name = route.secret
      this.steps.step(audit, 'produce')
      const secret = await deps.proxySecrets.get(route.secret, signal)
      audit.detail = {
        ...audit.detail,
        scope: allowed.scope,
        provider: secret.provider,
        cache: secret.cache,
        ...(secret.version !== undefined ? { secret_version: secret.version } : {}),
      }
      const upstream = new URL(route.upstream)
      const base = upstream.pathname.replace(/\/+$/, '')
      // Write-ahead: the upstream acts on a keyed request the moment it receives it, so the decision
      // is committed before a byte leaves. No row, no request (503, upstream untouched). The outcome
      // (status, bytes) is a second row, written before any response byte reaches the caller.
      // A budgeted token spends one use of itself and of every budgeted ancestor in the same
      // transaction as this row: no row, no use; no use left, no row and a 429.
      const budget = claims.kb_budget
      // the exchange goes on past this row: its span ends with the outcome row
      const trace = deps.tracer && traceOf(audit)
      if (trace) trace.held = true
      const { id: authorizedExchangeId, remaining } = await this.steps.record(
        { ...audit, decision: 'allow', detail: { ...audit.detail, phase: 'authorized' } },
        started,
        undefined,
        budget && budget.length > 0 ? { spend: { tokenIds: budget } } : undefined,
      )
      if (remaining !== undefined) audit.detail = { ...audit.detail, budget_remaining: remaining }
      return {
        authorizedExchangeId,
        ...(remaining !== undefined ? { budgetRemaining: remaining } : {}),
        routeName: request.route,
        route,
        method: request.method,
        path: normalized.path,
        origin: upstream.origin,
        // By construction the normalized path has no `..`, so the target stays under the base.
        upstreamPath: `${base}${normalized.encoded}`,
        rawQuery: request.rawQuery,
        secret: secret.value,
        audit,
        started,
      }
    } catch (err) {
      releaseTrace(audit)
      throw await this.steps.refuse(audit, err, started)
    }
  }

  /**
   * Tracing: the request to the upstream begins; returns the `traceparent` to send it (naming the
   * `upstream` span), or undefined with tracing off.
   */
  upstreamTraceparent(grant: ProxyGrant): string | undefined {
    const trace = this.steps.deps.tracer && traceOf(grant.audit)
    if (!trace) return undefined
    trace.step('upstream')
    return trace.traceparent()
  }

  /**
   * Step 4 for a forwarded request, called when the upstream's response headers arrive and before
   * any response byte is passed on. Rejects with ERR_AUDIT_UNAVAILABLE when the row cannot be
   * committed; the caller must then discard the upstream response.
   */
  async recordForwarded(grant: ProxyGrant, outcome: ProxyOutcome): Promise<string> {
    releaseTrace(grant.audit)
    const { id } = await this.steps.record(
      {
        ...grant.audit,
        decision: 'allow',
        detail: { ...grant.audit.detail, ...outcomeDetail(grant, outcome) },
      },
      grant.started,
    )
    return id
  }

  /**
   * After the response body: the upstream sent the key back inside it and the proxy masked
   * `leakRedacted` copies in all (headers included). The outcome row was committed before the
   * body was read, so this is a row of its own that names it.
   */
  async recordRedacted(
    grant: ProxyGrant,
    found: { outcomeExchangeId: string; leakRedacted: number },
  ): Promise<string> {
    const { id } = await this.steps.record(
      {
        ...grant.audit,
        decision: 'allow',
        detail: {
          ...grant.audit.detail,
          phase: 'redacted',
          authorized_by: grant.authorizedExchangeId,
          outcome: found.outcomeExchangeId,
          leak_redacted: found.leakRedacted,
        },
      },
      grant.started,
    )
    return id
  }

  /** Step 4 for a request that was allowed but could not be completed (upstream fault, caller gone). */
  recordFailed(grant: ProxyGrant, err: unknown, outcome: ProxyOutcome): Promise<RecordedError> {
    releaseTrace(grant.audit)
    return this.steps.refuse(
      { ...grant.audit, detail: { ...grant.audit.detail, ...outcomeDetail(grant, outcome) } },
      err,
      grant.started,
    )
  }

  /**
   * The grant that issued the token must still be in the config (removing it on reload takes its
   * tokens' proxy access away), and the subject must be within that grant's `rate_limit.proxy`.
   */
  private admitByGrant(claims: AccessTokenClaims): void {
    const { deps } = this.steps
    if (claims.kb_grant === undefined) return // minted before tokens recorded their grant
    const grant = deps.policy().grant(claims.kb_grant)
    if (!grant)
      throw new BrokerError(
        'ERR_TOKEN_REVOKED',
        `grant "${claims.kb_grant.slice(0, 64)}" that issued this token is no longer in the broker's config`,
      )
    deps.guardrails?.admitProxy(claims, grant)
  }

  /** Step 1: the caller's `Authorization: Bearer` must be a live token this broker minted. */
  private async authenticate(creds: CallerCredentials, audit: ExchangeRecord): Promise<AccessTokenClaims> {
    const { deps } = this.steps
    if (creds.verifiedCertificate) audit.cert_thumbprint = certificateThumbprint(creds.verifiedCertificate)
    if (creds.authorization === undefined) {
      throw new BrokerError(
        'ERR_NO_CREDENTIALS',
        'no broker token: send "Authorization: Bearer <token>" with a token from IssueToken for audience "proxy:<route>"',
      )
    }
    const match = /^Bearer +(\S+)\s*$/i.exec(creds.authorization)
    if (!match) throw new BrokerError('ERR_TOKEN_INVALID', 'Authorization header must be "Bearer <token>"')
    const token = match[1]!
    audit.detail = { ...audit.detail, token_fingerprint: tokenFingerprint(token) }
    if (!creds.secureTransport) {
      throw new BrokerError('ERR_INSECURE_TRANSPORT', 'broker tokens are only accepted over HTTPS')
    }
    return verifyAccessToken(token, {
      keys: deps.keys,
      issuer: deps.issuer(),
      clock: deps.clock,
      isRevoked: (claims) => {
        if (!deps.revocations.isTokenRevoked(claims)) return false
        // a replay of a revoked token is signed by us: whose it was belongs in the row
        audit.subject = claims.sub
        audit.token_id = claims.jti
        audit.issuer = claims.iss
        audit.auth_method = 'broker_token'
        return true
      },
    })
  }
}

/**
 * RFC 8705: a certificate-bound token is only good on a connection presenting that certificate;
 * a missing or different certificate is a 401 `invalid_token`, not a fallback to bearer use.
 */
function checkCertificateBinding(claims: AccessTokenClaims, creds: CallerCredentials): void {
  const bound = claims.cnf?.['x5t#S256']
  if (!bound) return
  if (creds.rejectedCertificate) {
    throw new BrokerError(
      'ERR_CERTIFICATE_INVALID',
      `token is bound to a client certificate, and the one presented failed verification (${creds.rejectedCertificate.reason})`,
    )
  }
  if (!creds.verifiedCertificate) {
    throw new BrokerError(
      'ERR_NO_CREDENTIALS',
      'token is bound to a client certificate (cnf.x5t#S256): connect with that certificate (mTLS)',
    )
  }
  if (certificateThumbprint(creds.verifiedCertificate) !== bound) {
    throw new BrokerError(
      'ERR_TOKEN_INVALID',
      'token is bound to a different client certificate than the one on this connection',
    )
  }
}

/** The outcome row (or a refusal) is the proxy exchange's last: its span ends there. */
function releaseTrace(audit: ExchangeRecord): void {
  const trace = traceOf(audit)
  if (trace) trace.held = false
}

function outcomeDetail(grant: ProxyGrant, outcome: ProxyOutcome): Record<string, number | string> {
  const detail: Record<string, number | string> = {
    phase: 'completed',
    authorized_by: grant.authorizedExchangeId,
    request_bytes: outcome.requestBytes,
  }
  if (outcome.status !== undefined) detail.status = outcome.status
  if (outcome.responseBytes !== undefined) detail.response_bytes = outcome.responseBytes
  if (outcome.leakRedacted !== undefined) detail.leak_redacted = outcome.leakRedacted
  return detail
}
