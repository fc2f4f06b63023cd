import type { ExchangeKind, ExchangeRecord } from '../audit/record.js'
import type { GrantConfig } from '../config/index.js'
import { BrokerError, type BrokerErrorCode } from '../errors.js'
import type { Storage } from '../storage/ports.js'
import { peerAddress } from './peer_address.js'
import { type BucketLimit, TokenBuckets } from './rate.js'
import { RefusalFolder } from './refusal_folder.js'
import { SubjectBlocks } from './subject_blocks.js'

export type RateKind = 'issue' | 'proxy'

/** ERR_RATE_LIMITED with when to try again (gRPC `retry-after` trailer, HTTP Retry-After). */
export class RateLimitedError extends BrokerError {
  readonly retryAfterMs: number
  constructor(message: string, retryAfterMs: number) {
    super('ERR_RATE_LIMITED', message)
    this.retryAfterMs = retryAfterMs
  }
}

/** Whole seconds for a `retry-after` header: at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000))
}

export interface GuardrailsOptions {
  now: () => number
  storage: Pick<Storage, 'usage' | 'blocks'>
  /** Writes a summary row (the audit appender). */
  append: (record: ExchangeRecord) => Promise<unknown>
  /** Called for each unauthenticated failure counted instead of written. */
  onSuppressed?: (count: number) => void
  onSummaryWriteFailed?: (err: unknown) => void
}

/** Rows per minute per peer address before unauthenticated failures are only counted. */
export const AUTH_FAILURE_ROWS_PER_MINUTE = 20
/** Peer addresses tracked at once; the rest share one overflow bucket. */
export const MAX_TRACKED_ADDRESSES = 10_000
const WINDOW_MS = 60_000
/**
 * A usage counter outlives its token by this long before it is pruned: a verifier on a replica whose
 * clock runs behind (or its few seconds of leeway) must never find a live token's counter gone.
 */
export const USAGE_PRUNE_MARGIN_SEC = 60
/** Failures that mean "the caller could not be authenticated" (as opposed to a later refusal). */
const AUTHENTICATION_FAILURES = new Set<BrokerErrorCode>([
  'ERR_NO_CREDENTIALS',
  'ERR_CERTIFICATE_INVALID',
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_ISSUER_UNKNOWN',
  'ERR_INSECURE_TRANSPORT',
])

/**
 * Agent guardrails the exchange consults: subject blocks, per-identity rate limits (token buckets
 * per (issuer, subject), in this process: N replicas allow N× the rate), and the folding of
 * repeated refusals into summary rows (rate-limited refusals per subject, unauthenticated
 * failures per peer address) so a flood cannot flood the audit log.
 */
export class Guardrails {
  readonly blocks: SubjectBlocks
  readonly #buckets: TokenBuckets
  readonly #rateRefusals: RefusalFolder
  readonly #authFailures: RefusalFolder
  readonly #options: GuardrailsOptions

  constructor(options: GuardrailsOptions) {
    this.#options = options
    this.blocks = new SubjectBlocks(options.storage.blocks)
    this.#buckets = new TokenBuckets(options.now)
    const common = {
      windowMs: WINDOW_MS,
      maxKeys: MAX_TRACKED_ADDRESSES,
      now: options.now,
      write: options.append,
      onWriteFailed: (err: unknown) => options.onSummaryWriteFailed?.(err),
    }
    this.#rateRefusals = new RefusalFolder({
      ...common,
      rowsPerWindow: 1,
      summary: (first, count, start) => ({
        reason: 'rate_limited',
        detail: { ...transportOnly(first), code: 'ERR_RATE_LIMITED', count, window_start: start },
      }),
    })
    this.#authFailures = new RefusalFolder({
      ...common,
      rowsPerWindow: AUTH_FAILURE_ROWS_PER_MINUTE,
      summary: (first, count, start) => ({
        reason: 'suppressed',
        detail: { ...transportOnly(first), suppressed: count, window_start: start },
      }),
    })
  }

  /** Issue and delegate: refuse a blocked subject, then charge the strictest `rate_limit.issue`. */
  admitIssue(identity: { subject: string; issuer: string }, grants: readonly GrantConfig[]): void {
    if (this.blocks.isBlocked(identity.subject))
      throw new BrokerError(
        'ERR_SUBJECT_BLOCKED',
        `${identity.subject} is blocked from new tokens (revoke --block); an operator lifts it with keybroker unblock`,
      )
    this.#charge('issue', identity.issuer, identity.subject, grants)
  }

  /** A proxy request: charge `rate_limit.proxy` of the grant that issued the token. */
  admitProxy(claims: { sub: string; iss: string; kb_idp?: string }, grant: GrantConfig | undefined): void {
    this.#charge('proxy', claims.kb_idp ?? claims.iss, claims.sub, grant ? [grant] : [])
  }

  /**
   * Fold a refusal about to be recorded: a repeated rate-limit refusal of the same subject, or an
   * unauthenticated failure from an address past 20 rows this minute. Returns the summary row's
   * exchange id when folded (write no row), undefined to record it as usual.
   */
  fold(record: ExchangeRecord, code: BrokerErrorCode): string | undefined {
    if (code === 'ERR_RATE_LIMITED')
      return this.#rateRefusals.fold(
        `${record.kind}\n${record.issuer ?? ''}\n${record.subject ?? ''}`,
        record,
      )
    if (record.kind === 'auth_failure' || (!record.subject && AUTHENTICATION_FAILURES.has(code))) {
      const id = this.#authFailures.fold(peerAddress(record.peer), record)
      if (id) this.#options.onSuppressed?.(1)
      return id
    }
    return undefined
  }

  /** The smallest remaining budget among `tokenIds` (undefined when none has a budget row). */
  async budgetLeft(tokenIds: readonly string[]): Promise<number | undefined> {
    if (tokenIds.length === 0) return undefined
    const left = await this.#options.storage.usage.remaining([...tokenIds])
    if (left.size < tokenIds.length) return 0 // a listed counter is gone: fail closed
    return Math.min(...left.values())
  }

  /**
   * Maintenance: delete the usage counters of tokens that expired over USAGE_PRUNE_MARGIN_SEC ago
   * (an expired token is refused before its budget is read, so its counter is dead weight).
   * Returns how many were deleted.
   */
  pruneUsage(): Promise<number> {
    const nowSec = Math.floor(this.#options.now() / 1000)
    return this.#options.storage.usage.pruneExpired(nowSec - USAGE_PRUNE_MARGIN_SEC)
  }

  /** Periodic: write summaries of windows that ended, forget full buckets. */
  tick(): void {
    this.#rateRefusals.sweep()
    this.#authFailures.sweep()
    this.#buckets.sweep(() => 60 * 60_000)
  }

  /** Write every pending summary row now (shutdown; tests). */
  async flush(): Promise<void> {
    await Promise.all([this.#rateRefusals.flush(), this.#authFailures.flush()])
  }

  /** Addresses currently tracked by the flood control (bounded by MAX_TRACKED_ADDRESSES + overflow). */
  get trackedAddresses(): number {
    return this.#authFailures.trackedKeys
  }

  #charge(kind: RateKind, issuer: string, subject: string, grants: readonly GrantConfig[]): void {
    const limit = strictestLimit(grants, kind)
    if (!limit) return
    const admission = this.#buckets.take(`${kind}\n${issuer}\n${subject}`, limit.bucket)
    if (admission.ok) return
    throw new RateLimitedError(
      `${subject} is over the ${kind} rate limit of grant "${limit.grant}" (${limit.text}, burst ${limit.bucket.burst}); retry in ${retryAfterSeconds(admission.retryAfterMs)}s`,
      admission.retryAfterMs,
    )
  }
}

/** The lowest rate among the grants that set one for `kind` (the strictest wins). */
export function strictestLimit(
  grants: readonly GrantConfig[],
  kind: RateKind,
): { grant: string; text: string; bucket: BucketLimit } | undefined {
  let best: { grant: string; text: string; bucket: BucketLimit; perMs: number } | undefined
  for (const grant of grants) {
    const limits = grant.rate_limit
    const rate = limits?.[kind]
    if (!limits || !rate) continue
    const perMs = rate.count / rate.periodMs
    if (best && best.perMs <= perMs) continue
    best = {
      grant: grant.name,
      text: rate.text,
      bucket: { rate, burst: limits.burst ?? rate.count },
      perMs,
    }
  }
  return best
}

function transportOnly(record: ExchangeRecord): Record<string, string> {
  const transport = record.detail?.transport
  return typeof transport === 'string' ? { transport } : {}
}

export type { ExchangeKind }
