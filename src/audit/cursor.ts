import { BrokerError } from '../errors.js'
import type { ChainCursor } from '../storage/ports.js'

const PREFIX = 'c1.'
const MAX_CURSOR_CHARS = 16_384

/**
 * Watch cursors on the wire: opaque text holding the last seq seen on each chain
 * (`{ node_id: seq }`). Opaque so the form can change; not secret, so not signed (a forged
 * cursor only moves the caller's own position in rows they may read anyway).
 */
export function encodeCursor(cursor: ChainCursor): string {
  return PREFIX + Buffer.from(JSON.stringify(cursor)).toString('base64url')
}

export function decodeCursor(text: string): ChainCursor {
  const bad = () =>
    new BrokerError(
      'ERR_INVALID_ARGUMENT',
      'cursor is not a watch cursor from this broker; resume without one',
    )
  if (!text.startsWith(PREFIX) || text.length > MAX_CURSOR_CHARS) throw bad()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text.slice(PREFIX.length), 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad()
  const cursor: ChainCursor = {}
  for (const [node, seq] of Object.entries(parsed)) {
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad()
    cursor[node] = seq
  }
  return cursor
}
