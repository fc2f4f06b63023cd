import type { ExchangeKind, ExchangeRecord } from '../audit/index.js'
import type { Clock } from '../clock.js'
import { BrokerError, isCallerFault, toBrokerError } from '../errors.js'
import {
  authenticateCaller,
  type CallerCredentials,
  type WorkloadTokenVerifierLike,
} from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import type { CertificateIdentityCache } from '../identity/mtls.js'
import { tokenFingerprint } from '../identity/oidc.js'
import { mintAccessToken } from '../issuer/mint.js'
import type { SigningKeys } from '../issuer/signing_keys.js'
import type { Policy } from '../policy/policy.js'

/**
 * The one place the five steps run for every kind of exchange:
 *   1 authenticate → 2 authorize → 3 produce → 4 record → 5 reply.
 * Handlers (gRPC, HTTP proxy) only translate their transport to and from these calls.
 * Step 4 is not optional: if the audit row cannot be committed, the caller gets
 * ERR_AUDIT_UNAVAILABLE and no credential, whatever steps 1–3 decided.
 */

export interface AuditAppender {
  append(record: ExchangeRecord): Promise<{ id: string; seq: number }>
}

export interface ExchangeDeps {
  /** `iss` of minted tokens. */
  issuer: () => string
  /** Current policy; a function so a config reload swaps it atomically between calls. */
  policy: () => Policy
  keys: SigningKeys
  audit: AuditAppender
  certificates: CertificateIdentityCache
  workloadTokens?: () => WorkloadTokenVerifierLike | undefined
  clock: Clock
  /** Told about every recorded exchange (metrics, logs). */
  observe?: (event: ExchangeEvent) => void
}

export interface ExchangeEvent {
  kind: ExchangeKind
  decision: ExchangeRecord['decision']
  exchangeId?: string
  latencyUs: number
  code?: string
}

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

export interface WhoAmIResult {
  identity: Identity
  grants: string[]
}

/** A refusal or fault that has been audited; `exchangeId` names its audit row. */
export class RecordedError extends BrokerError {
  readonly exchangeId?: string
  constructor(error: BrokerError, exchangeId?: string) {
    super(error.code, error.message, { cause: error.cause })
    this.exchangeId = exchangeId
  }
}

export class Exchange {
  constructor(private readonly deps: ExchangeDeps) {}

  /** IssueToken: identity × request → a short-lived, scoped, signed JWT. */
  async issueToken(creds: CallerCredentials, input: IssueTokenInput): Promise<IssuedToken> {
    const started = process.hrtime.bigint()
    const identity = await this.authenticate(creds, started, 'issue')
    const base = this.identityFields(creds, identity, {
      kind: 'issue',
      audience: input.audience.slice(0, 256),
      scopes: input.scopes.slice(0, 100).join(' ').slice(0, 2048),
      ttl: input.ttlSeconds,
    })
    let minted: ReturnType<typeof mintAccessToken>
    let scopes: string[]
    try {
      const decision = this.deps.policy().evaluateTokenRequest(identity, input)
      if (input.bindToCertificate && !identity.certThumbprint) {
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          'bind_to_certificate needs a client certificate on the connection (mTLS)',
        )
      }
      scopes = decision.scopes
      minted = mintAccessToken(this.deps.keys.signingKey(), {
        issuer: this.deps.issuer(),
        subject: identity.subject,
        audience: decision.audience,
        scopes: decision.scopes,
        issuedAt: Math.floor(this.deps.clock.now() / 1000),
        ttlSeconds: decision.ttlSeconds,
        certThumbprint: input.bindToCertificate ? identity.certThumbprint : undefined,
      })
      base.scopes = decision.scopes.join(' ')
      base.ttl = decision.ttlSeconds
      base.detail = { grant: decision.grant, capped: decision.capped, kid: minted.kid }
    } catch (err) {
      throw await this.refuse(base, err, started)
    }
    const { id } = await this.record(
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

  /** WhoAmI: who the broker thinks the caller is, and which grants match. Not audited as an exchange. */
  async whoAmI(creds: CallerCredentials): Promise<WhoAmIResult> {
    const started = process.hrtime.bigint()
    const identity = await this.authenticate(creds, started, 'whoami')
    return {
      identity,
      grants: this.deps
        .policy()
        .matchingGrants(identity)
        .map((g) => g.name),
    }
  }

  /** JWKS of the broker's published keys (no authentication beyond the transport: they are public). */
  jwks(): string {
    return this.deps.keys.jwksText()
  }

  // ── steps shared by every exchange ────────────────────────────────────────────────────

  private async authenticate(creds: CallerCredentials, started: bigint, call: string): Promise<Identity> {
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
        cert_thumbprint: creds.rejectedCertificate?.thumbprint,
        detail: { call, code: error.code, ...credentialFingerprints(creds) },
      }
      const { id } = await this.record(record, started, error)
      throw new RecordedError(error, id)
    }
  }

  private identityFields(
    creds: CallerCredentials,
    identity: Identity,
    fields: Partial<ExchangeRecord> & { kind: ExchangeKind },
  ): ExchangeRecord & { detail?: Record<string, string | number | boolean> } {
    return {
      decision: 'allow',
      subject: identity.subject,
      auth_method: identity.method,
      issuer: identity.issuer,
      peer: creds.peer,
      cert_thumbprint: identity.certThumbprint,
      ...fields,
    }
  }

  /** Audit a refusal or fault, then hand back the error the caller should see. */
  private async refuse(base: ExchangeRecord, err: unknown, started: bigint): Promise<RecordedError> {
    const error = toBrokerError(err)
    const decision = isCallerFault(error.code) ? 'deny' : 'error'
    const { id } = await this.record(
      { ...base, decision, reason: error.message, detail: { ...base.detail, code: error.code } },
      started,
      error,
    )
    return new RecordedError(error, id)
  }

  /** Step 4. Fails closed: no audit row, no answer but UNAVAILABLE. */
  private async record(
    record: ExchangeRecord,
    started: bigint,
    outcome?: BrokerError,
  ): Promise<{ id: string; seq: number }> {
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n)
    try {
      const stored = await this.deps.audit.append({ ...record, latency_us: latencyUs })
      this.deps.observe?.({
        kind: record.kind,
        decision: record.decision,
        exchangeId: stored.id,
        latencyUs,
        code: outcome?.code,
      })
      return stored
    } catch (err) {
      this.deps.observe?.({ kind: record.kind, decision: 'error', latencyUs, code: 'ERR_AUDIT_UNAVAILABLE' })
      if (err instanceof BrokerError && err.code === 'ERR_AUDIT_UNAVAILABLE') throw err
      throw new BrokerError('ERR_AUDIT_UNAVAILABLE', 'audit log unavailable; no credential was issued', {
        cause: err,
      })
    }
  }
}

/** Short SHA-256 fingerprints let an operator correlate a refused token without storing it. */
function credentialFingerprints(creds: CallerCredentials): Record<string, string> {
  const out: Record<string, string> = {}
  const token = creds.authorization?.replace(/^Bearer\s*/i, '').trim()
  if (token) out.token_fingerprint = tokenFingerprint(token)
  return out
}
