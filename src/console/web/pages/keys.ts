import { type ApiError, getJson, postJson } from '../api.js'
import { confirmAction } from '../confirm.js'
import { age, h, message, replace, timeEl } from '../dom.js'
import type { PageContext } from '../page.js'
import type { SigningKey } from '../types.js'

/** Keys: published signing keys with age and state; rotate; retire a compromised one. */
export function keysPage(ctx: PageContext): void {
  const { main } = ctx
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const tbody = h('tbody')
  const rotate = h('button', { type: 'button' }, 'Rotate…')
  replace(
    main,
    h('h1', {}, 'Signing keys'),
    h('div', { class: 'toolbar' }, rotate),
    status,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'keys' },
        h('caption', {}, 'Published keys'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Key id', 'Algorithm', 'State', 'Age', 'Signs from', 'Retired', ''].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        tbody,
      ),
    ),
  )

  async function load(): Promise<void> {
    try {
      const res = await getJson<{ keys: SigningKey[] }>('keys')
      const now = Date.now() / 1000
      tbody.replaceChildren(
        ...res.keys.map((k) => {
          const retire = h(
            'button',
            { type: 'button', class: 'danger small', 'aria-label': `Retire key ${k.kid}` },
            'Retire…',
          )
          retire.addEventListener('click', () => void retireKey(k.kid))
          return h(
            'tr',
            { 'data-kid': k.kid },
            h('td', { class: 'mono' }, k.kid),
            h('td', {}, k.alg),
            h('td', {}, h('span', { class: `badge k-${k.state}` }, k.state)),
            h('td', {}, age(now - Number(k.created_at))),
            h('td', {}, timeEl(Number(k.activates_at) * 1000)),
            h('td', {}, Number(k.retired_at) > 0 ? timeEl(Number(k.retired_at) * 1000) : ''),
            h('td', {}, k.state === 'retired' ? '' : retire),
          )
        }),
      )
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }

  async function retireKey(kid: string): Promise<void> {
    const ok = await confirmAction({
      title: `Retire key ${kid}?`,
      body: 'Only for a compromised key: it stops signing, leaves the JWKS, and every token it signed is refused at once.',
      confirmLabel: 'Retire key',
      reason: true,
    })
    if (!ok) return
    try {
      const res = await postJson<{ kid: string; exchange_id: string }>('keys/retire', {
        kid,
        reason: ok.reason,
      })
      replace(status, message('ok', `Key ${res.kid} retired. Audit row ${res.exchange_id}.`))
      await load()
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }

  rotate.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: 'Rotate the signing key?',
      body: 'A new key is published now and signs after the configured publish-ahead; older keys stay published until their tokens expire.',
      confirmLabel: 'Rotate',
    })
    if (!ok) return
    try {
      const res = await postJson<{ new_kid: string; activates_at: number }>('keys/rotate')
      replace(
        status,
        message(
          'ok',
          `New key ${res.new_kid} published; signs from ${new Date(Number(res.activates_at) * 1000).toLocaleString()}.`,
        ),
      )
      await load()
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  })
  void load()
}
