import type { RowFilter } from '../ports.js'

/** Escape LIKE's wildcards so a subject prefix matches literally (`\` is the ESCAPE character). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

const EQUALS: ReadonlyArray<readonly [keyof RowFilter, string]> = [
  ['subject', 'subject'],
  ['kind', 'kind'],
  ['decision', 'decision'],
  ['audience', 'audience'],
  ['secretName', 'secret_name'],
  ['route', 'route'],
  ['tokenId', 'token_id'],
  ['peer', 'peer'],
  ['runId', 'run_id'],
]

/**
 * The WHERE conditions of `filter` over table alias `t`, appending their values to `params`
 * (placeholders are numbered after what `params` already holds). sinceMs is inclusive, untilMs
 * exclusive.
 */
export function filterConditions(filter: RowFilter, params: unknown[], t = 'x'): string[] {
  const where: string[] = []
  const bind = (value: unknown): string => {
    params.push(value)
    return `$${params.length}`
  }
  for (const [key, column] of EQUALS) {
    const value = filter[key]
    if (value !== undefined) where.push(`${t}.${column} = ${bind(value)}`)
  }
  if (filter.subjectPrefix !== undefined)
    where.push(`${t}.subject LIKE ${bind(`${escapeLike(filter.subjectPrefix)}%`)} ESCAPE '\\'`)
  if (filter.sinceMs !== undefined) where.push(`${t}.ts >= ${bind(filter.sinceMs)}`)
  if (filter.untilMs !== undefined) where.push(`${t}.ts < ${bind(filter.untilMs)}`)
  return where
}
