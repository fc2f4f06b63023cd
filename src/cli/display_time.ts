const pad = (n: number) => String(n).padStart(2, '0')

/**
 * A time as an operator reads it: local time with its UTC offset (2025-01-02T15:04:05+05:30), or
 * UTC with `utc` (2025-01-02T09:34:05Z). Machine formats (json, jsonl, csv) keep ISO UTC always.
 *
 * @example
 * displayTime(Date.parse('2025-01-02T09:34:05Z'), true) // '2025-01-02T09:34:05Z'
 */
export function displayTime(ms: number, utc: boolean): string {
  const d = new Date(ms)
  if (utc) return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
  const offset = -d.getTimezoneOffset()
  const abs = Math.abs(offset)
  const zone = `${offset >= 0 ? '+' : '-'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`
}
