import type { StoredExchange } from '../audit/index.js'
import { displayTime } from './display_time.js'
import { terminalSafe } from './exchange_output.js'

/** Every field of one row, one per line (`keybroker audit show <id>`); empty fields show as `-`. */
export function renderExchange(row: StoredExchange, utc: boolean): string {
  const fields: Array<[string, unknown]> = [
    ['id', row.id],
    ['time', `${displayTime(row.ts, utc)} (${row.ts} ms)`],
    ['kind', row.kind],
    ['decision', row.decision],
    ['reason', row.reason],
    ['subject', row.subject],
    ['auth_method', row.auth_method],
    ['issuer', row.issuer],
    ['peer', row.peer],
    ['cert_thumbprint', row.cert_thumbprint],
    ['audience', row.audience],
    ['scopes', row.scopes],
    ['ttl', row.ttl],
    ['secret_name', row.secret_name],
    ['route', row.route],
    ['token_id', row.token_id],
    [
      'expires_at',
      row.expires_at === null ? null : `${displayTime(row.expires_at * 1000, utc)} (${row.expires_at})`,
    ],
    ['latency_us', row.latency_us],
    ['grant_name', row.grant_name],
    ['run_id', row.run_id],
    ['tool_call_id', row.tool_call_id],
    ['approval_id', row.approval_id],
    ['trace_id', row.trace_id],
    ['node_id', row.node_id],
    ['seq', row.seq],
    ['prev_hash', row.prev_hash],
    ['hash', row.hash],
  ]
  const width = Math.max(...fields.map(([k]) => k.length))
  const lines = fields.map(
    ([key, value]) =>
      `${key.padEnd(width)}  ${value === null || value === undefined || value === '' ? '-' : terminalSafe(String(value))}`,
  )
  const detail = row.detail ? JSON.stringify(row.detail, null, 2).split('\n') : ['-']
  lines.push(`${'detail'.padEnd(width)}  ${terminalSafe(detail[0]!)}`)
  for (const more of detail.slice(1)) lines.push(`${' '.repeat(width + 2)}${terminalSafe(more)}`)
  return `${lines.join('\n')}\n`
}
