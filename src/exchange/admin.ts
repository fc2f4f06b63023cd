import {
  type AuditQuery,
  decodeCursor,
  type ExchangeFilter,
  type ExchangeRecord,
  type IssuedTokenRecord,
  type ListPage,
  parseFilter,
  parseLimit,
  type RawExchangeFilter,
  type VerifyChainResult,
} from '../audit/index.js'
import type { AdminEntry, AdminRole } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import type { SigningKey } from '../issuer/key_store.js'
import { isAdmin, roleOf } from '../policy/admins.js'
import { type AdminMethod, mayCall, ROLE_RIGHTS } from '../policy/roles.js'
import type { ChainCursor } from '../storage/ports.js'
import type { ExchangeSteps } from './steps.js'

export type { AdminMethod } from '../policy/roles.js'

/** What the Admin calls need beyond the shared exchange deps; built by the composition root. */
export interface AdminDeps {
  /** Subjects allowed to call Admin (config `admins`). */
  admins: () => readonly AdminEntry[]
  query: AuditQuery
  verifyLog: () => Promise<VerifyChainResult>
}

export interface ListExchangesInput extends RawExchangeFilter {
  limit?: number
  pageToken?: string
}

export interface WatchInput extends RawExchangeFilter {
  /** single-chain logs: resume after this seq */
  afterSeq?: number
  /** opaque cursor (Exchange.cursor); takes precedence over afterSeq */
  cursor?: string
}

export interface RevokeInput {
  tokenId?: string
  subject?: string
  reason?: string
}

export interface RevokeResult {
  revoked: number
  tokenIds: string[]
  exchangeId: string
}

export interface RotateResult {
  key: SigningKey
  publishedKids: string[]
  exchangeId: string
}

export interface Authorized {
  identity: Identity
  role: AdminRole
  base: ExchangeRecord
  started: bigint
}

/**
 * The Admin exchanges: authenticate like any Broker call, require a subject listed in `admins`
 * (otherwise PERMISSION_DENIED, audited as kind `admin`/deny), then act and record.
 *
 * Every allowed call is audited too, reads included (kind `admin`, detail.method): who looked at
 * the exchange log, with which filters, is itself something an investigator needs, and it costs
 * one row per call (a watch is one row when it opens, not one per row it streams).
 * RevokeTokens is recorded as kind `revoke`, one row per revoked token, so findByTokenId shows a
 * token's issue and its revocation together.
 */
export class AdminExchange {
  constructor(
    private readonly steps: ExchangeSteps,
    private readonly admin: AdminDeps,
  ) {}

  async listExchanges(
    creds: CallerCredentials,
    input: ListExchangesInput,
  ): Promise<ListPage & { exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'ListExchanges', filterDetail(input))
    let page: ListPage
    try {
      const filter = parseFilter(input)
      page = await this.admin.query.list(filter, parseLimit(input.limit), input.pageToken || undefined)
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, returned: page.rows.length } },
      started,
    )
    return { ...page, exchangeId: id }
  }

  /** Authorize and record a watch; the caller then streams from the returned filter and cursor. */
  async openWatch(
    creds: CallerCredentials,
    input: WatchInput,
  ): Promise<{
    filter: ExchangeFilter
    cursor: ChainCursor
    exchangeId: string
    subject: string
    identity: Identity
  }> {
    const { identity, base, started } = await this.authorize(creds, 'WatchExchanges', {
      ...filterDetail(input),
      after_seq: input.afterSeq ?? 0,
    })
    let filter: ExchangeFilter
    let cursor: ChainCursor
    try {
      filter = parseFilter(input)
      cursor = await watchStart(this.admin.query, filter, input)
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const { id } = await this.steps.record(base, started)
    return { filter, cursor, exchangeId: id, subject: identity.subject, identity }
  }

  async revokeTokens(creds: CallerCredentials, input: RevokeInput): Promise<RevokeResult> {
    const { base: adminBase, started } = await this.authorize(creds, 'RevokeTokens')
    const base: ExchangeRecord = {
      ...adminBase,
      kind: 'revoke',
      reason: input.reason || undefined,
      detail: { method: 'RevokeTokens', ...(input.subject ? { target_subject: input.subject } : {}) },
    }
    let targets: IssuedTokenRecord[]
    try {
      targets = await findRevocationTargets(
        this.admin.query,
        input,
        Math.floor(this.steps.deps.clock.now() / 1000),
      )
    } catch (err) {
      throw await this.steps.refuse({ ...base, token_id: input.tokenId || undefined }, err, started)
    }
    const { deps } = this.steps
    // Revoke before recording: if the log then fails the caller sees UNAVAILABLE, but a token an
    // operator wanted dead is dead; the reverse order could leave it alive.
    let added: number
    try {
      added = await deps.revocations.revoke(
        targets.map((t) => ({
          jti: t.tokenId,
          expiresAt: t.expiresAt,
          subject: t.subject ?? undefined,
          issuer: t.issuer ?? undefined,
          reason: input.reason || undefined,
        })),
      )
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err), started)
    }
    const rows =
      targets.length === 0
        ? [this.steps.record({ ...base, detail: { ...base.detail, revoked: 0 } }, started)]
        : targets.map((t) =>
            this.steps.record(
              {
                ...base,
                token_id: t.tokenId,
                expires_at: t.expiresAt,
                detail: { ...base.detail, token_subject: t.subject ?? '' },
              },
              started,
            ),
          )
    const recorded = await Promise.all(rows)
    return { revoked: added, tokenIds: targets.map((t) => t.tokenId), exchangeId: recorded[0]!.id }
  }

  async verifyAuditLog(creds: CallerCredentials): Promise<VerifyChainResult & { exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'VerifyAuditLog')
    const result = await this.admin.verifyLog()
    const { id } = await this.steps.record(
      {
        ...base,
        detail: {
          ...base.detail,
          ok: result.ok,
          rows_checked: result.rowsChecked,
          ...(result.firstBadSeq !== undefined ? { first_bad_seq: result.firstBadSeq } : {}),
          ...(result.firstBadNodeId !== undefined ? { first_bad_node_id: result.firstBadNodeId } : {}),
        },
      },
      started,
    )
    return { ...result, exchangeId: id }
  }

  /** A new key, published now and signing after `keys.publish_ahead` (verifiers see it first). */
  async rotateSigningKey(creds: CallerCredentials): Promise<RotateResult> {
    const { base, started } = await this.authorize(creds, 'RotateSigningKey')
    let key: SigningKey
    try {
      key = await this.steps.deps.keys.rotate()
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, new_kid: key.kid, activates_at: key.activatesAt } },
      started,
    )
    return { key, publishedKids: this.steps.deps.keys.list().map((k) => k.kid), exchangeId: id }
  }

  /**
   * A read-only report (usage, alerts): authorize `method`, produce, record one admin row with
   * `summarize(result)` in its detail. A failure to produce is refused and audited like any call.
   */
  async report<T>(
    creds: CallerCredentials,
    method: AdminMethod,
    detail: Record<string, string | number>,
    produce: () => Promise<T>,
    summarize: (result: T) => Record<string, string | number>,
  ): Promise<{ result: T; exchangeId: string }> {
    const { base, started } = await this.authorize(creds, method, detail)
    let result: T
    try {
      result = await produce()
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, ...summarize(result) } },
      started,
    )
    return { result, exchangeId: id }
  }

  /** Still an operator under the current config (a reload may have removed them). */
  isAdmin(identity: Identity): boolean {
    return isAdmin(identity, this.admin.admins())
  }

  /**
   * Steps 1 and 2: who is calling, are they in `admins`, and does their role allow `method`
   * (src/policy/roles.ts). A refusal is audited as admin/deny, naming the role it needed.
   */
  async authorize(
    creds: CallerCredentials,
    method: AdminMethod,
    detail: Record<string, string | number> = {},
  ): Promise<Authorized> {
    const started = process.hrtime.bigint()
    const identity = await this.steps.authenticate(creds, started, `admin.${method}`)
    const base = this.steps.identityFields(creds, identity, { kind: 'admin', detail: { method, ...detail } })
    const role = roleOf(identity, this.admin.admins())
    if (role === undefined) {
      const error = new BrokerError(
        'ERR_NOT_ADMIN',
        `${identity.subject} may not call Admin.${method}: it is not listed in admins`,
      )
      throw await this.steps.refuse(base, error, started)
    }
    base.detail = { ...base.detail, role }
    if (!mayCall(role, method)) {
      const error = new BrokerError(
        'ERR_NOT_ADMIN',
        `${identity.subject} has role ${role}; Admin.${method} needs role ${ROLE_RIGHTS[method].join(' or ')}`,
      )
      throw await this.steps.refuse(base, error, started)
    }
    return { identity, role, base, started }
  }
}

/**
 * Which tokens a revocation names: the one token_id (NOT_FOUND unless this broker's log shows it
 * issued), or every unexpired token minted to `subject`. Shared with `keybroker revoke --db`.
 */
export async function findRevocationTargets(
  query: AuditQuery,
  input: RevokeInput,
  nowSec: number,
): Promise<IssuedTokenRecord[]> {
  const tokenId = input.tokenId ?? ''
  const subject = input.subject ?? ''
  if (tokenId === '' && subject === '')
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'give token_id or subject: which tokens to revoke')
  if (tokenId !== '' && subject !== '')
    throw new BrokerError('ERR_INVALID_ARGUMENT', 'give token_id or subject, not both')
  if (tokenId !== '') {
    const issued = await query.issuedToken(tokenId)
    if (!issued) {
      throw new BrokerError(
        'ERR_NOT_FOUND',
        `token_id ${tokenId.slice(0, 64)} was never issued by this broker (no issue or delegate row in the audit log)`,
      )
    }
    return [issued]
  }
  return query.liveTokensOf(subject, nowSec)
}

/**
 * Where a watch starts: an opaque cursor resumes exactly; after_seq > 0 resumes a single-chain
 * log after that row; otherwise "from now", or from `since` when one is given.
 */
async function watchStart(
  query: AuditQuery,
  filter: ExchangeFilter,
  input: WatchInput,
): Promise<ChainCursor> {
  if (input.cursor) return decodeCursor(input.cursor)
  const afterSeq = input.afterSeq ?? 0
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0)
    throw new BrokerError('ERR_INVALID_ARGUMENT', `after_seq: ${afterSeq} is not a seq (a whole number ≥ 0)`)
  const now = await query.cursorAt()
  if (afterSeq > 0) {
    const chains = Object.entries(now).filter(([, seq]) => seq > 0)
    if (chains.length > 1)
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'after_seq: this log has several chains (one per broker process); resume with the cursor of the last exchange seen',
      )
    const [node, head] = chains[0] ?? ['', 0]
    if (afterSeq > head) {
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `after_seq: ${afterSeq} is beyond the newest exchange (seq ${head}); was it from another broker's log?`,
      )
    }
    return { ...now, [node]: afterSeq }
  }
  return filter.sinceMs !== undefined ? query.cursorAt(filter.sinceMs) : now
}

function unavailableStore(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err
  return new BrokerError('ERR_AUDIT_UNAVAILABLE', `revocation store unavailable: ${(err as Error).message}`, {
    cause: err,
  })
}

/** The filters an admin used, for the audit row (non-secret by construction; bounded by the store). */
function filterDetail(input: RawExchangeFilter & { limit?: number }): Record<string, string | number> {
  const detail: Record<string, string | number> = {}
  const fields = [
    'subject',
    'subject_prefix',
    'kind',
    'decision',
    'audience',
    'secret_name',
    'route',
    'token_id',
    'peer',
    'run_id',
    'since',
    'until',
  ] as const
  for (const field of fields) {
    const value = input[field]
    if (value) detail[`filter_${field}`] = value
  }
  if (input.limit) detail.limit = input.limit
  return detail
}
