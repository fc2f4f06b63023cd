import { h, timeEl } from './dom.js'
import type { Exchange } from './types.js'

/** Link to one exchange's detail page. */
export function detailHref(row: Pick<Exchange, 'id' | 'ts_ms'>): string {
  return `#/exchange/${encodeURIComponent(row.id)}?ts=${row.ts_ms}`
}

/** Link to the exchanges page with a filter. */
export function filterHref(params: Record<string, string>): string {
  return `#/exchanges?${new URLSearchParams(params).toString()}`
}

function target(row: Exchange): string {
  return row.route ? `route ${row.route}` : row.secret_name ? `secret ${row.secret_name}` : row.audience
}

/** One table row; every value is text. */
export function exchangeRow(row: Exchange): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-id': row.id, class: `d-${row.decision}` },
    h(
      'td',
      {},
      h('a', { href: detailHref(row), 'aria-label': `exchange ${row.id}` }, timeEl(Number(row.ts_ms))),
    ),
    h('td', {}, row.kind),
    h('td', {}, h('span', { class: `badge d-${row.decision}` }, row.decision)),
    h('td', { class: 'subject' }, row.subject),
    h('td', {}, target(row)),
    h('td', { class: 'reason' }, row.reason),
    h(
      'td',
      { class: 'mono' },
      row.token_id ? h('a', { href: filterHref({ token_id: row.token_id }) }, row.token_id) : '',
    ),
  )
}

/** A table of exchanges with its header; rows go into the returned tbody. */
export function exchangeTable(
  caption: string,
  rows: Exchange[],
): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h('tbody', {}, ...rows.map(exchangeRow))
  const table = h(
    'table',
    { class: 'exchanges' },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Time', 'Kind', 'Decision', 'Subject', 'Audience / route', 'Reason', 'Token id'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    body,
  )
  return { table, body }
}
