import type pg from 'pg'
import type { Notifications, NotificationTopic } from '../ports.js'
import type { PgSession } from './session.js'

/** The NOTIFY channels of migration 6, by topic. */
export const CHANNELS: Record<NotificationTopic, string> = {
  revocation: 'kb_revocation',
  append: 'kb_append',
  keys: 'kb_keys',
}
const TOPIC_OF = new Map(
  Object.entries(CHANNELS).map(([topic, channel]) => [channel, topic as NotificationTopic]),
)

/** The listening connection's application_name: operators (and tests) find it in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'keybroker-listen'

const RECONNECT_MIN_MS = 250
const RECONNECT_MAX_MS = 5_000
/** A connection must stay up this long before the backoff starts again from its minimum (no reconnect storm). */
const STABLE_MS = 30_000
/** A listening connection sends nothing on its own: probe it so a silently dead peer is noticed. */
const PROBE_MS = 15_000

export interface PgNotificationsOptions {
  /** Told when the connection goes down or comes back (logs, metrics). */
  onState?: (listening: boolean, error?: Error) => void
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other statements and lose its
 * LISTENs). The connection is opened on the first subscription and reconnected with backoff when
 * it drops; on every (re)connect each listener is woken once, because commits made while nobody
 * was listening are not replayed by PostgreSQL.
 */
export class PgNotifications implements Notifications {
  readonly #session: PgSession
  readonly #options: PgNotificationsOptions
  readonly #listeners = new Map<NotificationTopic, Set<() => void>>()
  #client: pg.Client | undefined
  #listening = false
  #connecting = false
  #closed = false
  #attempt = 0
  #upSince = 0
  #retry: NodeJS.Timeout | undefined
  #probe: NodeJS.Timeout | undefined

  constructor(session: PgSession, options: PgNotificationsOptions = {}) {
    this.#session = session
    this.#options = options
  }

  get listening(): boolean {
    return this.#listening
  }

  on(topic: NotificationTopic, listener: () => void): () => void {
    const set = this.#listeners.get(topic) ?? new Set()
    this.#listeners.set(topic, set)
    set.add(listener)
    if (!this.#client && !this.#connecting && !this.#retry) void this.#connect()
    return () => set.delete(listener)
  }

  /** Let `onState` be set after construction (the storage is opened before the logger is wired). */
  onState(callback: (listening: boolean, error?: Error) => void): void {
    this.#options.onState = callback
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retry)
    clearInterval(this.#probe)
    const client = this.#client
    this.#client = undefined
    this.#listening = false
    await client?.end().catch(() => {})
  }

  async #connect(): Promise<void> {
    if (this.#closed) return
    this.#connecting = true
    this.#retry = undefined
    let client: pg.Client | undefined
    try {
      client = await this.#session.dedicated('listen for notifications', {
        application_name: LISTENER_APPLICATION_NAME,
        // LISTEN itself is instant; no statement here should ever wait long
        statement_timeout: this.#session.target.statementTimeoutMs,
      })
      if (this.#closed) {
        await client.end().catch(() => {})
        return
      }
      const live = client
      live.on('notification', (msg) => {
        const topic = TOPIC_OF.get(msg.channel)
        if (topic) this.#emit(topic)
      })
      live.on('error', (err) => this.#lost(live, err))
      live.on('end', () => this.#lost(live, new Error('the listening connection ended')))
      await live.query(
        Object.values(CHANNELS)
          .map((c) => `LISTEN ${c}`)
          .join('; '),
      )
      this.#client = live
      this.#listening = true
      this.#upSince = Date.now()
      this.#probe = setInterval(() => {
        live.query('SELECT 1').catch((err: Error) => this.#lost(live, err))
      }, PROBE_MS)
      this.#probe.unref()
      this.#options.onState?.(true)
      // anything committed while we were not listening: every listener re-reads once
      for (const topic of this.#listeners.keys()) this.#emit(topic)
    } catch (err) {
      await client?.end().catch(() => {})
      this.#schedule(err as Error)
    } finally {
      this.#connecting = false
    }
  }

  #lost(client: pg.Client, err: Error): void {
    if (client !== this.#client) return
    this.#client = undefined
    this.#listening = false
    clearInterval(this.#probe)
    if (Date.now() - this.#upSince >= STABLE_MS) this.#attempt = 0
    client.end().catch(() => {})
    this.#schedule(err)
  }

  #schedule(err: Error): void {
    if (this.#closed) return
    this.#options.onState?.(false, err)
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#attempt++)
    this.#retry = setTimeout(() => void this.#connect(), delay)
    this.#retry.unref()
  }

  #emit(topic: NotificationTopic): void {
    for (const listener of this.#listeners.get(topic) ?? []) {
      try {
        listener()
      } catch {
        // a listener's failure is its own; the others still run
      }
    }
  }
}
