import { BrokerError } from '../errors.js'
import type { KeyRows } from '../storage/ports.js'
import { kekOpens } from './key_store.js'

/**
 * Refuse to start when the KEK cannot unseal ANY stored signing key: that is not a corrupt row
 * but a replica given another KEK than the one the cluster's keys were sealed with (a new
 * kek_file generated on an empty volume, a Secret not mounted). Said plainly, with the fix,
 * instead of the per-key message. One bad row among good ones keeps the per-key message.
 */
export async function assertKekMatches(
  rows: KeyRows,
  kek: Buffer,
  where: { kekFile: string; location: string },
): Promise<void> {
  const stored = (await rows.list()).filter((r) => r.retired_at === null)
  if (stored.length === 0) return
  if (stored.some((row) => kekOpens(kek, row))) return
  throw new BrokerError(
    'ERR_KEY_STORE_CORRUPT',
    `keys.kek_file ${where.kekFile} does not match the signing keys in the database (${where.location}): ` +
      `none of its ${stored.length} stored key(s) (${stored.map((r) => r.kid).join(', ')}) decrypts with this KEK. ` +
      'Every replica of one broker must use the same KEK: mount the KEK the other replicas use ' +
      '(the same Secret) at keys.kek_file. Do not delete the keys: tokens they signed would stop verifying. ' +
      '(With a single replica and the right KEK, the stored key rows were modified.)',
  )
}
