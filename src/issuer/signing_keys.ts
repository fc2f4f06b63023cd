import type { JSONWebKeySet } from 'jose'
import type { Clock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { SealedKeyStore, SigningAlgorithm, SigningKey } from './key_store.js'

export interface SigningKeysOptions {
  algorithm: SigningAlgorithm
  rotationPeriodMs: number
  publishAheadMs: number
  /** Longest lifetime any token can have; a retired key stays published this long (plus leeway). */
  maxTokenLifetimeMs: () => number
  clock: Clock
}

/** Verifiers may accept tokens this long past `exp` (the DESIGN's leeway), so keys outlive tokens by as much. */
const VERIFIER_LEEWAY_MS = 60_000

/**
 * The broker's key ring. Rules (DESIGN.md "Tokens"):
 * - a new key is published in JWKS before it signs (`publish_ahead`);
 * - the newest key whose activation time has come signs;
 * - a superseded key stays published until every token it could have signed has expired.
 */
export class SigningKeys {
  private keys: SigningKey[] = []
  private jwksJson = '{"keys":[]}'
  private ready = false

  constructor(
    private readonly store: SealedKeyStore,
    private readonly options: SigningKeysOptions,
  ) {}

  /** Load stored keys; create the first one (active at once) on a fresh database; rotate if due. */
  async init(): Promise<void> {
    await this.store.withRotationLock(async () => {
      await this.reload()
      if (this.live().length === 0) {
        const now = this.options.clock.now()
        await this.store.generate(this.options.algorithm, now, now)
        await this.reload()
      }
    })
    await this.maintain()
    this.ready = true
  }

  /** Keys that are not retired: the ones published, and the only ones that may sign. */
  private live(): SigningKey[] {
    return this.keys.filter((k) => k.retiredAt === undefined)
  }

  get isReady(): boolean {
    return this.ready && this.live().length > 0
  }

  /** Re-read the table (another process, e.g. `keybroker keys rotate`, may have added a key). */
  async reload(): Promise<void> {
    this.keys = await this.store.load(new Map(this.keys.map((k) => [k.kid, k])))
    this.jwksJson = JSON.stringify(this.jwks())
  }

  /** The key that signs now. */
  signingKey(): SigningKey {
    const now = this.options.clock.now()
    let current: SigningKey | undefined
    // the latest activation that has come; on a tie, the key created last (a forced rotation)
    for (const key of this.keys) {
      if (key.activatesAt > now || key.retiredAt !== undefined) continue
      if (
        !current ||
        key.activatesAt > current.activatesAt ||
        (key.activatesAt === current.activatesAt && key.createdAt >= current.createdAt)
      )
        current = key
    }
    if (!current) throw new BrokerError('ERR_KEYS_UNAVAILABLE', 'no signing key is active yet')
    return current
  }

  jwks(): JSONWebKeySet {
    return { keys: this.live().map((k) => k.publicJwk) }
  }

  /** JWKS as served: computed once per key-set change, not per request. */
  jwksText(): string {
    return this.jwksJson
  }

  /** Every stored key, retired ones included (operators list them). */
  list(): ReadonlyArray<SigningKey> {
    return this.keys
  }

  /** A retired key's tokens are refused by the broker's own checks too. */
  isRetired(kid: string): boolean {
    return this.keys.some((k) => k.kid === kid && k.retiredAt !== undefined)
  }

  /**
   * Retire a compromised key: it stops signing and leaves JWKS at once. When it was the signer, a
   * new key takes over immediately. Returns false when no such (unretired) key exists.
   */
  async retire(kid: string): Promise<boolean> {
    return this.store.withRotationLock(async () => {
      const now = this.options.clock.now()
      const done = await this.store.retire(kid, now)
      await this.reload()
      if (done && !this.live().some((k) => k.activatesAt <= now)) {
        await this.store.generate(this.options.algorithm, now, now)
        await this.reload()
      }
      return done
    })
  }

  /**
   * Add a new key. By default it is published now and signs after `publish_ahead`, so verifiers
   * that cache JWKS see it first; `immediate` makes it sign at once (first key, tests, emergencies).
   */
  async rotate(options: { immediate?: boolean } = {}): Promise<SigningKey> {
    return this.store.withRotationLock(async () => {
      await this.reload()
      const now = this.options.clock.now()
      const activatesAt = options.immediate ? now : now + this.options.publishAheadMs
      // An immediate key supersedes any pending one: a pending key would otherwise activate later
      // and take over from the key the operator just forced in. Pending keys never signed.
      if (options.immediate)
        for (const pending of this.keys.filter((k) => k.activatesAt > now))
          await this.store.delete(pending.kid)
      // created strictly after every stored key, so a tie in activation goes to the new one
      const createdAt = Math.max(now, ...this.keys.map((k) => k.createdAt + 1))
      const key = await this.store.generate(this.options.algorithm, createdAt, activatesAt)
      await this.reload()
      return key
    })
  }

  /** Periodic upkeep: schedule the next key when the current one nears rotation_period; drop expired keys. */
  async maintain(): Promise<void> {
    await this.store.withRotationLock(() => this.#maintainLocked())
  }

  async #maintainLocked(): Promise<void> {
    // re-read under the lock: another replica may have rotated a moment ago
    await this.reload()
    const now = this.options.clock.now()
    const { rotationPeriodMs, publishAheadMs } = this.options
    const active = this.signingKey()
    const pending = this.keys.some((k) => k.activatesAt > now)
    if (!pending && now >= active.activatesAt + rotationPeriodMs - publishAheadMs) {
      const activatesAt = Math.max(active.activatesAt + rotationPeriodMs, now + publishAheadMs)
      await this.store.generate(this.options.algorithm, now, activatesAt)
    }
    const keepFor = this.options.maxTokenLifetimeMs() + VERIFIER_LEEWAY_MS
    // A key is retired when its successor activates; it is unpublished once its last token expired.
    for (let i = 0; i < this.keys.length - 1; i++) {
      const successor = this.keys[i + 1]!
      if (successor.activatesAt <= now && now > successor.activatesAt + keepFor)
        await this.store.delete(this.keys[i]!.kid)
    }
    await this.reload()
  }
}
