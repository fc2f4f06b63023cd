import { randomFillSync } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const MAX_TIME = 2 ** 48 - 1
const HALF = 2 ** 40 // the 80 random bits, kept as two 40-bit halves (exact in a double)

/**
 * Monotonic ULIDs (same format and ordering rules as the `ulid` package's monotonicFactory):
 * a new millisecond draws 80 fresh CSPRNG bits; within the same (or an earlier) millisecond the
 * previous random part is incremented, so ids stay sorted. The time prefix and the high half are
 * encoded once and reused, so a call in a busy millisecond encodes only 8 characters.
 */
export function monotonicUlid(): (timeMs: number) => string {
  const pool = new Uint8Array(4096)
  let poolNext = pool.length
  const take40 = (): number => {
    if (poolNext + 5 > pool.length) {
      randomFillSync(pool)
      poolNext = 0
    }
    let n = 0
    for (let i = 0; i < 5; i++) n = n * 256 + pool[poolNext++]!
    return n
  }
  let lastTime = -1
  let prefix = ''
  let high = 0
  let highText = ''
  let low = 0

  return (timeMs) => {
    if (!(timeMs >= 0 && timeMs <= MAX_TIME)) throw new RangeError(`ULID time out of range: ${timeMs}`)
    if (timeMs > lastTime) {
      lastTime = timeMs
      prefix = encode(timeMs, 10)
      high = take40()
      highText = encode(high, 8)
      low = take40()
    } else if (++low === HALF) {
      low = 0
      if (++high === HALF) throw new RangeError('ULID random part overflowed within one millisecond')
      highText = encode(high, 8)
    }
    return prefix + highText + encode(low, 8)
  }
}

function encode(value: number, length: number): string {
  let text = ''
  for (let i = 0; i < length; i++) {
    const digit = value % 32
    text = ALPHABET[digit]! + text
    value = (value - digit) / 32
  }
  return text
}
