import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, randomBytes } from 'node:crypto'
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose'
import { BrokerError } from '../../errors.js'
import type { KeyRows, SealedKeyRow } from '../../storage/ports.js'
import { CHECKPOINT_ALG, CHECKPOINT_KID_PREFIX, checkpointKid } from './token.js'

/** The log's checkpoint key: signs checkpoints only; never rotated, never retired from verification. */
export interface CheckpointKey {
  kid: string
  publicJwk: JWK
  privateKey: KeyObject
}

const IV_BYTES = 12
const TAG_BYTES = 16

/** True for a key row that holds a checkpoint key rather than a token signing key. */
export function isCheckpointKeyRow(row: Pick<SealedKeyRow, 'kid'>): boolean {
  return row.kid.startsWith(CHECKPOINT_KID_PREFIX)
}

/**
 * The signing-key rows without the checkpoint key: what the token key ring (SigningKeys) sees, so
 * the checkpoint key is never published in JWKS, rotated, deleted or retired with signing keys.
 */
export function signingKeyRows(rows: KeyRows): KeyRows {
  return {
    insert: (row) => rows.insert(row),
    list: async () => (await rows.list()).filter((row) => !isCheckpointKeyRow(row)),
    delete: (kid) => rows.delete(kid),
    markRetired: (kid, atMs) =>
      kid.startsWith(CHECKPOINT_KID_PREFIX) ? Promise.resolve(false) : rows.markRetired(kid, atMs),
    withRotationLock: (fn) => rows.withRotationLock(fn),
  }
}

/** The public half of the checkpoint key stored with the log, if it has one (for `audit verify`). */
export async function storedCheckpointPublicKey(rows: KeyRows): Promise<JWK | undefined> {
  const row = (await rows.list()).find(isCheckpointKeyRow)
  return row ? (JSON.parse(row.public_jwk) as JWK) : undefined
}

/**
 * Load the log's checkpoint key, creating it on first start (under the rotation lock, so replicas
 * sharing a database agree on one). Its private key is sealed under the KEK with AES-256-GCM like
 * the signing keys, with its own AAD label so a checkpoint key can never unseal as a signing key.
 */
export async function loadOrCreateCheckpointKey(
  rows: KeyRows,
  kek: Buffer,
  nowMs: number,
): Promise<CheckpointKey> {
  const existing = (await rows.list()).find(isCheckpointKeyRow)
  if (existing) return open(existing, kek)
  return rows.withRotationLock(async () => {
    const raced = (await rows.list()).find(isCheckpointKeyRow)
    if (raced) return open(raced, kek)
    const pair = await generateKeyPair(CHECKPOINT_ALG, { extractable: true })
    const bare = await exportJWK(pair.publicKey)
    const kid = await checkpointKid(bare)
    const publicJwk: JWK = { ...bare, kid, alg: CHECKPOINT_ALG, use: 'sig' }
    const publicText = JSON.stringify(publicJwk)
    const pkcs8 = await exportPKCS8(pair.privateKey)
    await rows.insert({
      kid,
      alg: CHECKPOINT_ALG,
      public_jwk: publicText,
      sealed_private_key: seal(kek, Buffer.from(pkcs8), aad(kid, publicText)),
      created_at: nowMs,
      activates_at: nowMs,
      retired_at: null,
    })
    return { kid, publicJwk, privateKey: createPrivateKey(pkcs8) }
  })
}

async function open(row: SealedKeyRow, kek: Buffer): Promise<CheckpointKey> {
  let pkcs8: Buffer
  try {
    const iv = row.sealed_private_key.subarray(0, IV_BYTES)
    const tag = row.sealed_private_key.subarray(IV_BYTES, IV_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', kek, iv)
    decipher.setAAD(aad(row.kid, row.public_jwk))
    decipher.setAuthTag(tag)
    pkcs8 = Buffer.concat([
      decipher.update(row.sealed_private_key.subarray(IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ])
  } catch (cause) {
    throw new BrokerError(
      'ERR_KEY_STORE_CORRUPT',
      `checkpoint key ${row.kid}: private key failed to decrypt; the stored row was modified or keys.kek_file is not the KEK it was sealed with`,
      { cause },
    )
  }
  const publicJwk = JSON.parse(row.public_jwk) as JWK
  if ((await checkpointKid(publicJwk)) !== row.kid)
    throw new BrokerError(
      'ERR_KEY_STORE_CORRUPT',
      `checkpoint key ${row.kid}: kid does not match its public key`,
    )
  return { kid: row.kid, publicJwk, privateKey: createPrivateKey(pkcs8.toString('utf8')) }
}

function aad(kid: string, publicJwk: string): Buffer {
  return Buffer.from(`keybroker-checkpoint-key\0${kid}\0${CHECKPOINT_ALG}\0${publicJwk}`)
}

function seal(kek: Buffer, plaintext: Buffer, additional: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(additional)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext])
}
