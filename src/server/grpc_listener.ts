import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import * as tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { certificateThumbprint } from '../identity/mtls.js'
import {
  type ConnectionLimits,
  capConnectionsPerPeer,
  DEFAULT_CONNECTION_LIMITS,
} from './connection_limits.js'

export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  /** All client CA bundles, concatenated. */
  clientCa: Buffer
}

export interface TlsFailure {
  peer: string
  reason: string
  thumbprint?: string
}

/**
 * What the TLS layer decided about a connection's client certificate, looked up by the
 * `ip:port` string grpc-js reports as the call's peer.
 */
export interface PeerCertificateStatus {
  rejected?: { reason: string; thumbprint: string }
  /**
   * DER of the client certificate TLS verified, read once per connection: grpc-js's getAuthContext()
   * re-parses it (getPeerCertificate) on every call, which costs more than signing the token.
   */
  verified?: Buffer
}

export interface GrpcListener {
  port: number
  peerStatus(peer: string): PeerCertificateStatus | undefined
  /** Replace certificate and CA material for new connections (rotation without restart). */
  updateTls(material: TlsMaterial): void
  /** Refuse new connections; established ones keep serving their in-flight calls. */
  stopAccepting(): void
  /** Drop every remaining connection. */
  destroy(): void
}

/** Connection limits for a listener, and who hears about a connection refused at accept. */
export interface ListenerGuard {
  limits: ConnectionLimits
  /** A connection was closed at accept: its peer address already held `maxConnectionsPerPeer`. */
  onRefused?: (address: string) => void
}

/**
 * Terminate TLS ourselves and hand the decrypted stream to grpc-js (its connection injector),
 * instead of `ServerCredentials.createSsl`. Why: a broker that accepts both mTLS callers and
 * bearer-token callers must *request* a client certificate without *requiring* one, and must
 * still refuse a presented certificate that fails verification. Owning the tls.Server gives us
 * `authorized`/`authorizationError` per connection, the `tlsClientError` event for auditing
 * handshake failures, and `setSecureContext` for certificate reload.
 * grpc-js's getAuthContext() returns the peer certificate only when `socket.authorized` is true,
 * so handlers can trust `sslPeerCertificate` exactly as with createSsl(…, true).
 */
export async function listenGrpcTls(
  server: grpc.Server,
  host: string,
  port: number,
  material: TlsMaterial,
  onTlsFailure: (failure: TlsFailure) => void,
  guard: ListenerGuard = { limits: DEFAULT_CONNECTION_LIMITS },
): Promise<GrpcListener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure())
  const statuses = new Map<string, PeerCertificateStatus>()
  const options = (m: TlsMaterial): tls.SecureContextOptions & tls.TlsOptions => ({
    cert: m.cert,
    key: m.key,
    ca: m.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.2',
  })
  // handshakeTimeout counts from accept and is not reset by handshake bytes, so a peer that
  // trickles a ClientHello is cut off too.
  const tlsServer = tls.createServer({
    ...options(material),
    handshakeTimeout: guard.limits.handshakeTimeoutMs,
  })
  capConnectionsPerPeer(tlsServer, guard.limits.maxConnectionsPerPeer, (address) =>
    guard.onRefused?.(address),
  )
  const sockets = new Set<tls.TLSSocket>()

  tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
    sockets.add(socket)
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    const status: PeerCertificateStatus = {}
    const cert = socket.getPeerCertificate()
    if (socket.authorized) {
      if (cert?.raw) status.verified = cert.raw
    } else if (cert?.raw) {
      // A certificate was offered and failed verification: remember why, so the call is refused
      // with UNAUTHENTICATED and a reason instead of being treated as a certificate-less caller.
      const reason = String(socket.authorizationError ?? 'UNKNOWN')
      status.rejected = { reason, thumbprint: certificateThumbprint(cert.raw) }
    }
    statuses.set(peer, status)
    socket.once('close', () => {
      sockets.delete(socket)
      // A new connection may already reuse this address: only forget our own entry.
      if (statuses.get(peer) === status) statuses.delete(peer)
    })
    injector.injectConnection(socket)
  })
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    onTlsFailure({ peer, reason: err.code ?? err.message })
    // With a tlsClientError listener, Node leaves the failed socket open: close it here.
    socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    tlsServer.once('error', reject)
    tlsServer.listen(port, host, () => {
      tlsServer.off('error', reject)
      resolve()
    })
  })

  return {
    port: (tlsServer.address() as AddressInfo).port,
    peerStatus: (peer) => statuses.get(peer),
    updateTls: (m) => tlsServer.setSecureContext(options(m)),
    stopAccepting: () => {
      tlsServer.close()
    },
    destroy: () => {
      injector.destroy()
      for (const socket of sockets) socket.destroy()
    },
  }
}

/** Leaf certificates in a PEM bundle, for startup checks (a CA file with no certificate is a config error). */
export function countCertificates(pem: string): number {
  let count = 0
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    new X509Certificate(block)
    count++
  }
  return count
}
