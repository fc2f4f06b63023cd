import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { serviceClientConstructor } from '../client/wire/service.js'

/** One Broker.WatchRevocations message, as the embedded codec decodes it (field names as in the .proto). */
export interface RevocationEvent__Output {
  token_id: string
  subject: string
  issuer: string
  kid: string
  not_after: number
  cursor: string
  descendants: string[]
}

/** The Broker service client from the embedded descriptor: no .proto or proto-loader at run time. */
const BrokerService = serviceClientConstructor('keybroker.v1.Broker')
type BrokerClient = grpc.Client & {
  WatchRevocations(request: { cursor: string }): grpc.ClientReadableStream<RevocationEvent__Output>
}

import { VerifierUnavailable } from './errors.js'
import type { RevocationSet } from './revocation_set.js'

/**
 * Where the verifier follows revocations: the broker's gRPC address and this service's mTLS identity,
 * which a broker grant must allow (`revocations: { watch: true }`).
 *
 * @example
 * ```ts
 * const feed: RevocationFeedOptions = {
 *   address: 'keybroker.internal:7443',
 *   tls: { caFile: '/etc/keybroker/ca.pem', certFile: '/run/spire/svid.pem', keyFile: '/run/spire/svid-key.pem' },
 * }
 * ```
 */
export interface RevocationFeedOptions {
  /** The broker's gRPC address, `host:port`. */
  address: string
  tls: {
    /** CA bundle (PEM) that signed the broker's certificate. */
    caFile: string
    /** This service's certificate (PEM); re-read at every reconnect, so rotation needs no restart. */
    certFile: string
    /** Its private key (PEM). */
    keyFile: string
    /** Name to verify in the broker's certificate when it differs from the host in `address`. */
    serverName?: string
  }
}

export interface FeedDeps {
  now: () => number
  maxStalenessMs: number
  /** A connection silent this long (no event, no heartbeat) is treated as dead and replaced. */
  idleTimeoutMs: number
  onError?: (error: Error) => void
}

type FeedState = 'connecting' | 'live' | 'down' | 'closed'

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 2_000

/**
 * A `Broker.WatchRevocations` stream kept open: events go into the RevocationSet, the cursor of the last
 * one is kept so a reconnect resumes where it left off, and `problem()` says when the verifier must
 * refuse for lack of knowledge — before the first replay has completed, or once the feed has been down
 * longer than `maxStalenessMs`. A marker (an event naming no token, subject or kid) ends a replay and
 * then arrives as a heartbeat.
 */
export class RevocationFeed {
  #state: FeedState = 'connecting'
  #replayed = false
  #cursor = ''
  /** When the feed was last known complete and current (ms). */
  #healthyAt = 0
  #lastMessageAt = 0
  #attempt = 0
  #lastError: string | undefined
  #client: BrokerClient | undefined
  #call: grpc.ClientReadableStream<RevocationEvent__Output> | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #idleTimer: NodeJS.Timeout | undefined
  readonly #ready: Promise<void>
  #resolveReady!: () => void

  constructor(
    private readonly options: RevocationFeedOptions,
    private readonly set: RevocationSet,
    private readonly deps: FeedDeps,
  ) {
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve
    })
    this.#connect()
  }

  /** Resolves once the first replay has completed. */
  ready(): Promise<void> {
    return this.#ready
  }

  /** Why tokens must be refused right now, or undefined. */
  problem(): VerifierUnavailable | undefined {
    const why = this.#lastError ? ` (last error: ${this.#lastError})` : ''
    if (!this.#replayed) {
      return new VerifierUnavailable(
        'ERR_REVOCATIONS_UNAVAILABLE',
        `the revocation feed from ${this.options.address} has not completed its first replay; every token is refused until it has${why}`,
      )
    }
    if (this.#state === 'live') return undefined
    const downMs = this.deps.now() - this.#healthyAt
    if (downMs <= this.deps.maxStalenessMs) return undefined
    return new VerifierUnavailable(
      'ERR_REVOCATIONS_UNAVAILABLE',
      `the revocation feed from ${this.options.address} has been down for ${Math.round(downMs / 1000)} s, longer than maxStalenessMs (${this.deps.maxStalenessMs} ms)${why}`,
    )
  }

  /** The first replay has completed (tokens can be checked at all). */
  get replayed(): boolean {
    return this.#replayed
  }

  get state(): FeedState {
    return this.#state
  }

  close(): void {
    this.#state = 'closed'
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#idleTimer)
    this.#call?.cancel()
    this.#client?.close()
  }

  #connect(): void {
    if (this.#state === 'closed') return
    this.#state = 'connecting'
    let client: BrokerClient
    try {
      const { tls } = this.options
      const credentials = grpc.credentials.createSsl(
        readFileSync(tls.caFile),
        readFileSync(tls.keyFile),
        readFileSync(tls.certFile),
      )
      client = new BrokerService(
        this.options.address,
        credentials,
        tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {},
      ) as unknown as BrokerClient
    } catch (err) {
      // an unreadable certificate file (mid-rotation, say): try again like any lost connection
      this.#lost(undefined, err as Error)
      return
    }
    this.#client = client
    const call = client.WatchRevocations({ cursor: this.#cursor })
    this.#call = call
    this.#armIdleTimer(call)
    call.on('data', (event: RevocationEvent__Output) => {
      if (this.#call !== call) return
      this.#armIdleTimer(call)
      this.#onEvent(event)
    })
    call.on('error', (err: Error) => this.#lost(call, err))
    call.on('end', () => this.#lost(call, new Error('the broker ended the revocation feed')))
  }

  #onEvent(event: RevocationEvent__Output): void {
    const now = this.deps.now()
    this.#lastMessageAt = now
    if (event.cursor) this.#cursor = event.cursor
    if (!event.token_id && !event.subject && !event.kid) {
      // marker: the replay is complete (first one), or a heartbeat
      this.#state = 'live'
      this.#healthyAt = now
      this.#attempt = 0
      this.#lastError = undefined
      if (!this.#replayed) {
        this.#replayed = true
        this.#resolveReady()
      }
      return
    }
    this.set.add({
      tokenId: event.token_id,
      subject: event.subject,
      issuer: event.issuer,
      kid: event.kid,
      notAfter: Number(event.not_after),
      descendants: event.descendants,
    })
    if (this.#state === 'live') this.#healthyAt = now
  }

  /** The stream (or the attempt to open it) failed: remember why and try again with backoff. */
  #lost(call: grpc.ClientReadableStream<RevocationEvent__Output> | undefined, err: Error): void {
    if (call !== this.#call || this.#state === 'closed') return
    const silent = err instanceof IdleTimeout
    // A connection that was live until now was current until now; a silent one only until its last message.
    if (this.#state === 'live') this.#healthyAt = silent ? this.#lastMessageAt : this.deps.now()
    this.#state = 'down'
    this.#call = undefined
    clearTimeout(this.#idleTimer)
    this.#client?.close()
    this.#client = undefined
    this.#lastError = (err as grpc.ServiceError).details || err.message
    this.deps.onError?.(
      new Error(`revocation feed from ${this.options.address} lost: ${this.#lastError}`, { cause: err }),
    )
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#attempt++) * (0.5 + Math.random() / 2)
    this.#retryTimer = setTimeout(() => this.#connect(), delay)
    this.#retryTimer.unref()
  }

  #armIdleTimer(call: grpc.ClientReadableStream<RevocationEvent__Output>): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      this.#lost(call, new IdleTimeout(`no event or heartbeat for ${this.deps.idleTimeoutMs} ms`))
      call.cancel()
    }, this.deps.idleTimeoutMs)
    this.#idleTimer.unref()
  }
}

class IdleTimeout extends Error {}
