import type { ClientBase, ClientConfig, PoolClient, QueryResultRow } from 'pg'
import pg from 'pg'
import { StorageError } from '../ports.js'
import type { PgTarget } from './connection.js'
import { DeadlineExceeded, isConnectionFailure, toStorageError } from './errors.js'

/** Runs one statement on the connection a call holds; every statement is bounded by the call's deadline. */
export type Run = <R extends QueryResultRow = QueryResultRow>(
  text: string,
  values?: unknown[],
  name?: string,
) => Promise<R[]>

export interface CallOptions {
  /** Client-side bound for the whole call (waiting for a connection included). */
  timeoutMs?: number
  /** A write: a connection lost after sending leaves the outcome unknown. */
  write?: boolean
}

const noop = (): void => {}

/**
 * The pool and the rules every call follows: a deadline measured here (statement_timeout bounds
 * the server, not a stalled network), a broken or timed-out connection is destroyed rather than
 * returned to the pool, and every failure leaves as a StorageError without the password.
 */
export class PgSession {
  readonly target: PgTarget
  readonly pool: pg.Pool
  #closed: Promise<void> | undefined

  constructor(target: PgTarget) {
    this.target = target
    this.pool = new pg.Pool(target.pool)
    // An idle connection that dies (server restart, proxy cut) is dropped by the pool; without
    // these listeners its 'error' event would crash the process.
    this.pool.on('error', noop)
    this.pool.on('connect', (client) => client.on('error', noop))
  }

  /** The default bound of a call: a connection, then the server's statement_timeout plus slack. */
  get defaultTimeoutMs(): number {
    return this.target.connectTimeoutMs + this.target.statementTimeoutMs + 1000
  }

  /** One statement on a pooled connection. */
  query<R extends QueryResultRow = QueryResultRow>(
    what: string,
    text: string,
    values: unknown[] = [],
    options: CallOptions & { name?: string } = {},
  ): Promise<R[]> {
    return this.withClient(what, options, (run) => run<R>(text, values, options.name))
  }

  /** `fn` inside BEGIN … COMMIT on one pooled connection (rolled back when it throws). */
  transaction<T>(what: string, options: CallOptions, fn: (run: Run) => Promise<T>): Promise<T> {
    return this.withClient(what, options, async (run) => {
      await run('BEGIN')
      try {
        const value = await fn(run)
        await run('COMMIT')
        return value
      } catch (err) {
        if (!isConnectionFailure(err)) await run('ROLLBACK').catch(noop)
        throw err
      }
    })
  }

  /** Run `fn` with one pooled connection held for the whole call. */
  async withClient<T>(what: string, options: CallOptions, fn: (run: Run) => Promise<T>): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs
    const deadline = Date.now() + timeoutMs
    const ctx = { target: this.target, what, write: options.write, timeoutMs }
    const client = await this.#acquire(deadline).catch((err) => {
      throw toStorageError(err, { ...ctx, phase: 'connect' })
    })
    let broken: Error | undefined
    const run: Run = <R extends QueryResultRow>(text: string, values?: unknown[], name?: string) => {
      if (broken) return Promise.reject(broken)
      return bounded<R>(client, text, values, name, deadline).catch((err) => {
        if (isConnectionFailure(err)) broken = err
        throw err
      })
    }
    try {
      return await fn(run)
    } catch (err) {
      throw toStorageError(err, { ...ctx, phase: 'query' })
    } finally {
      // A connection that failed or may still run a statement is destroyed, never reused.
      client.release(broken ?? false)
    }
  }

  /**
   * A connection outside the pool (migrations, the key-rotation lock): it holds a session lock
   * for a while and must not starve the pool. `overrides` adjust its settings (statement_timeout).
   */
  async dedicated(what: string, overrides: ClientConfig = {}): Promise<pg.Client> {
    const client = new pg.Client({ ...this.target.client, ...overrides })
    client.on('error', noop)
    try {
      await client.connect()
      return client
    } catch (err) {
      await client.end().catch(noop)
      throw toStorageError(err, { target: this.target, what, phase: 'connect' })
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.pool.end().catch(noop)
    return this.#closed
  }

  async #acquire(deadline: number): Promise<PoolClient> {
    if (this.#closed) throw new StorageError('UNAVAILABLE', `storage at ${this.target.location} is closed`)
    const pending = this.pool.connect()
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceeded('connect')), Math.max(0, deadline - Date.now()))
    })
    try {
      return await Promise.race([pending, expired])
    } catch (err) {
      // If the connection arrives after we gave up, hand it straight back.
      pending.then((c) => c.release(), noop)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
}

/** One statement that rejects with DeadlineExceeded at `deadline` (the caller then destroys the connection). */
export function bounded<R extends QueryResultRow>(
  client: ClientBase,
  text: string,
  values: unknown[] | undefined,
  name: string | undefined,
  deadline: number,
): Promise<R[]> {
  const ms = deadline - Date.now()
  if (ms <= 0) return Promise.reject(new DeadlineExceeded('query'))
  return new Promise<R[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineExceeded('query')), ms)
    client.query<R>({ text, ...(values ? { values } : {}), ...(name ? { name } : {}) }).then(
      (result) => {
        clearTimeout(timer)
        resolve(result.rows)
      },
      (err) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}
