import type { ExchangeKind, ExchangeRecord } from '../audit/index.js'
import type { Clock } from '../clock.js'
import type { RouteConfig } from '../config/index.js'
import { BrokerError, isCallerFault, toBrokerError } from '../errors.js'
import type { Guardrails } from '../guardrails/guardrails.js'
import {
  authenticateCaller,
  type CallerCredentials,
  type WorkloadTokenVerifierLike,
} from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import { type CertificateIdentityCache, certificateThumbprint } from '../identity/mtls.js'
import { tokenFingerprint } from '../identity/oidc.js'
import type { MintedToken } from '../issuer/mint.js'
import type { SigningKeys } from '../issuer/signing_keys.js'
import type { Policy } from '../policy/policy.js'
import type { SecretResolver } from '../providers/resolver.js'
import type { CommitEffects } from '../storage/ports.js'
import { attachTrace, type ExchangeStepName, type ExchangeTracer, traceOf } from '../telemetry/index.js'
import type { AuditAppender, ProxySecretSource, RevocationPort } from './ports.js'

/** Everything an exchange needs; built once by the composition root (src/server/app.ts). */
export interface ExchangeDeps {
  /** `iss` of minted tokens. */
  issuer: () => string
  /** Current policy; a function so a config reload swaps it atomically between calls. */
  policy: () => Policy
  keys: SigningKeys
  audit: AuditAppender
  certificates: CertificateIdentityCache
  workloadTokens?: () => WorkloadTokenVerifierLike | undefined
  /** Revoked token ids (checked when a broker token is presented back: proxy, delegation). */
  revocations: RevocationPort
  clock: Clock
  /** Configured secrets; absent → FetchSecret refuses every name exactly as it refuses an unknown one. */
  secrets?: Pick<SecretResolver, 'get' | 'describe'>
  /** Injection-proxy routes (`routes:`); a function so a config reload swaps them atomically. */
  routes?: () => Readonly<Record<string, RouteConfig>>
  /** Values of the keys the proxy injects (the broker's SecretResolver satisfies this). */
  proxySecrets?: ProxySecretSource
  /** Human approval of sensitive grants and secrets (absent: a request needing approval is refused). */
  approvals?: import('./approvals.js').ApprovalDeps
  /** Told about every recorded exchange (metrics, logs). */
  observe?: (event: ExchangeEvent) => void
  /** Blocks, rate limits, budgets and refusal folding (agent guardrails); absent = none. */
  guardrails?: Guardrails
  /** Tracing (`telemetry.otlp_endpoint`); absent = off, and each step costs one null check. */
  tracer?: ExchangeTracer
}

export interface ExchangeEvent {
  kind: ExchangeKind
  decision: ExchangeRecord['decision']
  exchangeId?: string
  latencyUs: number
  code?: string
  subject?: string
}

/** A refusal or fault that has been audited; `exchangeId` names its audit row. */
export class RecordedError extends BrokerError {
  readonly exchangeId?: string
  /**
   * True when step 1 refused the caller's own credentials (an `auth_failure` row), as opposed to a
   * later refusal: OAuth answers the first `invalid_client` and the second by what was wrong.
   */
  readonly authentication: boolean
  /** ERR_RATE_LIMITED: when the caller may try again (retry-after). */
  readonly retryAfterMs?: number
  constructor(error: BrokerError, exchangeId?: string, authentication = false) {
    super(error.code, error.message, { cause: error.cause })
    this.exchangeId = exchangeId
    this.authentication = authentication
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs
    if (typeof retryAfterMs === 'number') this.retryAfterMs = retryAfterMs
  }
}

export type AuditFields = ExchangeRecord

/** What IssueToken and DelegateToken hand back. */
export interface IssuedToken {
  token: string
  tokenType: 'Bearer'
  expiresAt: number
  scopes: string[]
  audience: string
  tokenId: string
  exchangeId: string
  /** Proxy requests it may make (0 = unlimited). */
  maxUses: number
}

/**
 * The shared steps every exchange kind composes: authenticate (1), refuse (audited denial),
 * record (4, fail-closed). Each kind's file (issue.ts, …) supplies authorize (2) and produce (3).
 */
export class ExchangeSteps {
  constructor(readonly deps: ExchangeDeps) {}

  /** Step 1: credentials → Identity; a failure is audited as `auth_failure` and rethrown. */
  async authenticate(creds: CallerCredentials, started: bigint, call: string): Promise<Identity> {
    if (this.deps.tracer) this.beginTrace(creds, call)
    try {
      return await authenticateCaller(creds, {
        certificates: this.deps.certificates,
        workloadTokens: this.deps.workloadTokens?.(),
      })
    } catch (err) {
      const error = toBrokerError(err)
      const record: ExchangeRecord = {
        kind: 'auth_failure',
        decision: isCallerFault(error.code) ? 'deny' : 'error',
        peer: creds.peer,
        reason: error.message,
        // the certificate offered, even one TLS accepted but identity refused (two URI SANs, ...)
        cert_thumbprint:
          creds.rejectedCertificate?.thumbprint ??
          (creds.verifiedCertificate ? certificateThumbprint(creds.verifiedCertificate) : undefined),
        detail: { call, code: error.code, ...credentialFingerprints(creds), ...transportOf(creds) },
      }
      if (creds.trace) attachTrace(record, creds.trace)
      const folded = this.fold(record, error, started)
      if (folded) throw new RecordedError(error, folded, true)
      const { id } = await this.record(record, started, error)
      throw new RecordedError(error, id, true)
    }
  }

  /**
   * Tracing: open this exchange's span (a child of the caller's `traceparent`) at step 1. The trace
   * rides on `creds` until the first audit record exists, then on the record and its copies.
   */
  beginTrace(creds: CallerCredentials, call: string, record?: ExchangeRecord): void {
    const trace = this.deps.tracer?.begin(call, creds)
    if (!trace) return
    creds.trace = trace
    if (record) attachTrace(record, trace)
    trace.step('authenticate')
  }

  /** Tracing: this exchange moves on to `step` (authorize → produce → record; proxy: upstream). */
  step(record: ExchangeRecord, step: ExchangeStepName): void {
    if (this.deps.tracer) traceOf(record)?.step(step)
  }

  /** The audit fields every row about an authenticated caller carries. */
  identityFields(
    creds: CallerCredentials,
    identity: Identity,
    fields: Partial<ExchangeRecord> & { kind: ExchangeKind },
  ): ExchangeRecord {
    const record: ExchangeRecord = {
      decision: 'allow',
      subject: identity.subject,
      auth_method: identity.method,
      issuer: identity.issuer,
      peer: creds.peer,
      cert_thumbprint: identity.certThumbprint,
      ...fields,
      detail: withTransport(creds, fields.detail),
    }
    const trace = creds.trace
    if (trace) {
      attachTrace(record, trace)
      trace.step('authorize')
    }
    return record
  }

  /**
   * Audit a request its transport refused before any exchange could run (wrong method, malformed
   * body, unsupported grant): one refusal row with what is known of the caller, no identity yet.
   */
  refuseRequest(
    creds: CallerCredentials,
    fields: Partial<ExchangeRecord> & { kind: ExchangeKind },
    err: unknown,
    started: bigint = process.hrtime.bigint(),
  ): Promise<RecordedError> {
    const base: ExchangeRecord = {
      decision: 'deny',
      peer: creds.peer,
      cert_thumbprint: creds.verifiedCertificate
        ? certificateThumbprint(creds.verifiedCertificate)
        : creds.rejectedCertificate?.thumbprint,
      ...fields,
      detail: withTransport(creds, fields.detail),
    }
    if (creds.trace) attachTrace(base, creds.trace)
    return this.refuse(base, err, started)
  }

  /** Audit a refusal or fault, then hand back the error the caller should see. */
  async refuse(base: ExchangeRecord, err: unknown, started: bigint): Promise<RecordedError> {
    const error = toBrokerError(err)
    const decision = isCallerFault(error.code) ? 'deny' : 'error'
    const record: ExchangeRecord = {
      ...base,
      decision,
      reason: error.message,
      detail: { ...base.detail, code: error.code },
    }
    const folded = this.fold(record, error, started)
    if (folded) return new RecordedError(error, folded)
    const { id } = await this.record(record, started, error)
    return new RecordedError(error, id)
  }

  /**
   * A repeated refusal (rate limited, or unauthenticated from a flooding address) counted into a
   * summary row instead of a row of its own: returns that row's id, or undefined to record as usual.
   */
  fold(record: ExchangeRecord, error: BrokerError, started: bigint): string | undefined {
    const id = this.deps.guardrails?.fold(record, error.code)
    if (id === undefined) return undefined
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n)
    if (this.deps.tracer) traceOf(record)?.finish({ ...record, decision: 'deny' }, id, error.code)
    this.deps.observe?.({
      kind: record.kind,
      decision: 'deny',
      exchangeId: id,
      latencyUs,
      code: error.code,
      subject: record.subject,
    })
    return id
  }

  /** Steps 4 and 5 for a minted token: commit its `allow` row, then (only then) hand the token out. */
  async answerWithToken(
    base: ExchangeRecord,
    minted: MintedToken,
    scopes: string[],
    started: bigint,
    budget: { maxUses: number; ownUses: number } = { maxUses: 0, ownUses: 0 },
  ): Promise<IssuedToken> {
    // `base` belongs to this exchange: filled in place rather than copied on the hot path
    base.decision = 'allow'
    base.token_id = minted.claims.jti
    base.expires_at = minted.claims.exp
    // a budget row is created with the row that issues the token (no row, no counter)
    const effects: CommitEffects | undefined =
      budget.ownUses > 0
        ? {
            budgets: [
              { tokenId: minted.claims.jti, remaining: budget.ownUses, expiresAt: minted.claims.exp },
            ],
          }
        : undefined
    const { id } = await this.record(base, started, undefined, effects)
    return {
      token: minted.token,
      tokenType: 'Bearer',
      expiresAt: minted.claims.exp,
      scopes,
      audience: minted.claims.aud,
      tokenId: minted.claims.jti,
      exchangeId: id,
      maxUses: budget.maxUses,
    }
  }

  /** Step 4. Fails closed: no audit row, no answer but UNAVAILABLE. Sets `record.latency_us`. */
  async record(
    record: ExchangeRecord,
    started: bigint,
    outcome?: BrokerError,
    effects?: CommitEffects,
  ): Promise<{ id: string; seq: number; remaining?: number }> {
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n)
    const trace = this.deps.tracer && traceOf(record)
    trace?.step('record')
    try {
      record.latency_us = latencyUs
      const stored = await this.deps.audit.append(record, effects)
      if (trace && !trace.held) trace.finish(record, stored.id, outcome?.code)
      this.deps.observe?.({
        kind: record.kind,
        decision: record.decision,
        exchangeId: stored.id,
        latencyUs,
        code: outcome?.code,
        subject: record.subject,
      })
      return stored
    } catch (err) {
      // a spent budget is the database's answer, not a fault: the caller records the refusal
      if (err instanceof BrokerError && err.code === 'ERR_BUDGET_EXHAUSTED') throw err
      if (trace) trace.finish({ ...record, decision: 'error' }, undefined, 'ERR_AUDIT_UNAVAILABLE')
      this.deps.observe?.({ kind: record.kind, decision: 'error', latencyUs, code: 'ERR_AUDIT_UNAVAILABLE' })
      if (err instanceof BrokerError && err.code === 'ERR_AUDIT_UNAVAILABLE') throw err
      throw new BrokerError('ERR_AUDIT_UNAVAILABLE', 'audit log unavailable; no credential was issued', {
        cause: err,
      })
    }
  }
}

function transportOf(creds: CallerCredentials): { transport?: string } {
  return creds.transport ? { transport: creds.transport } : {}
}

/** `detail` with `transport` first; untouched (possibly absent) when the transport did not say. */
function withTransport(creds: CallerCredentials, detail: ExchangeRecord['detail']): ExchangeRecord['detail'] {
  return creds.transport ? { transport: creds.transport, ...detail } : detail
}

/** Short SHA-256 fingerprints let an operator correlate a refused token without storing it. */
function credentialFingerprints(creds: CallerCredentials): Record<string, string> {
  const out: Record<string, string> = {}
  const token = creds.authorization?.replace(/^Bearer\s*/i, '').trim()
  if (token) out.token_fingerprint = tokenFingerprint(token)
  return out
}
