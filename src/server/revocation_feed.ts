import * as grpc from '@grpc/grpc-js'
import { BrokerError } from '../errors.js'
import { type Exchange, mayStillWatchRevocations, openRevocationWatch } from '../exchange/index.js'
import type { RevocationEvent as WireRevocationEvent } from '../generated/keybroker/v1/RevocationEvent.js'
import type { WatchRevocationsRequest__Output } from '../generated/keybroker/v1/WatchRevocationsRequest.js'
import type { Identity } from '../identity/identity.js'
import type { RevocationEvent, RevocationList } from '../issuer/revocations.js'
import { callerCredentials, toServiceError } from './broker_service.js'
import type { GrpcListener } from './grpc_listener.js'

/** One revocation as the feed carries it (DESIGN.md "Revocations"). */
export interface RevocationFeedEvent {
  tokenId?: string
  /** Every token of this subject (as vouched for by `issuer`) with `exp` ≤ `notAfter`. */
  subject?: string
  issuer?: string
  /** A retired signing key. */
  kid?: string
  /** unix seconds: the longest `exp` the event covers. */
  notAfter: number
  /** Opaque resume position after this event. */
  cursor: string
  descendants?: string[]
}

/**
 * The port the feed is a transport over. The storage rewrite provides it as
 * `RevocationList.subscribe(cursor, onEvent)`; {@link storeFeedSource} adapts today's store.
 * `subscribe` replays the live revocations after `cursor` (all of them when it is undefined or unknown),
 * resolves `ready` once the replay has been handed to `onEvent`, then calls `onEvent` for each new one.
 */
export interface RevocationFeedSource {
  subscribe(
    cursor: string | undefined,
    onEvent: (e: RevocationFeedEvent) => void,
  ): { ready: Promise<void>; close(): void }
}

/**
 * The revocation list as a feed source. Cursors are `r1.<seq>`: the storage's feed position, the
 * same on every replica and across restarts, so a verifier resumes exactly where it was.
 * An unknown cursor replays everything live.
 */
export function storeFeedSource(list: RevocationList): RevocationFeedSource {
  // A token revocation names only its token: the subject a row may record is context, and a feed
  // event with a subject means "every token of that subject" to a verifier.
  const toEvent = (e: RevocationEvent): RevocationFeedEvent => ({
    ...(e.kid ? { kid: e.kid } : { tokenId: e.tokenId }),
    notAfter: e.notAfter,
    cursor: `r1.${e.seq}`,
  })
  return {
    subscribe(cursor, onEvent) {
      const match = /^r1\.(\d+)$/.exec(cursor ?? '')
      return list.subscribe(match ? Number(match[1]) : 0, (event) => onEvent(toEvent(event)))
    },
  }
}

export interface RevocationFeedDeps {
  exchange: Exchange
  source: RevocationFeedSource
  listener: () => GrpcListener | undefined
  onUnexpected: (err: unknown) => void
  /** A marker is sent this often while nothing happens, so watchers can tell a quiet feed from a dead one. */
  heartbeatMs?: number
}

export interface RevocationFeedService {
  handler: grpc.handleServerStreamingCall<WatchRevocationsRequest__Output, WireRevocationEvent>
  /** End every stream (UNAVAILABLE): shutdown must not wait on them. Watchers reconnect with their cursor. */
  closeAll(): void
  /** End the streams of callers whose grant no longer allows watching (after a config reload). */
  closeUnauthorized(): void
}

const HEARTBEAT_MS = 10_000
/** A watcher this many events behind has stopped reading; it is dropped and reconnects with its cursor. */
const MAX_PENDING_EVENTS = 100_000

/** Broker.WatchRevocations: authorize (audited), replay, marker, then live events and heartbeats. */
export function revocationFeedService(deps: RevocationFeedDeps): RevocationFeedService {
  const open = new Map<
    grpc.ServerWritableStream<WatchRevocationsRequest__Output, WireRevocationEvent>,
    Stream
  >()

  interface Stream {
    identity: Identity
    end(error: BrokerError): void
  }

  const handler: RevocationFeedService['handler'] = (call) => {
    const requested = call.request.cursor ?? ''
    openRevocationWatch(deps.exchange.steps, callerCredentials(call, deps.listener()), requested).then(
      ({ identity, exchangeId }) => {
        if (call.cancelled) return
        const metadata = new grpc.Metadata()
        metadata.set('keybroker-exchange-id', exchangeId)
        call.sendMetadata(metadata)
        let ended = false
        let cursor = requested
        let heartbeat: NodeJS.Timeout | undefined
        const send = (event: WireRevocationEvent) => {
          if (ended) return
          if (call.writableLength > MAX_PENDING_EVENTS) {
            return end(
              new BrokerError(
                'ERR_WATCHER_TOO_SLOW',
                `watcher stopped reading ${MAX_PENDING_EVENTS} events ago; reconnect with cursor ${cursor}`,
              ),
            )
          }
          call.write(event)
        }
        const marker = () => send({ cursor })
        const subscription = deps.source.subscribe(requested || undefined, (event) => {
          cursor = event.cursor
          send(toWire(event))
        })
        const cleanup = () => {
          ended = true
          clearInterval(heartbeat)
          subscription.close()
          open.delete(call)
        }
        const end = (error: BrokerError) => {
          if (ended) return
          cleanup()
          call.emit('error', toServiceError(error))
        }
        open.set(call, { identity, end })
        call.on('cancelled', cleanup)
        call.on('close', cleanup)
        call.on('error', cleanup)
        subscription.ready.then(
          () => {
            marker()
            if (ended) return
            heartbeat = setInterval(marker, deps.heartbeatMs ?? HEARTBEAT_MS)
            heartbeat.unref()
          },
          (err) => end(new BrokerError('ERR_INTERNAL', 'revocation list unavailable', { cause: err })),
        )
      },
      (err) => call.emit('error', toServiceError(err, deps.onUnexpected)),
    )
  }

  return {
    handler,
    closeAll() {
      for (const stream of open.values())
        stream.end(
          new BrokerError('ERR_SHUTTING_DOWN', 'broker is shutting down; reconnect with your cursor'),
        )
    },
    closeUnauthorized() {
      for (const stream of open.values()) {
        if (mayStillWatchRevocations(deps.exchange.steps, stream.identity)) continue
        stream.end(
          new BrokerError(
            'ERR_NO_GRANT',
            `${stream.identity.subject} no longer matches a grant with "revocations: { watch: true }"; feed closed`,
          ),
        )
      }
    },
  }
}

function toWire(event: RevocationFeedEvent): WireRevocationEvent {
  return {
    token_id: event.tokenId ?? '',
    subject: event.subject ?? '',
    issuer: event.issuer ?? '',
    kid: event.kid ?? '',
    not_after: event.notAfter,
    cursor: event.cursor,
    descendants: event.descendants ?? [],
  }
}
