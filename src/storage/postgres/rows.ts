import type { ExchangeRow } from '../ports.js'

/**
 * The one mapping between `exchanges` columns and ExchangeRow. Column names equal the row's
 * field names; `pgType` is the array type used to send a batch through unnest().
 */
const COLUMNS = [
  ['node_id', 'text'],
  ['seq', 'int8'],
  ['form', 'int2'],
  ['id', 'text'],
  ['ts', 'int8'],
  ['kind', 'text'],
  ['subject', 'text'],
  ['auth_method', 'text'],
  ['issuer', 'text'],
  ['peer', 'text'],
  ['cert_thumbprint', 'text'],
  ['audience', 'text'],
  ['scopes', 'text'],
  ['ttl', 'int8'],
  ['secret_name', 'text'],
  ['route', 'text'],
  ['decision', 'text'],
  ['reason', 'text'],
  ['token_id', 'text'],
  ['expires_at', 'int8'],
  ['latency_us', 'int8'],
  ['detail', 'text'],
  ['run_id', 'text'],
  ['tool_call_id', 'text'],
  ['approval_id', 'text'],
  ['trace_id', 'text'],
  ['grant_name', 'text'],
  ['prev_hash', 'text'],
  ['hash', 'text'],
] as const satisfies ReadonlyArray<readonly [keyof ExchangeRow, string]>

type Column = (typeof COLUMNS)[number][0]

/** Every column except node_id (a commit sends it once, not per row). */
const BATCH_COLUMNS = COLUMNS.filter(([name]) => name !== 'node_id')

/** `node_id, seq, …, hash` — the select list, optionally qualified by a table alias. */
export function selectList(alias?: string): string {
  return COLUMNS.map(([name]) => (alias ? `${alias}.${name}` : name)).join(', ')
}

/** The column list of an INSERT of a batch (node_id first, then the unnest columns). */
export const INSERT_COLUMNS = COLUMNS.map(([name]) => name).join(', ')

/**
 * `unnest($first::int8[], $first+1::int2[], …) AS u(seq, form, …)`: the batch as a relation,
 * one array parameter per column.
 */
export function unnestBatch(first: number): string {
  const arrays = BATCH_COLUMNS.map(([, type], i) => `$${first + i}::${type}[]`).join(', ')
  return `unnest(${arrays}) AS u(${BATCH_COLUMNS.map(([name]) => name).join(', ')})`
}

export const BATCH_COLUMN_NAMES = BATCH_COLUMNS.map(([name]) => `u.${name}`).join(', ')

/** The batch's column arrays, in unnestBatch order. */
export function batchArrays(rows: readonly ExchangeRow[]): unknown[][] {
  return BATCH_COLUMNS.map(([name]) => rows.map((row) => row[name as Column]))
}

/** A row as pg returns it (BIGINT already a number, see connection.ts) → ExchangeRow. */
export function toExchangeRow(r: Record<string, unknown>): ExchangeRow {
  return {
    node_id: r.node_id as string,
    seq: r.seq as number,
    form: r.form as number,
    id: r.id as string,
    ts: r.ts as number,
    kind: r.kind as ExchangeRow['kind'],
    subject: r.subject as string | null,
    auth_method: r.auth_method as string | null,
    issuer: r.issuer as string | null,
    peer: r.peer as string | null,
    cert_thumbprint: r.cert_thumbprint as string | null,
    audience: r.audience as string | null,
    scopes: r.scopes as string | null,
    ttl: r.ttl as number | null,
    secret_name: r.secret_name as string | null,
    route: r.route as string | null,
    decision: r.decision as ExchangeRow['decision'],
    reason: r.reason as string | null,
    token_id: r.token_id as string | null,
    expires_at: r.expires_at as number | null,
    latency_us: r.latency_us as number | null,
    detail: r.detail as string | null,
    run_id: r.run_id as string | null,
    tool_call_id: r.tool_call_id as string | null,
    approval_id: r.approval_id as string | null,
    trace_id: r.trace_id as string | null,
    grant_name: r.grant_name as string | null,
    prev_hash: r.prev_hash as string,
    hash: r.hash as string,
  }
}
