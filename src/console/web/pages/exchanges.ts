import { type ApiError, getJson } from '../api.js'
import { field, h, message, replace } from '../dom.js'
import { exchangeRow, exchangeTable } from '../exchange_table.js'
import type { PageContext } from '../page.js'
import { DECISIONS, type Exchange, KINDS, type Page } from '../types.js'

const TEXT_FILTERS: Array<[string, string]> = [
  ['subject', 'Subject (ends with * for a prefix)'],
  ['audience', 'Audience'],
  ['route', 'Route'],
  ['token_id', 'Token id'],
  ['run_id', 'Run id'],
]
const PAGE_SIZE = 50
const MAX_LIVE_ROWS = 500

/** ISO (UTC) → the value a datetime-local input shows (the browser's zone). */
function toLocalInput(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const off = d.getTimezoneOffset() * 60_000
  return new Date(d.getTime() - off).toISOString().slice(0, 19)
}

function select(name: string, options: readonly string[], value: string): HTMLSelectElement {
  return h(
    'select',
    { name },
    h('option', { value: '' }, 'any'),
    ...options.map((o) => h('option', { value: o, selected: o === value }, o)),
  )
}

/** The exchanges page: filters, pages of ListExchanges, and a live tail over SSE. */
export function exchangesPage(ctx: PageContext): void {
  const { main, params, banner } = ctx
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const since = h('input', {
    type: 'datetime-local',
    name: 'since',
    step: 1,
    value: toLocalInput(params.get('since') ?? ''),
  })
  const until = h('input', {
    type: 'datetime-local',
    name: 'until',
    step: 1,
    value: toLocalInput(params.get('until') ?? ''),
  })
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter exchanges' },
    field('From', since),
    field('To', until),
    ...TEXT_FILTERS.map(([name, label]) =>
      field(
        label,
        h('input', {
          type: 'text',
          name,
          value: params.get(name) ?? '',
          autocomplete: 'off',
          spellcheck: 'false',
        }),
      ),
    ),
    field('Kind', select('kind', KINDS, params.get('kind') ?? '')),
    field('Decision', select('decision', DECISIONS, params.get('decision') ?? '')),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/exchanges', class: 'button secondary' }, 'Clear'),
    ),
  )
  const live = h('input', { type: 'checkbox', id: 'live-toggle' })
  const liveState = h('span', { class: 'live-state', 'aria-live': 'polite' })
  const { table, body } = exchangeTable('Exchanges, newest first', [])
  const newer = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Newer')
  const older = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Older →')
  replace(
    main,
    h('h1', {}, 'Exchanges'),
    form,
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'live-toggle', class: 'toggle' }, live, ' Live (new rows as they happen)'),
      liveState,
    ),
    status,
    h('div', { class: 'table-wrap' }, table),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, newer, older),
  )

  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const data = new FormData(form)
    const next = new URLSearchParams()
    for (const [k, v] of data) {
      const value = String(v).trim()
      if (!value) continue
      // the inputs show the browser's zone; the API gets UTC
      next.set(k, k === 'since' || k === 'until' ? new Date(value).toISOString() : value)
    }
    const s = next.get('since')
    const u = next.get('until')
    if (s && u && Date.parse(s) >= Date.parse(u)) {
      replace(status, message('error', 'The time range is empty: "From" must be before "To".'))
      return
    }
    const target = `#/exchanges?${next.toString()}`
    // the same filters again: reload them (no hashchange would fire)
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'))
    else location.hash = target
  })

  // pages: tokens of the pages seen so far (index 0 = newest)
  const tokens: string[] = ['']
  let index = 0
  let nextToken = ''
  const filter: Record<string, string> = {}
  for (const [k, v] of params) filter[k] = v

  async function load(): Promise<void> {
    replace(status, message('info', 'Loading…'))
    try {
      const page = await getJson<Page>('exchanges', {
        ...filter,
        limit: PAGE_SIZE,
        page_token: tokens[index],
      })
      body.replaceChildren(...page.exchanges.map(exchangeRow))
      nextToken = page.next_page_token
      newer.disabled = index === 0
      older.disabled = !nextToken
      replace(
        status,
        page.exchanges.length === 0 ? message('info', 'No exchanges match these filters.') : null,
      )
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }
  newer.addEventListener('click', () => {
    if (index === 0) return
    index--
    void load()
  })
  older.addEventListener('click', () => {
    if (!nextToken) return
    tokens[++index] = nextToken
    void load()
  })

  let source: EventSource | undefined
  const stopLive = () => {
    source?.close()
    source = undefined
    replace(liveState, '')
  }
  live.addEventListener('change', () => {
    if (!live.checked) return stopLive()
    const q = new URLSearchParams(filter)
    q.delete('since')
    q.delete('until')
    source = new EventSource(`/api/live?${q.toString()}`)
    replace(liveState, 'connecting…')
    source.addEventListener('exchange', (ev) => {
      const row = JSON.parse((ev as MessageEvent<string>).data) as Exchange
      if (index !== 0 || body.querySelector(`tr[data-id="${CSS.escape(row.id)}"]`)) return
      const tr = exchangeRow(row)
      tr.classList.add('new')
      body.prepend(tr)
      while (body.rows.length > MAX_LIVE_ROWS) body.deleteRow(-1)
      replace(status, null)
    })
    source.addEventListener('broker', (ev) => {
      const state = JSON.parse((ev as MessageEvent<string>).data) as { up: boolean; message: string }
      if (state.up) {
        replace(liveState, 'live')
        banner.up()
      } else {
        replace(liveState, 'waiting for the broker…')
        banner.down(state.message)
      }
    })
    source.addEventListener('failed', (ev) => {
      const state = JSON.parse((ev as MessageEvent<string>).data) as { message: string }
      replace(status, message('error', `Live view stopped: ${state.message}`))
      live.checked = false
      stopLive()
    })
    source.addEventListener('error', () => {
      // the console server itself went away; EventSource retries on its own
      if (source?.readyState !== EventSource.OPEN) replace(liveState, 'reconnecting…')
    })
  })
  ctx.onLeave(stopLive)
  void load()
}
