import type { UsageRow } from './ports.js'

/** Activity rows joined with live-token counts on (grant_name, subject); sorted by grant, subject. */
export function mergeUsage(
  active: Array<Omit<UsageRow, 'live_tokens'>>,
  live: Array<{ grant_name: string; subject: string; live_tokens: number }>,
): UsageRow[] {
  const key = (r: { grant_name: string; subject: string }) => `${r.grant_name}\u0000${r.subject}`
  const rows = new Map<string, UsageRow>()
  for (const r of active)
    rows.set(key(r), {
      grant_name: r.grant_name,
      subject: r.subject,
      allowed: Number(r.allowed),
      denied: Number(r.denied),
      last_used: r.last_used === null ? null : Number(r.last_used),
      distinct_peers: Number(r.distinct_peers),
      live_tokens: 0,
    })
  for (const r of live) {
    const row = rows.get(key(r)) ?? {
      grant_name: r.grant_name,
      subject: r.subject,
      allowed: 0,
      denied: 0,
      last_used: null,
      distinct_peers: 0,
      live_tokens: 0,
    }
    row.live_tokens = Number(r.live_tokens)
    rows.set(key(r), row)
  }
  return [...rows.values()].sort(
    (a, b) => a.grant_name.localeCompare(b.grant_name) || a.subject.localeCompare(b.subject),
  )
}
