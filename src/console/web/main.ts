import { ConnectionBanner } from './connection.js'
import { h, message, replace } from './dom.js'
import type { Page, PageContext } from './page.js'
import { alertsPage } from './pages/alerts.js'
import { approvalsPage } from './pages/approvals.js'
import { exchangeDetailPage } from './pages/exchange_detail.js'
import { exchangesPage } from './pages/exchanges.js'
import { integrityPage } from './pages/integrity.js'
import { keysPage } from './pages/keys.js'
import { overviewPage } from './pages/overview.js'
import { tokensPage } from './pages/tokens.js'
import { usagePage } from './pages/usage.js'

/** The navigation (every entry also has a route below). */
const NAV: Array<{ route: string; label: string }> = [
  { route: 'overview', label: 'Overview' },
  { route: 'exchanges', label: 'Exchanges' },
  { route: 'tokens', label: 'Tokens' },
  { route: 'keys', label: 'Keys' },
  { route: 'integrity', label: 'Integrity' },
  { route: 'approvals', label: 'Approvals' },
  { route: 'alerts', label: 'Alerts' },
  { route: 'usage', label: 'Usage' },
]

const ROUTES: Record<string, Page> = {
  overview: overviewPage,
  exchanges: exchangesPage,
  exchange: exchangeDetailPage,
  tokens: tokensPage,
  keys: keysPage,
  integrity: integrityPage,
  approvals: approvalsPage,
  alerts: alertsPage,
  usage: usagePage,
}

const main = document.getElementById('main') as HTMLElement
const nav = document.getElementById('nav') as HTMLElement
const banner = new ConnectionBanner(document.getElementById('banner') as HTMLElement, () => render())
let leave: Array<() => void> = []
let firstRender = true

replace(
  nav,
  h(
    'ul',
    {},
    ...NAV.map((n) => h('li', {}, h('a', { href: `#/${n.route}`, 'data-route': n.route }, n.label))),
  ),
)

function render(): void {
  for (const fn of leave) fn()
  leave = []
  const hash = location.hash.replace(/^#\/?/, '') || 'overview'
  const q = hash.indexOf('?')
  const path = (q < 0 ? hash : hash.slice(0, q)).split('/').map(decodeURIComponent)
  const params = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1))
  const name = path[0] ?? 'overview'
  for (const a of nav.querySelectorAll('a')) {
    const current = a.dataset.route === name || (name === 'exchange' && a.dataset.route === 'exchanges')
    if (current) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  const page = ROUTES[name]
  if (!page) {
    replace(main, h('h1', {}, 'Not found'), message('error', `There is no page "${name}".`))
    return
  }
  const ctx: PageContext = { main, params, rest: path.slice(1), banner, onLeave: (fn) => leave.push(fn) }
  document.title = `keybroker console — ${NAV.find((n) => n.route === name)?.label ?? 'Exchange'}`
  Promise.resolve(page(ctx)).catch((err: unknown) => {
    // a bug in a page must not leave a blank screen
    replace(main, h('h1', {}, 'Something went wrong'), message('error', String(err)))
  })
  // on navigation, move focus to the new content (screen readers announce it); not on first load,
  // where the skip link must stay first in the tab order
  if (!firstRender) main.focus({ preventScroll: true })
  firstRender = false
}

window.addEventListener('hashchange', render)
render()
