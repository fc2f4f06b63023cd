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
  if (socket instanceof TLSSocket) {
    const cert = socket.getPeerCertificate()
    if (cert?.raw) {
      if (socket.authorized) creds.verifiedCertificate = cert.raw
      else
        creds.rejectedCertificate = {
          reason: String(socket.authorizationError ?? 'unverified'),
          thumbprint: certificateThumbprint(cert.raw),
        }
    }
  }
  return creds
}
