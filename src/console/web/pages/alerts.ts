import { type ApiError, getJson } from '../api.js'
import { field, h, message, replace, timeEl } from '../dom.js'
import { filterHref } from '../exchange_table.js'
import type { PageContext } from '../page.js'
import type { Alert } from '../types.js'

const REFRESH_MS = 5000
/** The broker's delivery states (src/server/report_service.ts); '' = all. */
const STATES = ['', 'pending', 'delivered', 'failed', 'recorded'] as const

function delivery(a: Alert): HTMLElement {
  const cell = h('td', {}, h('span', { class: `badge a-${a.state}` }, a.state))
  if (a.state === 'delivered' && Number(a.delivered_at) > 0)
    cell.append(' ', timeEl(Number(a.delivered_at) * 1000))
  // the sink's own error text (a status line, a refused connection) explains a retry or a give-up
  if (a.last_error) cell.append(h('div', { class: 'reason' }, a.last_error))
  return cell
}

function alertRow(a: Alert): HTMLTableRowElement {
  const rows = a.exchange_ids.length
  return h(
    'tr',
    { 'data-id': a.id },
    h('td', {}, timeEl(Number(a.created_at) * 1000)),
    h('td', {}, a.rule),
    h(
      'td',
      { class: 'subject' },
      a.subject ? h('a', { href: filterHref({ subject: a.subject }) }, a.subject) : '',
    ),
    h('td', { class: 'reason' }, a.summary),
    h('td', {}, a.sink || '—'),
    delivery(a),
    h('td', { class: 'num' }, a.attempts),
    h('td', {}, rows > 0 ? `${rows} exchange${rows === 1 ? '' : 's'}` : ''),
  )
}

/** Alerts: what the rules raised, newest first, with each sink's delivery state; refreshes itself. */
export function alertsPage(ctx: PageContext): void {
  const { main, params } = ctx
  const current = params.get('state') ?? ''
  const select = h(
    'select',
    { name: 'state' },
    ...STATES.map((s) => h('option', { value: s, selected: s === current }, s || 'any')),
  )
  select.addEventListener('change', () => {
    location.hash = select.value ? `#/alerts?state=${encodeURIComponent(select.value)}` : '#/alerts'
  })
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const tbody = h('tbody')
  replace(
    main,
    h('h1', {}, 'Alerts'),
    h('div', { class: 'toolbar' }, field('Delivery state', select)),
    status,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'alerts' },
        h('caption', {}, 'Alerts, newest first (one row per alert and sink)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Raised', 'Rule', 'Subject', 'Summary', 'Sink', 'Delivery', 'Attempts', 'Evidence'].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        tbody,
      ),
    ),
  )

  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  ctx.onLeave(() => {
    stopped = true
    clearTimeout(timer)
  })
  async function load(): Promise<void> {
    try {
      const res = await getJson<{ alerts: Alert[] }>('alerts', { state: current, limit: 200 })
      if (stopped) return
      tbody.replaceChildren(...res.alerts.map(alertRow))
      replace(
        status,
        res.alerts.length === 0
          ? message('info', current ? `No ${current} alerts.` : 'No alerts have been raised.')
          : null,
      )
    } catch (err) {
      if (!stopped) replace(status, message('error', (err as ApiError).message))
    }
    // delivery states move on their own (retries, give-ups): keep the table current
    if (!stopped) timer = setTimeout(() => void load(), REFRESH_MS)
  }
  void load()
}
