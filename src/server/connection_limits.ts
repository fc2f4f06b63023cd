import type { Server, Socket } from 'node:net'
import type { ChannelOptions } from '@grpc/grpc-js'
import type { BrokerConfig } from '../config/index.js'
import type { BrokerMetrics } from './metrics.js'

/** `limits:` in milliseconds, as the listeners use them. */
export interface ConnectionLimits {
  handshakeTimeoutMs: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  idleTimeoutMs: number
  grpcKeepaliveTimeMs: number
  grpcKeepaliveTimeoutMs: number
  /** 0 = no limit. */
  maxConnectionsPerPeer: number
}

/** The defaults of `limits:` (src/config/schema.ts), for listeners started without a config. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  grpcKeepaliveTimeMs: 120_000,
  grpcKeepaliveTimeoutMs: 20_000,
  maxConnectionsPerPeer: 256,
}

export function connectionLimitsFromConfig(limits: BrokerConfig['limits']): ConnectionLimits {
  return {
    handshakeTimeoutMs: limits.handshake_timeout * 1000,
    headersTimeoutMs: limits.headers_timeout * 1000,
    requestTimeoutMs: limits.request_timeout * 1000,
    keepAliveTimeoutMs: limits.keep_alive_timeout * 1000,
    idleTimeoutMs: limits.idle_timeout * 1000,
    grpcKeepaliveTimeMs: limits.grpc_keepalive_time * 1000,
    grpcKeepaliveTimeoutMs: limits.grpc_keepalive_timeout * 1000,
    maxConnectionsPerPeer: limits.max_connections_per_peer,
  }
}

/**
 * grpc-js server options for the gRPC limits. They also apply to connections handed over through
 * the connection injector (listenGrpcTls), which builds its HTTP/2 server from the same options.
 */
export function grpcServerLimits(limits: ConnectionLimits): ChannelOptions {
  return {
    // Closed with GOAWAY once no call has been active for this long (a stream in flight, such as
    // WatchExchanges, keeps its connection).
    'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
    // The broker pings; a peer that stops answering (gone without a FIN) is dropped.
    'grpc.keepalive_time_ms': limits.grpcKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.grpcKeepaliveTimeoutMs,
  }
}

/**
 * Cap the connections one peer address holds open on `server` at once: one more is closed as
 * soon as it is accepted, before any TLS work is spent on it. Counted per listener, by the
 * address alone (every port of one host counts together).
 */
export function capConnectionsPerPeer(
  server: Server,
  max: number,
  onRefused: (address: string) => void,
): void {
  if (max <= 0) return
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown'
    const count = open.get(address) ?? 0
    if (count >= max) {
      socket.destroy()
      onRefused(address)
      return
    }
    open.set(address, count + 1)
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1
      if (left <= 0) open.delete(address)
      else open.set(address, left)
    })
  })
}

/**
 * Count every refused connection (metric) and say so in the log at most once a minute per
 * listener: a flood must not turn into a flood of log lines.
 */
export function refusalReporter(
  listener: string,
  max: number,
  metrics: BrokerMetrics,
  logger: { warn(obj: object, msg: string): void },
  now: () => number = Date.now,
): (address: string) => void {
  let lastWarn = Number.NEGATIVE_INFINITY
  let since = 0
  return (address) => {
    metrics.connectionsRefused.inc({ listener, reason: 'per_peer_limit' })
    since++
    if (now() - lastWarn < 60_000) return
    logger.warn(
      { listener, peer_address: address, refused: since, max_connections_per_peer: max },
      'refused connections from a peer address over limits.max_connections_per_peer',
    )
    lastWarn = now()
    since = 0
  }
}
