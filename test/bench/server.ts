/*
 * The server side of a bench row, in its own process so its CPU can be measured apart from the
 * load generator's. BENCH_SERVER selects what runs:
 *   broker — the real broker (startBroker) on the config file BENCH_CONFIG;
 *   floor  — a no-op Broker.IssueToken behind the broker's own TLS listener code (the transport floor);
 *   peer   — oidc-provider (client_credentials, resource indicators, ES256 JWT access tokens) over HTTPS;
 *            with BENCH_PEER_MTLS_SAN_URI also a tls_client_auth client with certificate-bound tokens.
 * The parent asks for { type: 'usage' } over IPC and gets CPU and memory figures back.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/index.js'
import { loadBrokerProto } from '../../src/proto/load.js'
import { startBroker } from '../../src/server/app.js'
import { listenGrpcTls } from '../../src/server/grpc_listener.js'
import type { UsageReport } from './stats.js'

const send = (message: object) => process.send!(message)
const env = (name: string) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

async function startBrokerMode(): Promise<{ port: number; httpPort: number; close: () => Promise<void> }> {
  // The production logger (one info line per exchange), written where a service manager would read it.
  const logger = pino({ level: process.env.KEYBROKER_LOG_LEVEL ?? 'info' })
  const broker = await startBroker(loadConfig(env('BENCH_CONFIG')), { logger, shutdownGraceMs: 1000 })
  return { port: broker.grpcPort, httpPort: broker.httpPort, close: () => broker.close() }
}

async function startFloorMode(): Promise<{ port: number; close: () => Promise<void> }> {
  const proto = loadBrokerProto()
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 })
  // A canned reply of the same shape and size as a real one: the floor pays for the bytes too.
  const reply = JSON.parse(env('BENCH_CANNED_REPLY'))
  const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (_call, cb) =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: 'floor' })
  server.addService(proto.keybroker.v1.Broker.service, {
    IssueToken: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, reply),
    DelegateToken: unimplemented,
    FetchSecret: unimplemented,
    WhoAmI: unimplemented,
    GetJwks: unimplemented,
  })
  const listener = await listenGrpcTls(
    server,
    '127.0.0.1',
    0,
    {
      cert: readFileSync(env('BENCH_TLS_CERT')),
      key: readFileSync(env('BENCH_TLS_KEY')),
      clientCa: readFileSync(env('BENCH_TLS_CA')),
    },
    () => {},
  )
  return {
    port: listener.port,
    close: async () => {
      listener.stopAccepting()
      server.forceShutdown()
      listener.destroy()
    },
  }
}

async function startPeerMode(): Promise<{ port: number; close: () => Promise<void> }> {
  const { default: Provider } = await import('oidc-provider')
  const jwk = JSON.parse(env('BENCH_PEER_JWK'))
  // BENCH_PEER_MTLS_SAN_URI set: a second client authenticates with tls_client_auth (RFC 8705), as the
  // broker's POST /oauth2/token row does, and its tokens are certificate-bound.
  const mtlsSanUri = process.env.BENCH_PEER_MTLS_SAN_URI
  const https = createServer({
    cert: readFileSync(env('BENCH_TLS_CERT')),
    key: readFileSync(env('BENCH_TLS_KEY')),
    ...(mtlsSanUri
      ? { ca: readFileSync(env('BENCH_TLS_CA')), requestCert: true, rejectUnauthorized: false }
      : {}),
  })
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve))
  const port = (https.address() as AddressInfo).port
  const provider = new Provider(`https://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: 'bench',
        client_secret: 'bench-secret-bench-secret-bench-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
      ...(mtlsSanUri
        ? [
            {
              client_id: 'bench-mtls',
              grant_types: ['client_credentials'],
              redirect_uris: [],
              response_types: [],
              token_endpoint_auth_method: 'tls_client_auth',
              tls_client_auth_san_uri: mtlsSanUri,
              tls_client_certificate_bound_access_tokens: true,
              id_token_signed_response_alg: 'ES256',
            },
          ]
        : []),
    ],
    jwks: { keys: [jwk] },
    clientAuthMethods: mtlsSanUri ? ['client_secret_basic', 'tls_client_auth'] : ['client_secret_basic'],
    features: {
      devInteractions: { enabled: false },
      mTLS: {
        enabled: Boolean(mtlsSanUri),
        tlsClientAuth: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx: PeerContext) => ctx.socket.getPeerX509Certificate?.(),
        certificateAuthorized: (ctx: PeerContext) => ctx.socket.authorized,
        certificateSubjectMatches: (ctx: PeerContext, property: string, expected: string) =>
          property === 'tls_client_auth_san_uri' &&
          (ctx.socket.getPeerX509Certificate?.()?.subjectAltName ?? '')
            .split(', ')
            .includes(`URI:${expected}`),
      },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://payments-api',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'payments:read payments:write',
          audience: 'payments-api',
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  })
  https.on('request', provider.callback())
  return {
    port,
    close: async () => {
      https.closeAllConnections()
      await new Promise<void>((resolve) => https.close(() => resolve()))
    },
  }
}

/** The part of oidc-provider's (koa) context the mTLS hooks read. */
interface PeerContext {
  socket: TLSSocket
}

const mode = env('BENCH_SERVER')
const started =
  mode === 'broker'
    ? await startBrokerMode()
    : mode === 'floor'
      ? await startFloorMode()
      : await startPeerMode()

process.on('message', (message: { type: string; gc?: boolean }) => {
  if (message.type === 'usage') {
    if (message.gc) (globalThis as { gc?: () => void }).gc?.()
    const memory = process.memoryUsage()
    const report: UsageReport = {
      type: 'usage',
      cpu: process.cpuUsage(),
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    }
    send(report)
  } else if (message.type === 'stop') {
    started.close().finally(() => process.exit(0))
  }
})
send({ type: 'listening', ...started, close: undefined })
