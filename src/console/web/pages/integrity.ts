import { type ApiError, postJson } from '../api.js'
import { h, message, replace } from '../dom.js'
import type { PageContext } from '../page.js'

interface Verify {
  ok: boolean
  rows_checked: number
  first_bad_seq: number
  first_bad_id: string
  first_bad_node_id: string
  problem: string
}

/** Integrity: run VerifyAuditLog (the whole hash chain, on the broker) and show the result. */
export function integrityPage(ctx: PageContext): void {
  const { main } = ctx
  const result = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const run = h('button', { type: 'button' }, 'Verify the audit log')
  replace(
    main,
    h('h1', {}, 'Integrity'),
    h(
      'p',
      {},
      'Recomputes every row hash of every chain on the broker and checks each link to the row before it.',
    ),
    h('div', { class: 'toolbar' }, run),
    result,
  )
  run.addEventListener('click', async () => {
    run.disabled = true
    replace(result, message('info', 'Verifying…'))
    try {
      const v = await postJson<Verify>('verify')
      replace(
        result,
        v.ok
          ? message('ok', `Intact: ${v.rows_checked} rows checked, every hash and link verified.`)
          : h(
              'div',
              {},
              message('error', `Broken: ${v.problem}`),
              h(
                'dl',
                { class: 'fields mono' },
                h('dt', {}, 'rows checked'),
                h('dd', {}, String(v.rows_checked)),
                h('dt', {}, 'first bad chain'),
                h('dd', {}, v.first_bad_node_id),
                h('dt', {}, 'first bad seq'),
                h('dd', {}, String(v.first_bad_seq)),
                h('dt', {}, 'first bad id'),
                h('dd', {}, v.first_bad_id),
              ),
            ),
      )
    } catch (err) {
      replace(result, message('error', (err as ApiError).message))
    } finally {
      run.disabled = false
    }
  })
}
