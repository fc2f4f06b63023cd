import type { SigningKey } from './key_store.js'
import type { SigningKeys } from './signing_keys.js'

/**
 * signing: signs now; pending: published, signs later; published: superseded, kept in JWKS until
 * its tokens expire; retired: compromised, neither signs nor is published.
 */
export type KeyState = 'signing' | 'pending' | 'published' | 'retired'

export interface KeyListing {
  kid: string
  alg: string
  /** unix ms */
  createdAt: number
  activatesAt: number
  retiredAt?: number
  state: KeyState
}

/**
 * Every stored key with its state, in activation order: what `keybroker keys list` prints and
 * Admin.ListSigningKeys returns (the same words in both).
 */
export function listKeys(ring: Pick<SigningKeys, 'list' | 'signingKey'>, nowMs: number): KeyListing[] {
  const keys = ring.list()
  let signing: string | undefined
  try {
    signing = keys.length > 0 ? ring.signingKey().kid : undefined
  } catch {
    signing = undefined // every key retired or pending: nothing signs
  }
  return keys.map((key: SigningKey) => ({
    kid: key.kid,
    alg: key.alg,
    createdAt: key.createdAt,
    activatesAt: key.activatesAt,
    ...(key.retiredAt !== undefined ? { retiredAt: key.retiredAt } : {}),
    state:
      key.retiredAt !== undefined
        ? 'retired'
        : key.kid === signing
          ? 'signing'
          : key.activatesAt > nowMs
            ? 'pending'
            : 'published',
  }))
}
