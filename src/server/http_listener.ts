import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { capConnectionsPerPeer, DEFAULT_CONNECTION_LIMITS } from './connection_limits.js'
import type { ListenerGuard, TlsMaterial } from './grpc_listener.js'

export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>

export interface HttpRoutes {
  /** Exact paths (GET/HEAD unless the handler says otherwise). */
  exact: Record<string, HttpRoute>
  /** Path prefixes, longest first (the injection proxy lives under `/proxy/`). */
  prefix: Array<[string, HttpRoute]>
}

export interface HttpListener {
  port: number
  updateTls(material: TlsMaterial): void
  close(): Promise<void>
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/**
 * The HTTP listener: HTTPS with the broker's certificate when `tls` is set (client certificates
 * requested but optional: the proxy uses them for cnf binding), plain HTTP only without `tls`.
 */
export async function listenHttp(
  host: string,
  port: number,
  material: TlsMaterial | undefined,
  routes: HttpRoutes,
  onError: (err: unknown) => void,
  guard: ListenerGuard = { limits: DEFAULT_CONNECTION_LIMITS },
): Promise<HttpListener> {
  const { limits } = guard
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const route = routes.exact[path] ?? routes.prefix.find(([p]) => path.startsWith(p))?.[1]
    if (!route)
      return sendJson(res, 404, { error: 'not_found', message: `no endpoint at ${path.slice(0, 200)}` })
    Promise.resolve(route(req, res)).catch((err) => {
      onError(err)
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error' })
      else res.destroy()
    })
  }
  const tlsOptions = (m: TlsMaterial): https.ServerOptions => ({
    cert: m.cert,
    key: m.key,
    ca: m.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  })
  const serverOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // how often headers/request deadlines are checked (Node's default, 30 s, would double them)
    connectionsCheckingInterval: Math.max(250, Math.min(5_000, limits.headersTimeoutMs / 4)),
  }
  const server = material
    ? https.createServer(
        { ...tlsOptions(material), ...serverOptions, handshakeTimeout: limits.handshakeTimeoutMs },
        handle,
      )
    : http.createServer(serverOptions, handle)
  // No byte either way for this long: closed, whether it is between requests or never sent one.
  server.timeout = limits.idleTimeoutMs
  capConnectionsPerPeer(server, limits.maxConnectionsPerPeer, (address) => guard.onRefused?.(address))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    updateTls: (m) => {
      if (server instanceof https.Server) server.setSecureContext(tlsOptions(m))
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 2_000).unref()
      }),
  }
}
