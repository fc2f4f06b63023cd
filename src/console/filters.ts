/** Query-string fields the console passes through to the Admin filters (anything else is ignored). */
export const FILTER_FIELDS = [
  'since',
  'until',
  'subject',
  'subject_prefix',
  'kind',
  'decision',
  'audience',
  'route',
  'secret_name',
  'token_id',
  'run_id',
  'peer',
] as const

export type FilterField = (typeof FILTER_FIELDS)[number]

/** The filter fields of a query string (empty values dropped); the broker validates them. */
export function filterFromQuery(query: URLSearchParams): Partial<Record<FilterField, string>> {
  const out: Partial<Record<FilterField, string>> = {}
  for (const field of FILTER_FIELDS) {
    const value = query.get(field)?.trim()
    if (value) out[field] = value
  }
  return out
}
