import type { StoredExchange } from './record.js'

/**
 * One line per exchange for `keybroker audit tail`, e.g.
 * `2025-01-02T03:04:05.678Z issue allow subject=spiffe://example.org/api aud=billing reason=- jti=… id=01J…`.
 * Values are quoted when they contain spaces, quotes or control characters, so a hostile subject
 * cannot forge extra lines or columns in an operator's terminal.
 */
export function formatExchangeLine(
  row: StoredExchange,
  time: (ms: number) => string = (ms) => new Date(ms).toISOString(),
): string {
  const fields: string[] = [
    time(row.ts),
    quoted(row.kind),
    quoted(row.decision),
    `subject=${quoted(row.subject)}`,
  ]
  if (row.audience !== null) fields.push(`aud=${quoted(row.audience)}`)
  if (row.scopes !== null) fields.push(`scopes=${quoted(row.scopes)}`)
  if (row.secret_name !== null) fields.push(`secret=${quoted(row.secret_name)}`)
  if (row.route !== null) fields.push(`route=${quoted(row.route)}`)
  for (const key of SHOWN_DETAIL) {
    const value = row.detail?.[key]
    if (value !== undefined) fields.push(`${key}=${quoted(String(value))}`)
  }
  if (row.reason !== null) fields.push(`reason=${quoted(row.reason)}`)
  if (row.token_id !== null) fields.push(`jti=${quoted(row.token_id)}`)
  fields.push(`id=${quoted(row.id)}`)
  return fields.join(' ')
}

/** The few non-secret detail facts an operator scanning a tail wants on the line. */
const SHOWN_DETAIL = ['method', 'path', 'phase', 'status', 'cache', 'depth'] as const

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NEEDS_QUOTING = /[\s"\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/

function quoted(value: string | null): string {
  if (value === null || value === '') return '-'
  return NEEDS_QUOTING.test(value) ? JSON.stringify(value) : value
}
