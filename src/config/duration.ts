const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/**
 * Parse a config duration (`30s`, `5m`, `1h`, `24h`, `7d`, or a sum like `1h30m`) into seconds.
 * Returns undefined for anything else so the loader can name the offending key.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim()
  if (!/^(\d+[smhd])+$/.test(trimmed)) return undefined
  let total = 0
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhd])/g)) {
    total += Number(amount) * UNIT_SECONDS[unit as string]!
  }
  return Number.isSafeInteger(total) ? total : undefined
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
