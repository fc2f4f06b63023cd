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
import { parseStatsQuery } from '../audit/stats_query.js'
import type { AdminEntry, AdminRole } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import type { Identity } from '../identity/identity.js'
import { type KeyListing, listKeys } from '../issuer/key_listing.js'
import type { SigningKey } from '../issuer/key_store.js'
import { DEFAULT_REVOCATION_LIMIT, MAX_REVOCATION_LIMIT } from '../issuer/revocation_listing.js'
import { isAdmin, roleOf } from '../policy/admins.js'
import { type AdminMethod, mayCall, ROLE_RIGHTS } from '../policy/roles.js'
import type { ChainCursor, ExchangeStatsResult, RevocationRow } from '../storage/ports.js'
import type { ExchangeSteps } from './steps.js'

export type { AdminMethod } from '../policy/roles.js'

/** What the Admin calls need beyond the shared exchange deps; built by the composition root. */
export interface AdminDeps {
  /** Subjects allowed to call Admin (config `admins`). */
  admins: () => readonly AdminEntry[]
  query: AuditQuery
  verifyLog: () => Promise<VerifyChainResult>
  /** Hash of the loaded policy, recorded in every admin row's detail (which policy answered). */
  policyHash?: () => string

  /** Revocations in force, newest first (src/issuer/revocation_listing.ts); absent: ListRevocations is UNIMPLEMENTED. */
  listRevocations?: (limit: number) => Promise<RevocationRow[]>
  /** Longest lifetime a token can have: a retired key's revocation event is kept that long. */
  maxTokenLifetimeMs?: () => number
}

export interface RetireInput {
  kid?: string
  reason?: string
}

export interface RetireResult {
  kid: string
  /** false when the key had already been retired (the event is published again, idempotently) */
  newlyRetired: boolean
  publishedKids: string[]
  exchangeId: string
}

export interface StatsInput extends RawExchangeFilter {
  bucket?: string
  top?: number
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
  /** With subject: also refuse new tokens to it until unblocked. */
  block?: boolean
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
      if (input.block && !input.subject)
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          'block needs subject: a token id cannot be blocked, only a subject',
        )
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
    if (input.block) await this.#block(base, input, started)
    return { revoked: added, tokenIds: targets.map((t) => t.tokenId), exchangeId: recorded[0]!.id }
  }

  /** Lift a block: the subject may be issued tokens again. Audited as kind `block` (detail.action unblock). */
  async unblockSubject(
    creds: CallerCredentials,
    input: { subject: string; reason?: string },
  ): Promise<{ unblocked: boolean; exchangeId: string }> {
    const { base: adminBase, started } = await this.authorize(creds, 'UnblockSubject')
    const base: ExchangeRecord = {
      ...adminBase,
      kind: 'block',
      reason: input.reason || undefined,
      detail: { method: 'UnblockSubject', action: 'unblock', target_subject: input.subject.slice(0, 512) },
    }
    const guardrails = this.steps.deps.guardrails
    let unblocked: boolean
    try {
      if (!input.subject)
        throw new BrokerError('ERR_INVALID_ARGUMENT', 'subject is required: which subject to unblock')
      if (!guardrails) throw new BrokerError('ERR_UNIMPLEMENTED', 'this broker has no subject blocks wired')
      unblocked = await guardrails.blocks.unblock(input.subject)
    } catch (err) {
      throw await this.steps.refuse(base, err instanceof BrokerError ? err : unavailableStore(err), started)
    }
    const { id } = await this.steps.record({ ...base, detail: { ...base.detail, unblocked } }, started)
    return { unblocked, exchangeId: id }
  }

  /** `revoke --subject S --block`: S gets no new token until unblocked (kind `block`, action block). */
  async #block(revokeBase: ExchangeRecord, input: RevokeInput, started: bigint): Promise<void> {
    const base: ExchangeRecord = {
      ...revokeBase,
      kind: 'block',
      detail: {
        method: 'RevokeTokens',
        action: 'block',
        target_subject: (input.subject ?? '').slice(0, 512),
      },
    }
    const guardrails = this.steps.deps.guardrails
    try {
      if (!input.subject)
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          'block needs subject: a token id cannot be blocked, only a subject',
        )
      if (!guardrails) throw new BrokerError('ERR_UNIMPLEMENTED', 'this broker has no subject blocks wired')
      await guardrails.blocks.block({
        subject: input.subject,
        reason: input.reason || null,
        blocked_by: revokeBase.subject ?? null,
        blocked_at: this.steps.deps.clock.now(),
      })
    } catch (err) {
      throw await this.steps.refuse(base, err instanceof BrokerError ? err : unavailableStore(err), started)
    }
    await this.steps.record(base, started)
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

  /** Every stored key and its state; re-read first, so keys another process added or retired show. */
  async listSigningKeys(creds: CallerCredentials): Promise<{ keys: KeyListing[]; exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'ListSigningKeys')
    const { keys, clock } = this.steps.deps
    try {
      await keys.reload()
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err, 'key store'), started)
    }
    const listed = listKeys(keys, clock.now())
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, returned: listed.length } },
      started,
    )
    return { keys: listed, exchangeId: id }
  }

  /**
   * Retire a compromised key: it stops signing and leaves JWKS at once (so the proxy and
   * DelegateToken refuse its tokens), and a `kid` event on the revocation feed tells replicas and
   * verifiers. Retiring a key that is already retired publishes the event again (idempotent), so a
   * retry after a failed feed write completes the job.
   */
  async retireSigningKey(creds: CallerCredentials, input: RetireInput): Promise<RetireResult> {
    const kid = input.kid ?? ''
    const { base: adminBase, started } = await this.authorize(creds, 'RetireSigningKey', {
      kid: kid.slice(0, 128),
    })
    const base: ExchangeRecord = { ...adminBase, reason: input.reason?.slice(0, 512) || undefined }
    const { keys, revocations, clock } = this.steps.deps
    let newlyRetired: boolean
    try {
      if (kid === '' || kid.length > 128)
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          'kid: give the key id to retire (see keybroker keys list)',
        )
      await keys.reload()
      if (!keys.list().some((k) => k.kid === kid))
        throw new BrokerError('ERR_NOT_FOUND', `no signing key ${kid} (see keybroker keys list)`)
      newlyRetired = await keys.retire(kid)
    } catch (err) {
      throw await this.steps.refuse(base, err, started)
    }
    const lifetimeMs = this.admin.maxTokenLifetimeMs?.() ?? 3_600_000
    try {
      await revocations.revoke([
        {
          jti: `kid:${kid}`,
          kid,
          expiresAt: Math.floor((clock.now() + lifetimeMs) / 1000),
          reason: input.reason || 'signing key retired',
        },
      ])
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err), started)
    }
    const publishedKids = keys
      .list()
      .filter((k) => k.retiredAt === undefined)
      .map((k) => k.kid)
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, newly_retired: newlyRetired ? 1 : 0 } },
      started,
    )
    return { kid, newlyRetired, publishedKids, exchangeId: id }
  }

  async listRevocations(
    creds: CallerCredentials,
    limit: number | undefined,
  ): Promise<{ revocations: RevocationRow[]; exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'ListRevocations', limit ? { limit } : {})
    let rows: RevocationRow[]
    try {
      const n = limit || DEFAULT_REVOCATION_LIMIT
      if (!Number.isInteger(n) || n < 0 || n > MAX_REVOCATION_LIMIT)
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          `limit: ${n} is above the maximum of ${MAX_REVOCATION_LIMIT}`,
        )
      if (!this.admin.listRevocations)
        throw new BrokerError('ERR_UNIMPLEMENTED', 'Admin.ListRevocations is not wired in this broker')
      rows = await this.admin.listRevocations(n)
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err), started)
    }
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, returned: rows.length } },
      started,
    )
    return { revocations: rows, exchangeId: id }
  }

  /** Aggregates over a window, computed by the store (never by paging rows to the caller). */
  async exchangeStats(
    creds: CallerCredentials,
    input: StatsInput,
  ): Promise<ExchangeStatsResult & { exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'GetExchangeStats', {
      ...filterDetail(input),
      ...(input.bucket ? { bucket: input.bucket.slice(0, 32) } : {}),
    })
    let result: ExchangeStatsResult
    try {
      const filter = parseFilter(input)
      const query = parseStatsQuery(input.bucket, input.top)
      result = await this.admin.query.stats(filter, query)
      if (result.bucketsTruncated)
        throw new BrokerError(
          'ERR_INVALID_ARGUMENT',
          `bucket: more than ${query.maxBuckets} buckets of ${input.bucket || '1m'} hold rows in this window; use a larger bucket or a shorter window (since/until)`,
        )
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err, 'audit store'), started)
    }
    const { id } = await this.steps.record(
      { ...base, detail: { ...base.detail, total: result.total } },
      started,
    )
    return { ...result, exchangeId: id }
  }

  /**
   * Authorize and record an export; the caller then streams every matching row oldest first.
   * The window closes at the moment of the call (`until` defaults to now), so an export of a busy
   * log ends.
   */
  async openExport(
    creds: CallerCredentials,
    input: RawExchangeFilter,
  ): Promise<{ filter: ExchangeFilter; cursor: ChainCursor; exchangeId: string }> {
    const { base, started } = await this.authorize(creds, 'ExportExchanges', filterDetail(input))
    let filter: ExchangeFilter
    let cursor: ChainCursor
    try {
      filter = parseFilter(input)
      filter.untilMs ??= this.steps.deps.clock.now() + 1
      cursor = filter.sinceMs !== undefined ? await this.admin.query.cursorAt(filter.sinceMs) : {}
    } catch (err) {
      throw await this.steps.refuse(base, unavailableStore(err, 'audit store'), started)
    }
    const { id } = await this.steps.record(base, started)
    return { filter, cursor, exchangeId: id }
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
    const policy: Record<string, string> = this.admin.policyHash
      ? { policy_hash: this.admin.policyHash() }
      : {}
    const base = this.steps.identityFields(creds, identity, {
      kind: 'admin',
      detail: { method, ...policy, ...detail },
    })
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

function unavailableStore(err: unknown, what = 'revocation store'): BrokerError {
  if (err instanceof BrokerError) return err
  return new BrokerError('ERR_AUDIT_UNAVAILABLE', `${what} unavailable: ${(err as Error).message}`, {
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
