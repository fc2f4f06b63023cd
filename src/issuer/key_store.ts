import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose'
import { BrokerError } from '../errors.js'
import type { KeyRows, SealedKeyRow } from '../storage/ports.js'

export type SigningAlgorithm = 'ES256' | 'ES384' | 'EdDSA' | 'RS256' | 'PS256'

/** A signing key as the broker uses it: private half imported once as a KeyObject for the hot path. */
export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  publicJwk: JWK
  privateKey: KeyObject
  /** unix ms */
  createdAt: number
  /** unix ms: from here on it may sign; before that it is only published. */
  activatesAt: number
  /** unix ms: retired (compromised): neither signs nor is published */
  retiredAt?: number
}

const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * Signing keys at rest: one row per key in the storage's `KeyRows`, the PKCS#8 private key sealed
 * with AES-256-GCM under the KEK. The AAD binds kid, alg and public JWK, so editing any of them
 * (or swapping rows) makes decryption fail instead of yielding a key that signs under the wrong kid.
 */
export class SealedKeyStore {
  constructor(
    private readonly rows: KeyRows,
    private readonly kek: Buffer,
  ) {}

  /** Generate a key pair, persist it sealed, and return it ready to sign. */
  async generate(alg: SigningAlgorithm, createdAt: number, activatesAt: number): Promise<SigningKey> {
    const options =
      alg === 'RS256' || alg === 'PS256' ? { extractable: true, modulusLength: 2048 } : { extractable: true }
    const pair = await generateKeyPair(alg, options)
    const publicJwk = await exportJWK(pair.publicKey)
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
    const published: JWK = { ...publicJwk, kid, alg, use: 'sig' }
    const pkcs8 = await exportPKCS8(pair.privateKey)
    const publicText = JSON.stringify(published)
    const sealed = seal(this.kek, Buffer.from(pkcs8), aad(kid, alg, publicText))
    await this.rows.insert({
      kid,
      alg,
      public_jwk: publicText,
      sealed_private_key: sealed,
      created_at: createdAt,
      activates_at: activatesAt,
      retired_at: null,
    })
    return { kid, alg, publicJwk: published, privateKey: createPrivateKey(pkcs8), createdAt, activatesAt }
  }

  /** Every stored key, decrypted. `known` lets callers skip keys they already hold. */
  async load(known: ReadonlyMap<string, SigningKey> = new Map()): Promise<SigningKey[]> {
    const keys: SigningKey[] = []
    for (const row of await this.rows.list()) {
      const cached = known.get(row.kid)
      if (
        cached &&
        cached.activatesAt === row.activates_at &&
        (cached.retiredAt ?? null) === row.retired_at
      ) {
        keys.push(cached)
        continue
      }
      keys.push(await this.open(row))
    }
    return keys
  }

  delete(kid: string): Promise<void> {
    return this.rows.delete(kid)
  }

  retire(kid: string, atMs: number): Promise<boolean> {
    return this.rows.markRetired(kid, atMs)
  }

  /** Serialize rotation decisions across every process sharing the database. */
  withRotationLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.rows.withRotationLock(fn)
  }

  private async open(row: SealedKeyRow): Promise<SigningKey> {
    const corrupt = (why: string, cause?: unknown) =>
      new BrokerError(
        'ERR_KEY_STORE_CORRUPT',
        `signing key ${row.kid}: ${why}; the stored row was modified or keys.kek_file is not the KEK it was sealed with`,
        { cause },
      )
    let pkcs8: Buffer
    try {
      pkcs8 = unseal(this.kek, row.sealed_private_key, aad(row.kid, row.alg, row.public_jwk))
    } catch (cause) {
      throw corrupt('private key failed to decrypt', cause)
    }
    let publicJwk: JWK
    try {
      publicJwk = JSON.parse(row.public_jwk) as JWK
    } catch (cause) {
      throw corrupt('public key is not JSON', cause)
    }
    const { kid: _kid, alg: _alg, use: _use, ...bare } = publicJwk
    if ((await calculateJwkThumbprint(bare, 'sha256')) !== row.kid)
      throw corrupt('kid does not match its public key')
    const privateKey = createPrivateKey(pkcs8.toString('utf8'))
    return {
      kid: row.kid,
      alg: row.alg as SigningAlgorithm,
      publicJwk,
      privateKey,
      createdAt: row.created_at,
      activatesAt: row.activates_at,
      ...(row.retired_at !== null ? { retiredAt: row.retired_at } : {}),
    }
  }
}

function aad(kid: string, alg: string, publicJwk: string): Buffer {
  return Buffer.from(`keybroker-signing-key\0${kid}\0${alg}\0${publicJwk}`)
}

function seal(kek: Buffer, plaintext: Buffer, additional: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(additional)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext])
}

function unseal(kek: Buffer, sealed: Buffer, additional: Buffer): Buffer {
  const iv = sealed.subarray(0, IV_BYTES)
  const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES)
  const decipher = createDecipheriv('aes-256-gcm', kek, iv)
  decipher.setAAD(additional)
  decipher.setAuthTag(tag)
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()])
}

/** Whether `kek` decrypts this row's sealed private key (startup check: is this the cluster's KEK?). */
export function kekOpens(kek: Buffer, row: SealedKeyRow): boolean {
  try {
    unseal(kek, row.sealed_private_key, aad(row.kid, row.alg, row.public_jwk))
    return true
  } catch {
    return false
  }
}
