import { field, h } from './dom.js'

export interface ConfirmOptions {
  title: string
  body: string
  confirmLabel: string
  /** Ask for a reason (recorded in the audit row). */
  reason?: boolean
}

/**
 * A modal confirmation step (<dialog>: focus moves into it, Escape cancels). Resolves with the
 * reason typed, or undefined when cancelled.
 */
export function confirmAction(options: ConfirmOptions): Promise<{ reason: string } | undefined> {
  return new Promise((resolve) => {
    const reason = h('input', { type: 'text', name: 'reason', maxlength: 500, autocomplete: 'off' })
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, options.title),
        h('p', {}, options.body),
        options.reason ? field('Reason (recorded in the audit log)', reason) : null,
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', value: 'cancel', class: 'secondary' }, 'Cancel'),
          h('button', { type: 'submit', value: 'confirm', class: 'danger' }, options.confirmLabel),
        ),
      ),
    )
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'confirm'
      dialog.remove()
      resolve(ok ? { reason: reason.value.trim() } : undefined)
    })
    document.body.append(dialog)
    dialog.showModal()
    ;(options.reason ? reason : dialog.querySelector<HTMLButtonElement>('button.secondary'))?.focus()
  })
}
