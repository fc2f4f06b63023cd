import * as grpc from '@grpc/grpc-js'
import type { Logger } from 'pino'
import type { ChainAppender, ExchangeRecord } from '../audit/index.js'
import { splitHostPort } from './config_wiring.js'
import { type GrpcListener, type ListenerGuard, listenGrpcTls, type TlsMaterial } from './grpc_listener.js'

/**
 * Put the gRPC server on its address: over the broker's own TLS listener (client certificates
 * requested, optional; a failed handshake is an audited exchange attempt), or in plaintext when
 * `tls` is absent (local development only).
 */
export async function bindGrpc(
  server: grpc.Server,
  address: string,
  tlsMaterial: TlsMaterial | undefined,
  options: {
    audit: ChainAppender
    logger: Logger
    guard: ListenerGuard
    /** True when the failure was counted into a summary row instead of a row of its own. */
    fold?: (record: ExchangeRecord) => boolean
  },
): Promise<{ port: number; listener?: GrpcListener }> {
  const { audit, logger } = options
  if (!tlsMaterial) {
    logger.warn(
      'tls is not configured: gRPC listens in plaintext (local development only; bearer tokens refused)',
    )
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    )
    return { port }
  }
  const { host, port } = splitHostPort(address)
  const listener = await listenGrpcTls(
    server,
    host,
    port,
    tlsMaterial,
    (failure) => {
      // A handshake that never became a call: still an exchange attempt worth an audit row.
      const record: ExchangeRecord = {
        kind: 'auth_failure',
        decision: 'deny',
        peer: failure.peer,
        reason: `TLS handshake failed: ${failure.reason}`,
      }
      if (options.fold?.(record)) return
      audit.append(record).catch((err) => logger.error({ err }, 'could not audit a TLS handshake failure'))
    },
    options.guard,
  )
  return { port: listener.port, listener }
}
