import { type ApiError, getJson } from '../api.js'
import { h, message, replace, timeEl } from '../dom.js'
import { detailHref, exchangeTable, filterHref } from '../exchange_table.js'
import type { PageContext } from '../page.js'
import type { Exchange } from '../types.js'

interface Detail {
  exchange: Exchange
  same_token: Exchange[]
  parent_token_id: string
  parent_rows: Exchange[]
  children: Exchange[]
  children_complete: boolean
}

const TIME_FIELDS = new Set(['ts_ms'])
const UNIX_SECONDS = new Set(['expires_at'])

function value(key: string, v: unknown): Node | string {
  if (TIME_FIELDS.has(key))
    return h('span', {}, timeEl(Number(v)), ` (UTC ${new Date(Number(v)).toISOString()})`)
  if (UNIX_SECONDS.has(key) && Number(v) > 0) return timeEl(Number(v) * 1000)
  return String(v ?? '')
}

function detailJson(text: string): Node {
  try {
    return h('pre', { class: 'json' }, JSON.stringify(JSON.parse(text || '{}'), null, 2))
  } catch {
    return h('pre', { class: 'json' }, text)
  }
}

/** One exchange: every field, its place in the hash chain, related rows. */
export async function exchangeDetailPage(ctx: PageContext): Promise<void> {
  const { main, params, rest } = ctx
  const id = rest[0] ?? ''
  replace(main, h('h1', {}, 'Exchange'), message('info', 'Loading…'))
  let d: Detail
  try {
    d = await getJson<Detail>('exchange', { id, ts: params.get('ts') ?? '' })
  } catch (err) {
    replace(main, h('h1', {}, 'Exchange'), message('error', (err as ApiError).message))
    return
  }
  const x = d.exchange
  const fields = Object.entries(x).filter(
    ([k]) => !['detail', 'prev_hash', 'hash', 'seq', 'node_id', 'cursor'].includes(k),
  )
  const parentRow = d.parent_rows.find(
    (r) => r.decision === 'allow' && (r.kind === 'issue' || r.kind === 'delegate'),
  )
  replace(
    main,
    h('h1', {}, 'Exchange ', h('span', { class: 'mono' }, x.id)),
    h(
      'p',
      { class: 'summary' },
      h('span', { class: `badge d-${x.decision}` }, x.decision),
      ` ${x.kind} by `,
      h('strong', {}, x.subject || '(unauthenticated)'),
      ' at ',
      timeEl(Number(x.ts_ms)),
    ),
    x.token_id
      ? h(
          'p',
          {},
          h(
            'a',
            { href: `#/tokens?token_id=${encodeURIComponent(x.token_id)}`, class: 'button danger' },
            'Revoke this token…',
          ),
        )
      : null,
    h('h2', {}, 'Fields'),
    h('dl', { class: 'fields' }, ...fields.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, value(k, v))])),
    h('h3', {}, 'detail'),
    detailJson(x.detail),
    h('h2', {}, 'Place in the hash chain'),
    h(
      'dl',
      { class: 'fields mono' },
      h('dt', {}, 'node_id (chain)'),
      h('dd', {}, x.node_id),
      h('dt', {}, 'seq (position)'),
      h('dd', {}, String(x.seq)),
      h('dt', {}, 'prev_hash'),
      h('dd', {}, x.prev_hash),
      h('dt', {}, 'hash'),
      h('dd', {}, x.hash),
    ),
    h('h2', {}, 'Related'),
    x.token_id
      ? h(
          'p',
          {},
          h('a', { href: filterHref({ token_id: x.token_id }) }, `Every exchange of token ${x.token_id}`),
        )
      : h('p', {}, 'No token id on this exchange.'),
    d.same_token.length > 0 ? exchangeTable('Same token id', d.same_token).table : null,
    d.parent_token_id
      ? h(
          'p',
          {},
          'Delegated from token ',
          parentRow
            ? h('a', { href: detailHref(parentRow), class: 'mono' }, d.parent_token_id)
            : h('a', { href: filterHref({ token_id: d.parent_token_id }), class: 'mono' }, d.parent_token_id),
        )
      : null,
    d.children.length > 0 ? exchangeTable('Delegated children', d.children).table : null,
    d.children_complete
      ? null
      : message('info', 'Only the first pages of later delegations were searched for children.'),
  )
}
