import type { ConnectionBanner } from './connection.js'

/** What the router hands a page. */
export interface PageContext {
  main: HTMLElement
  /** The hash's query (#/exchanges?subject=…). */
  params: URLSearchParams
  /** The hash's path after the page name (#/exchange/<id> → [id]). */
  rest: string[]
  banner: ConnectionBanner
  /** Run when the page is left (close streams, stop timers). */
  onLeave(fn: () => void): void
}

export type Page = (ctx: PageContext) => void | Promise<void>
