import type { KeyObject } from 'node:crypto'
import {
  CompactSign,
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  type JWK,
} from 'jose'

/** The JWS `typ` of a checkpoint (a signed tree head of the audit log, as in Certificate Transparency). */
export const CHECKPOINT_TYP = 'kb-checkpoint+jwt'
export const CHECKPOINT_ALG = 'ES256'

export interface CheckpointHead {
  node_id: string
  seq: number
  hash: string
}

/** What a checkpoint vouches for: every chain of log `log_id` reached at least these heads at `ts`. */
export interface CheckpointPayload {
  log_id: string
  /** unix ms */
  ts: number
  heads: CheckpointHead[]
}

/** A checkpoint as stored (one JSON line of the checkpoint file) and served at GET /audit/checkpoint. */
export interface SignedCheckpoint {
  /** compact JWS */
  checkpoint: string
  /** the checkpoint key's public JWK (its `kid` is the RFC 7638 thumbprint, prefixed) */
  key: JWK
}

/** Kids of checkpoint keys start with this, so they are never mistaken for token signing keys. */
export const CHECKPOINT_KID_PREFIX = 'kb-checkpoint-'

/** `kb-checkpoint-<RFC 7638 thumbprint>` of a public JWK. */
export async function checkpointKid(publicJwk: JWK): Promise<string> {
  const { kty, crv, x, y, e, n } = publicJwk
  const bare = Object.fromEntries(Object.entries({ kty, crv, x, y, e, n }).filter(([, v]) => v !== undefined))
  return `${CHECKPOINT_KID_PREFIX}${await calculateJwkThumbprint(bare as JWK, 'sha256')}`
}

/** Sign `payload` as a compact JWS with the checkpoint key. */
export async function signCheckpoint(
  payload: CheckpointPayload,
  key: { kid: string; privateKey: KeyObject | CryptoKey },
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: CHECKPOINT_ALG, typ: CHECKPOINT_TYP, kid: key.kid })
    .sign(key.privateKey)
}

/**
 * Check a checkpoint's signature against `key`, that the key's kid is its own thumbprint and
 * matches the JWS header, and that the payload has the checkpoint shape. Throws an Error whose
 * message says what is wrong.
 */
export async function openCheckpoint(signed: SignedCheckpoint): Promise<CheckpointPayload> {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(signed.checkpoint)
  } catch {
    throw new Error('not a compact JWS')
  }
  if (header.typ !== CHECKPOINT_TYP) throw new Error(`typ is ${String(header.typ)}, not ${CHECKPOINT_TYP}`)
  if (header.alg !== CHECKPOINT_ALG) throw new Error(`alg is ${String(header.alg)}, not ${CHECKPOINT_ALG}`)
  const kid = await checkpointKid(signed.key)
  if (header.kid !== kid || (signed.key.kid !== undefined && signed.key.kid !== kid))
    throw new Error('the key given is not the key that signed it (kid does not match the key thumbprint)')
  let payload: unknown
  try {
    const verified = await compactVerify(signed.checkpoint, await importJWK(signed.key, CHECKPOINT_ALG))
    payload = JSON.parse(new TextDecoder().decode(verified.payload))
  } catch (err) {
    throw new Error(`signature does not verify (${(err as Error).message})`)
  }
  if (!isPayload(payload)) throw new Error('payload is not { log_id, ts, heads: [{ node_id, seq, hash }] }')
  return payload
}

function isPayload(value: unknown): value is CheckpointPayload {
  const p = value as CheckpointPayload
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.log_id === 'string' &&
    Number.isInteger(p.ts) &&
    Array.isArray(p.heads) &&
    p.heads.every(
      (h) =>
        typeof h === 'object' &&
        h !== null &&
        typeof h.node_id === 'string' &&
        Number.isInteger(h.seq) &&
        h.seq >= 0 &&
        typeof h.hash === 'string',
    )
  )
}
