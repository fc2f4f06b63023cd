import type { IncomingMessage } from 'node:http'
import { TLSSocket } from 'node:tls'
import type { CallerCredentials } from './authenticate.js'
import { certificateThumbprint } from './mtls.js'

/**
 * What an HTTP(S) request tells about its caller: address, `authorization` header, and the client
 * certificate — verified by the listener's TLS layer against `tls.client_ca_files`, or rejected with
 * its reason (the listener requests certificates without requiring them). Nothing here is believed
 * until step 1 of an exchange.
 */
export function httpCallerCredentials(
  req: IncomingMessage,
  transport?: CallerCredentials['transport'],
): CallerCredentials {
  const socket = req.socket
  const creds: CallerCredentials = {
    peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`,
    authorization: req.headers.authorization,
    secureTransport: socket instanceof TLSSocket,
  }
  if (transport) creds.transport = transport
  // W3C trace context (tracing on or off: a header read; a repeated header is joined, and so ignored)
  const { traceparent, tracestate } = req.headers
  if (typeof traceparent === 'string') creds.traceparent = traceparent
  if (typeof tracestate === 'string') creds.tracestate = tracestate
  if (socket instanceof TLSSocket) {
    let peer = byConnection.get(socket)
    if (!peer) {
      peer = peerCertificate(socket)
      byConnection.set(socket, peer)
    }
    if (peer.verifiedCertificate) creds.verifiedCertificate = peer.verifiedCertificate
    if (peer.rejectedCertificate) creds.rejectedCertificate = peer.rejectedCertificate
  }
  return creds
}

type PeerCertificate = Pick<CallerCredentials, 'verifiedCertificate' | 'rejectedCertificate'>

/**
 * A keep-alive connection carries many requests from one handshake: read its certificate once.
 * `getPeerCertificate()` builds a whole object per call, and handing the same DER buffer back lets
 * the CertificateIdentityCache skip even the thumbprint. Entries go with the connection.
 */
const byConnection = new WeakMap<TLSSocket, PeerCertificate>()

function peerCertificate(socket: TLSSocket): PeerCertificate {
  const cert = socket.getPeerCertificate()
  if (!cert?.raw) return {}
  if (socket.authorized) return { verifiedCertificate: cert.raw }
  return {
    rejectedCertificate: {
      reason: String(socket.authorizationError ?? 'unverified'),
      thumbprint: certificateThumbprint(cert.raw),
    },
  }
}
