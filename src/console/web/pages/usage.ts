import { type ApiError, getJson } from '../api.js'
import { age, field, h, message, replace, timeEl } from '../dom.js'
import { filterHref } from '../exchange_table.js'
import type { PageContext } from '../page.js'
import type { UnusedItem, Usage, UsageRow } from '../types.js'

/** Windows the broker's duration parser takes (GetUsage `since`, `unused_for`). */
const SINCE: ReadonlyArray<[string, string]> = [
  ['1h', 'last hour'],
  ['24h', 'last 24 hours'],
  ['7d', 'last 7 days'],
  ['30d', 'last 30 days'],
  ['90d', 'last 90 days'],
]
const UNUSED_FOR: ReadonlyArray<[string, string]> = [
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['180d', '180 days'],
]
const DEFAULT_SINCE = '30d'
const DEFAULT_UNUSED = '90d'

function choose(name: string, options: ReadonlyArray<[string, string]>, current: string) {
  return h(
    'select',
    { name },
    ...options.map(([value, label]) => h('option', { value, selected: value === current }, label)),
  )
}

function lastUsed(seconds: number): HTMLElement | string {
  return Number(seconds) > 0 ? timeEl(Number(seconds) * 1000) : 'never'
}

function usageRow(r: UsageRow): HTMLTableRowElement {
  return h(
    'tr',
    {},
    r.grant_name ? h('td', {}, r.grant_name) : h('td', { title: 'refused before any grant matched' }, '—'),
    h('td', { class: 'subject' }, h('a', { href: filterHref({ subject: r.subject }) }, r.subject)),
    h('td', { class: 'num' }, r.allowed),
    h('td', { class: 'num' }, r.denied),
    h('td', {}, lastUsed(r.last_used)),
    h('td', { class: 'num' }, r.distinct_peers),
    h('td', { class: 'num' }, r.live_tokens),
  )
}

function unusedRow(u: UnusedItem, now: number): HTMLTableRowElement {
  return h(
    'tr',
    {},
    h('td', {}, u.kind),
    h('td', { class: 'mono' }, u.name),
    h('td', {}, lastUsed(u.last_used)),
    h('td', {}, Number(u.last_used) > 0 ? age(now - Number(u.last_used)) : 'not in the log'),
  )
}

function table(cls: string, caption: string, columns: string[], tbody: HTMLElement): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: cls },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))),
      tbody,
    ),
  )
}

/**
 * Usage: exchanges per grant and subject over a window, and the grants and secrets nobody used
 * for a while (cleanup candidates). Both selects live in the address, so a view can be shared.
 */
export function usagePage(ctx: PageContext): void {
  const { main, params } = ctx
  const since = params.get('since') || DEFAULT_SINCE
  const unusedFor = params.get('unused_for') || DEFAULT_UNUSED
  const sinceSelect = choose('since', SINCE, since)
  const unusedSelect = choose('unused_for', UNUSED_FOR, unusedFor)
  const navigate = () => {
    const q = new URLSearchParams({ since: sinceSelect.value, unused_for: unusedSelect.value })
    location.hash = `#/usage?${q.toString()}`
  }
  sinceSelect.addEventListener('change', navigate)
  unusedSelect.addEventListener('change', navigate)
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const counted = h('p', { class: 'since' })
  const rows = h('tbody')
  const unused = h('tbody')
  const unusedStatus = h('div', { class: 'status-area', 'aria-live': 'polite' })
  replace(
    main,
    h('h1', {}, 'Usage'),
    h('div', { class: 'toolbar' }, field('Window', sinceSelect), field('Unused for', unusedSelect)),
    status,
    h('h2', {}, 'By grant and subject'),
    counted,
    table(
      'usage',
      'Exchanges per grant and subject in the window',
      ['Grant', 'Subject', 'Allowed', 'Denied', 'Last used', 'Distinct peers', 'Live tokens'],
      rows,
    ),
    h('h2', {}, 'Unused grants and secrets'),
    unusedStatus,
    table(
      'unused',
      `No allowed exchange for ${UNUSED_FOR.find(([v]) => v === unusedFor)?.[1] ?? unusedFor}`,
      ['Kind', 'Name', 'Last used', 'Idle for'],
      unused,
    ),
  )

  async function load(): Promise<void> {
    try {
      const res = await getJson<Usage>('usage', { since, unused_for: unusedFor })
      const now = Date.now() / 1000
      replace(counted, 'Counted from ', timeEl(Number(res.since) * 1000), '.')
      rows.replaceChildren(...res.rows.map(usageRow))
      unused.replaceChildren(...res.unused.map((u) => unusedRow(u, now)))
      replace(status, res.rows.length === 0 ? message('info', 'No exchanges in this window.') : null)
      replace(
        unusedStatus,
        res.unused.length === 0 ? message('ok', 'Every grant and secret was used in this period.') : null,
      )
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }
  void load()
}
