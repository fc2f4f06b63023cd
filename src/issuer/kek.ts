import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { BrokerError } from '../errors.js'

const KEK_BYTES = 32

/**
 * Load the key-encryption key (32 random bytes, base64, 44 characters), creating it with
 * mode 0600 when absent. A wrong-length file is refused rather than padded or truncated:
 * a KEK that silently changed would make every stored signing key undecryptable.
 */
export function loadOrCreateKek(path: string): Buffer {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BrokerError('ERR_CONFIG', `keys.kek_file ${path}: cannot read: ${(err as Error).message}`)
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    const kek = randomBytes(KEK_BYTES)
    // 'wx' so two brokers starting at once cannot overwrite each other's fresh KEK.
    writeFileSync(path, `${kek.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
    return kek
  }
  const trimmed = text.trim()
  const kek = Buffer.from(trimmed, 'base64')
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed) || kek.length !== KEK_BYTES) {
    throw new BrokerError(
      'ERR_CONFIG',
      `keys.kek_file ${path}: expected ${KEK_BYTES} bytes in base64 (44 characters), found ${trimmed.length} characters`,
    )
  }
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) {
    throw new BrokerError(
      'ERR_CONFIG',
      `keys.kek_file ${path}: permissions ${mode.toString(8)} let others read it; run chmod 600 ${path}`,
    )
  }
  return kek
}
