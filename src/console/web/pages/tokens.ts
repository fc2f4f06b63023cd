import { type ApiError, getJson, postJson } from '../api.js'
import { confirmAction } from '../confirm.js'
import { field, h, message, replace, timeEl } from '../dom.js'
import { filterHref } from '../exchange_table.js'
import type { PageContext } from '../page.js'
import type { Revocation } from '../types.js'

const REFRESH_MS = 5000

function revocationRow(r: Revocation): HTMLTableRowElement {
  const what = r.token_id
    ? h('a', { href: filterHref({ token_id: r.token_id }), class: 'mono' }, `token ${r.token_id}`)
    : r.kid
      ? h('span', { class: 'mono' }, `key ${r.kid}`)
      : h('span', {}, `every token of ${r.subject}${r.issuer ? ` (${r.issuer})` : ''}`)
  return h(
    'tr',
    {},
    h('td', {}, what),
    h('td', { class: 'subject' }, r.subject),
    h('td', { class: 'reason' }, r.reason),
    h('td', {}, Number(r.revoked_at) > 0 ? timeEl(Number(r.revoked_at) * 1000) : ''),
    h('td', {}, Number(r.not_after) > 0 ? timeEl(Number(r.not_after) * 1000) : ''),
  )
}

/** Tokens: revoke by token id or subject (with a confirmation step); the live revocations. */
export function tokensPage(ctx: PageContext): void {
  const { main, params } = ctx
  const byToken = h('input', {
    type: 'radio',
    name: 'by',
    value: 'token_id',
    checked: !params.get('subject'),
  })
  const bySubject = h('input', {
    type: 'radio',
    name: 'by',
    value: 'subject',
    checked: Boolean(params.get('subject')),
  })
  const target = h('input', {
    type: 'text',
    name: 'target',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    value: params.get('token_id') ?? params.get('subject') ?? '',
  })
  const result = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const form = h(
    'form',
    { class: 'revoke', 'aria-labelledby': 'revoke-title' },
    h('h2', { id: 'revoke-title' }, 'Revoke'),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Revoke by'),
      h('label', {}, byToken, ' token id'),
      h('label', {}, bySubject, ' subject (every live token of it)'),
    ),
    field('Token id or subject', target),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, 'Revoke…')),
  )
  const tbody = h('tbody')
  const listStatus = h('div', { class: 'status-area', 'aria-live': 'polite' })
  replace(
    main,
    h('h1', {}, 'Tokens'),
    form,
    result,
    h('h2', {}, 'Live revocations'),
    listStatus,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'revocations' },
        h('caption', {}, 'Revocations still in force, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Revoked', 'Subject', 'Reason', 'At', 'Until'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        tbody,
      ),
    ),
  )

  async function loadList(): Promise<void> {
    try {
      const res = await getJson<{ revocations: Revocation[] }>('revocations', { limit: 200 })
      tbody.replaceChildren(...res.revocations.map(revocationRow))
      replace(listStatus, res.revocations.length === 0 ? message('info', 'No live revocations.') : null)
    } catch (err) {
      replace(listStatus, message('error', (err as ApiError).message))
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const value = target.value.trim()
    if (!value) return
    const kind = bySubject.checked ? 'subject' : 'token_id'
    const confirmed = await confirmAction({
      title: kind === 'subject' ? 'Revoke every token of this subject?' : 'Revoke this token?',
      body: `${kind === 'subject' ? 'Subject' : 'Token'} ${value}: tokens already handed out stop working at once, everywhere the broker's revocations reach. This cannot be undone.`,
      confirmLabel: 'Revoke',
      reason: true,
    })
    if (!confirmed) return
    try {
      const res = await postJson<{ revoked: number; token_ids: string[]; exchange_id: string }>('revoke', {
        [kind]: value,
        reason: confirmed.reason,
      })
      replace(result, message('ok', `Revoked ${res.revoked} token(s). Audit row ${res.exchange_id}.`))
      void loadList()
    } catch (err) {
      replace(result, message('error', (err as ApiError).message))
    }
  })
  const timer = window.setInterval(() => void loadList(), REFRESH_MS)
  ctx.onLeave(() => window.clearInterval(timer))
  void loadList()
}
