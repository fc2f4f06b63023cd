import type { BrokerTokenClaims } from './claims.js'

/** One revocation from the feed (the wire's `RevocationEvent`, without the cursor). */
export interface RevocationNotice {
  tokenId?: string
  subject?: string
  /** Who vouched for `subject` (`kb_idp`); empty matches any. */
  issuer?: string
  kid?: string
  /** unix seconds: the longest `exp` the notice covers. */
  notAfter: number
  descendants?: string[]
}

/** Kept this long past `not_after`: a verifier allows some clock skew on `exp`. */
const GRACE_SECONDS = 60
const PRUNE_EVERY_SECONDS = 60

/**
 * What the verifier knows is revoked, in memory, each entry until its `not_after`: token ids (a
 * revoked parent also kills every token carrying it in `kb_ancestors`), subjects of an issuer, and
 * retired signing keys. Every check is a Map lookup, so 10,000 live revocations cost no more than ten.
 */
export class RevocationSet {
  readonly #tokens = new Map<string, number>()
  readonly #subjects = new Map<string, number>()
  readonly #kids = new Map<string, number>()
  #prunedAt = 0

  constructor(private readonly nowSeconds: () => number) {}

  get size(): number {
    return this.#tokens.size + this.#subjects.size + this.#kids.size
  }

  add(notice: RevocationNotice): void {
    const keep = notice.notAfter + GRACE_SECONDS
    if (notice.tokenId) extend(this.#tokens, notice.tokenId, keep)
    for (const id of notice.descendants ?? []) extend(this.#tokens, id, keep)
    if (notice.subject) extend(this.#subjects, subjectKey(notice.subject, notice.issuer), keep)
    if (notice.kid) extend(this.#kids, notice.kid, keep)
    const now = this.nowSeconds()
    if (now - this.#prunedAt >= PRUNE_EVERY_SECONDS) this.prune(now)
  }

  /** The reason a token is revoked, or undefined. */
  whyRevoked(claims: BrokerTokenClaims): string | undefined {
    if (this.#tokens.has(claims.jti)) return `token ${claims.jti} has been revoked`
    if (claims.kb_ancestors)
      for (const ancestor of claims.kb_ancestors)
        if (this.#tokens.has(ancestor))
          return `token ${claims.jti} was delegated from ${ancestor}, which has been revoked`
    if (this.#subjects.size > 0) {
      // A subject revocation covers that subject's tokens up to the longest exp it named.
      const until =
        this.#subjects.get(subjectKey(claims.sub, claims.kb_idp ?? '')) ??
        this.#subjects.get(subjectKey(claims.sub))
      if (until !== undefined && claims.exp <= until - GRACE_SECONDS)
        return `every token of ${claims.sub} issued before its revocation has been revoked`
    }
    return undefined
  }

  isKidRetired(kid: string): boolean {
    return this.#kids.has(kid)
  }

  /** Forget entries whose tokens can no longer verify anyway. */
  prune(now = this.nowSeconds()): void {
    this.#prunedAt = now
    for (const map of [this.#tokens, this.#subjects, this.#kids])
      for (const [key, until] of map) if (until < now) map.delete(key)
  }
}

function extend(map: Map<string, number>, key: string, until: number): void {
  const known = map.get(key)
  if (known === undefined || known < until) map.set(key, until)
}

function subjectKey(subject: string, issuer = ''): string {
  return `${issuer}\n${subject}`
}
