import { getJson, onApiFailure } from './api.js'
import { replace } from './dom.js'

const PING_MS = 2000

/**
 * The banner that says the broker (or the console server) went away, and the loop that waits for
 * it to come back. The page keeps what it showed; once the broker answers again `onRecovered` runs
 * (the router redraws the current page).
 */
export class ConnectionBanner {
  #down = false
  #timer: number | undefined

  constructor(
    private readonly el: HTMLElement,
    private readonly onRecovered: () => void,
  ) {
    onApiFailure((err) => {
      if (err.brokerDown || err.status === 0) this.down(err.message)
    })
  }

  get isDown(): boolean {
    return this.#down
  }

  /** Show the banner and start pinging. */
  down(reason: string): void {
    replace(this.el, `Broker unreachable — ${reason}. Showing the last data received; reconnecting…`)
    this.el.hidden = false
    if (this.#down) return
    this.#down = true
    this.#schedule()
  }

  /** The broker answered (a ping, or the live tail reconnected). */
  up(): void {
    if (!this.#down) return
    this.#down = false
    window.clearTimeout(this.#timer)
    replace(this.el, 'Broker reachable again.')
    this.el.classList.add('recovered')
    window.setTimeout(() => {
      if (this.#down) return
      this.el.hidden = true
      this.el.classList.remove('recovered')
    }, 3000)
    this.onRecovered()
  }

  #schedule(): void {
    this.#timer = window.setTimeout(async () => {
      try {
        await getJson('ping')
        this.up()
      } catch {
        if (this.#down) this.#schedule()
      }
    }, PING_MS)
  }
}
