import { type ApiError, getJson, postJson } from '../api.js'
import { confirmAction } from '../confirm.js'
import { h, message, replace, timeEl } from '../dom.js'
import type { PageContext } from '../page.js'
import type { Approval } from '../types.js'

/** Approvals: requests waiting for a person, approve or deny with a reason. */
export function approvalsPage(ctx: PageContext): void {
  const { main } = ctx
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const tbody = h('tbody')
  replace(
    main,
    h('h1', {}, 'Approvals'),
    status,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', {}, 'Approvals, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['State', 'Subject', 'Request', 'Expires', ''].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        tbody,
      ),
    ),
  )
  async function decide(a: Approval, approve: boolean): Promise<void> {
    const ok = await confirmAction({
      title: `${approve ? 'Approve' : 'Deny'} this request?`,
      body: `${a.subject}: ${a.kind === 'issue' ? `token for ${a.audience}` : `secret ${a.secret_name}`}.`,
      confirmLabel: approve ? 'Approve' : 'Deny',
      reason: true,
    })
    if (!ok) return
    try {
      await postJson('approvals/decide', { approval_id: a.id, approve, reason: ok.reason })
      replace(status, message('ok', `${approve ? 'Approved' : 'Denied'} ${a.id}.`))
      await load()
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }
  async function load(): Promise<void> {
    try {
      const res = await getJson<{ approvals: Approval[] }>('approvals', { limit: 100 })
      tbody.replaceChildren(
        ...res.approvals.map((a) => {
          const actions = h('td')
          if (a.state === 'pending') {
            const yes = h('button', { type: 'button', class: 'small' }, 'Approve…')
            const no = h('button', { type: 'button', class: 'small danger' }, 'Deny…')
            yes.addEventListener('click', () => void decide(a, true))
            no.addEventListener('click', () => void decide(a, false))
            actions.append(yes, ' ', no)
          }
          return h(
            'tr',
            {},
            h('td', {}, a.state),
            h('td', { class: 'subject' }, a.subject),
            h(
              'td',
              {},
              a.kind === 'issue' ? `${a.audience} [${a.scopes.join(' ')}]` : `secret ${a.secret_name}`,
            ),
            h('td', {}, timeEl(Number(a.expires_at) * 1000)),
            actions,
          )
        }),
      )
      replace(status, res.approvals.length === 0 ? message('info', 'No approvals.') : null)
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }
  void load()
}
